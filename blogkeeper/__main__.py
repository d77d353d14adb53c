"""`python -m blogkeeper` runs the command line."""

import sys

from blogkeeper.cli import main

# Guarded: a forkserver or spawn worker imports the main module again, and must not
# run the command a second time.
if __name__ == "__main__":
    sys.exit(main())
