"""The documented-commands tests import their block reader from this folder."""

import sys
from pathlib import Path

# Appended, not prepended: `from conftest import ...` elsewhere must still find tests/conftest.py.
sys.path.append(str(Path(__file__).resolve().parent))
