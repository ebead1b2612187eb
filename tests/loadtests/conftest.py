"""The load scripts import each other by their bare names (`from scenario
import ...`), as `python loadtests/x.py` puts loadtests/ first on the path:
the tests of their pure parts do the same."""

from __future__ import annotations

import sys
from pathlib import Path

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
if str(LOADTESTS) not in sys.path:
    sys.path.insert(0, str(LOADTESTS))
