"""Write a benchmark's flat results: `bench/results/<benchmark>.json`, rounded, keys sorted.

>>> import tempfile, pathlib, json
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results" / "demo.json"
>>> _ = write_results({"ratio_b_vs_a": 2.000001, "a_rows_per_s": 10}, path, echo=False)
>>> sorted(json.loads(path.read_text()))
['a_rows_per_s', 'host_load_average_1m_at_end', 'ratio_b_vs_a']
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_results(results: dict[str, float], path: Path, *, echo: bool = True) -> dict[str, float]:
    """Add the host's 1-minute load average (the machine is shared), round, write and print."""
    results = {**results, "host_load_average_1m_at_end": os.getloadavg()[0]}
    rounded = {name: round(float(value), 4) for name, value in sorted(results.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rounded, indent=2) + "\n")
    if echo:
        print(json.dumps(rounded, indent=2))
    return rounded
