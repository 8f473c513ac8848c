"""`payloom-sim`: write a simulated payments world as raw Parquet tables (and its ground truth).

    payloom-sim --out build/raw --attempts 1000000 --seed 42 [--days 120] [--dirty-fraction 0.001]
                [--start 2025-01-01] [--no-truth] [--overwrite] [--quiet]

>>> parse_count("1_000_000"), parse_count("2e6"), parse_count("10M"), parse_count("50k")
(1000000, 2000000, 10000000, 50000)
"""

from __future__ import annotations

import argparse
import ctypes
import sys

from payloom_sim.errors import SimulatorError
from payloom_sim.simulation import DEFAULT_CHUNK_ATTEMPTS, MAX_ATTEMPTS, MIN_ATTEMPTS, simulate

__all__ = ["main", "parse_count"]

_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def parse_count(text: str) -> int:
    """A count such as 1000000, 1_000_000, 1e6, 10M or 50k."""
    value = text.strip().lower()
    scale = _SUFFIXES.get(value[-1:], 1)
    if scale != 1:
        value = value[:-1]
    try:
        number = float(value) * scale if ("e" in value or "." in value) else int(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number such as 1000000, 1e6 or 10M, got {text!r}") from None
    if number != int(number):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(number)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payloom-sim", description=__doc__.split("\n>>>")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write the raw tables into (one sub-folder per table)")
    parser.add_argument("--attempts", type=parse_count, default=100_000, help=f"payment attempts, {MIN_ATTEMPTS:,} to {MAX_ATTEMPTS:,} (default 100,000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed: the same seed and sizes give byte-identical files (default 42)")
    parser.add_argument("--start", default="2025-01-01", help="first simulated day, UTC (default 2025-01-01)")
    parser.add_argument("--days", type=int, default=120, help="length of the simulated period in days (default 120)")
    parser.add_argument("--dirty-fraction", type=float, default=0.001, help="share of payment attempts that break the contract on purpose (default 0.001; 0 for clean data)")
    parser.add_argument("--offer-share", type=float, default=0.05, help="share of customers contacted with a cross-sell offer per 30 days (default 0.05)")
    parser.add_argument("--chunk-attempts", type=parse_count, default=DEFAULT_CHUNK_ATTEMPTS, help=argparse.SUPPRESS)
    parser.add_argument("--no-truth", action="store_true", help="skip the ground-truth tables under <out>/_truth/ (faster)")
    parser.add_argument("--overwrite", action="store_true", help="replace the tables of a previous simulation in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr and no summary on stdout")
    return parser


def _keep_freed_memory() -> None:
    """glibc only: keep freed chunk-sized buffers in the heap instead of returning them to the
    OS and faulting them in again every chunk (~1/3 less system time). The console script is a
    process of its own, so this does not touch anyone else's allocator settings."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    _keep_freed_memory()
    try:
        summary = simulate(
            arguments.out, attempts=arguments.attempts, seed=arguments.seed, start=arguments.start, days=arguments.days,
            dirty_fraction=arguments.dirty_fraction, chunk_attempts=arguments.chunk_attempts,
            write_truth=not arguments.no_truth, overwrite=arguments.overwrite, offer_share=arguments.offer_share, progress=None if arguments.quiet else sys.stderr,
        )
    except SimulatorError as error:
        parser.exit(2, f"payloom-sim: error: {error}\n")
    if not arguments.quiet:
        for name, rows in summary.rows.items():
            print(f"{name}: {rows:,} rows")
        dirty = sum(sum(kinds.values()) for kinds in summary.dirty_rows.values())
        print(f"wrote {summary.out_dir} in {summary.seconds:.1f}s ({dirty:,} contract-violating rows on purpose; see _manifest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
