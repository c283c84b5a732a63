"""``python -m app``: the service's command line."""

import sys

from app.cli import main

sys.exit(main())
