"""Lets the real-data tests import their shared slicing helpers (realdata_slices) by module name."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
