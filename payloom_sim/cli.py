"""`payloom-sim`: write a simulated payments world as raw Parquet tables.

    payloom-sim --out build/raw --attempts 1000000 --seed 42 [--days 120] [--dirty-fraction 0.001]
"""

from __future__ import annotations

import argparse
import sys

from payloom_sim.errors import SimulatorError
from payloom_sim.simulation import MAX_ATTEMPTS, MIN_ATTEMPTS, simulate

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payloom-sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write the raw tables into")
    parser.add_argument("--attempts", type=int, default=100_000, help=f"payment attempts, {MIN_ATTEMPTS:,} to {MAX_ATTEMPTS:,}")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default="2025-01-01", help="first simulated day (UTC)")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--dirty-fraction", type=float, default=0.001, help="share of contract-violating attempt rows")
    parser.add_argument("--no-truth", action="store_true", help="skip the ground-truth tables under _truth/")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    parser.add_argument("--quiet", action="store_true")
    arguments = parser.parse_args(argv)
    try:
        summary = simulate(
            arguments.out, attempts=arguments.attempts, seed=arguments.seed, start=arguments.start,
            days=arguments.days, dirty_fraction=arguments.dirty_fraction, write_truth=not arguments.no_truth,
            overwrite=arguments.overwrite, progress=None if arguments.quiet else sys.stderr,
        )
    except SimulatorError as error:
        print(f"payloom-sim: error: {error}", file=sys.stderr)
        return 2
    if not arguments.quiet:
        print(", ".join(f"{name}: {rows:,}" for name, rows in summary.rows.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
