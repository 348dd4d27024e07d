"""The ``stdio`` bridge's ``--oauth-id-jag-command`` for the suite's cross-app-access scenario.

Prints the ID-JAG the scenario's identity provider issues (RFC 8693 token exchange) for
``MCP_OAUTH_AUDIENCE`` and ``MCP_OAUTH_RESOURCE``, from the scenario's ``MCP_CONFORMANCE_CONTEXT``:
the same exchange the HTTP modes' provider makes (:func:`.client.id_jag_from_idp`).
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from .client import id_jag_from_idp


def main() -> int:
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    fetch = id_jag_from_idp(context)
    assertion = anyio.run(fetch, os.environ["MCP_OAUTH_AUDIENCE"], os.environ["MCP_OAUTH_RESOURCE"])
    print(assertion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
