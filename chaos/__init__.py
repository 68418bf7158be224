"""`make chaos` (`python -m chaos`): the connector under faults, judged by what the local
mParticle endpoint accepted against `airmp map` over the same input.

Importing the package puts `scripts/` (localkafka, services, journeys) and the repository
root on sys.path, as bench/ does, so every module here can import them.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "scripts", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
