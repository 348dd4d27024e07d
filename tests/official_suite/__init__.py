"""The official MCP conformance suite (npm), run for the plain SDK and every mode of ours; see __main__."""
