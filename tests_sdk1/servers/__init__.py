"""Servers for the SDK 1.x tests: the 1.x line's own server, run as a real process."""
