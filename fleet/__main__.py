"""``python -m fleet`` runs the ``fleet`` command."""

import sys

from fleet.cli import main

sys.exit(main())
