"""`python -m payloom_sim` is `payloom-sim`."""

import sys

from payloom_sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
