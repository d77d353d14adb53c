"""`python -m blogkeeper` runs the command line."""

import sys

from blogkeeper.cli import main

# Guarded: worker processes started with forkserver or spawn import this module again.
if __name__ == "__main__":
    sys.exit(main())
