"""``python -m eostheory``: the command-line interface."""

import sys

from eostheory.cli import main

if __name__ == "__main__":
    sys.exit(main())
