"""``python -m missions_mcp``: the same as the ``missions-mcp`` command."""

import sys

from .cli import main

sys.exit(main())
