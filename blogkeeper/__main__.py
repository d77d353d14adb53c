"""`python -m blogkeeper` runs the command line."""

import sys

from blogkeeper.cli import main

sys.exit(main())
