"""``python -m mcp_session_recovery.cli``."""

import sys

from . import main

sys.exit(main())
