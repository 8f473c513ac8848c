"""Benchmark: simulate + `dbt build` at several sizes on this machine.

Prints, per size, wall time and peak memory of the simulation and of the build, rows/s, and
ratios against a baseline measured in the same run: DuckDB copying the raw attempts into a
table (the floor any SQL pipeline pays to read and write the data once). Writes the figures to
bench/results/build.json (flat name -> number).

    .venv/bin/python bench/bench_build.py                 # 1 M and 10 M attempts
    .venv/bin/python bench/bench_build.py --sizes 1000000 10000000 50000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "build.json"


def timed(command: list[str], *, env: dict | None = None) -> tuple[float, float]:
    """Run `command`; return (wall seconds, peak resident memory in MB of the largest process)."""
    began = time.perf_counter()
    completed = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - began
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        raise SystemExit(f"benchmark step failed: {' '.join(command)}")
    peak_kb = int(completed.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1_000}k"


def bench_size(size: int, work: Path, seed: int) -> dict[str, float]:
    workspace = work / label(size)
    shutil.rmtree(workspace, ignore_errors=True)
    raw = workspace / "raw"
    simulate_s, simulate_mb = timed([str(BIN / "payloom-sim"), "--out", str(raw), "--attempts", str(size),
                                     "--seed", str(seed), "--quiet", "--no-truth"])
    copy_script = (
        "import duckdb, sys; connection = duckdb.connect(sys.argv[1]); "
        "connection.execute(f\"create table copy as select * from read_parquet('{sys.argv[2]}/payment_attempts/*.parquet')\")"
    )
    copy_s, _ = timed([str(BIN / "python"), "-c", copy_script, str(workspace / "copy.duckdb"), str(raw)])
    build_s, build_mb = timed([str(BIN / "payloom"), "build", "--raw-dir", str(raw), "--workspace", str(workspace),
                               "--feature-cutoff-at", "2025-05-01", "--quiet"])
    name = label(size)
    figures = {
        f"simulate_{name}_seconds": simulate_s,
        f"simulate_{name}_peak_mb": simulate_mb,
        f"simulate_{name}_rows_per_second": size / simulate_s,
        f"dbt_build_{name}_seconds": build_s,
        f"dbt_build_{name}_peak_mb": build_mb,
        f"dbt_build_{name}_rows_per_second": size / build_s,
        f"total_{name}_seconds": simulate_s + build_s,
        f"raw_copy_{name}_seconds": copy_s,
        f"ratio_dbt_build_{name}_vs_raw_copy": build_s / copy_s,
    }
    for key, value in figures.items():
        print(f"  {key:<40} {value:>14,.2f}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    arguments = parser.parse_args()
    figures: dict[str, float] = {}
    for size in arguments.sizes:
        print(f"{size:,} attempts", flush=True)
        figures.update(bench_size(size, arguments.work, arguments.seed))
    sizes = sorted(arguments.sizes)
    for small, large in zip(sizes, sizes[1:]):
        ratio = figures[f"total_{label(large)}_seconds"] / figures[f"total_{label(small)}_seconds"]
        figures[f"ratio_total_{label(large)}_vs_{label(small)}"] = ratio
        print(f"  ratio_total_{label(large)}_vs_{label(small)}: {ratio:.2f} (size ratio {large / small:.0f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**existing, **{k: round(v, 4) for k, v in figures.items()}}, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
