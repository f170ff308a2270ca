"""``python -m flashd``: the command line (:mod:`flashd.scripts.cli`)."""

import sys

from flashd.scripts.cli import main

sys.exit(main())
