"""``python -m regnekraft.cli ...``: the same as the ``regnekraft`` command."""

import sys

from regnekraft.cli import main

sys.exit(main())
