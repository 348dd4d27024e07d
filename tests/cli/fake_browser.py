"""A browser for ``$BROWSER`` in tests: follows the authorization URL's redirects to the bridge's callback.

    BROWSER="python -m tests.cli.fake_browser %s"

Each run appends one line to the file named by ``FAKE_BROWSER_LOG`` (so a test counts how often
the user was asked to authorize) and exits 0 when the callback answered 200. Only 127.0.0.1 is
reached (no proxy from the environment, no name lookups: the test servers are addressed by IP).
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[1]
    log = os.environ.get("FAKE_BROWSER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write("authorize\n")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # redirects are followed
    with opener.open(url, timeout=20) as response:
        return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
