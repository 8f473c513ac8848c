"""Simulate a payments world into a raw directory, streaming chunk by chunk in time order.

>>> import tempfile
>>> scratch = tempfile.TemporaryDirectory()
>>> summary = simulate(scratch.name, attempts=5_000, days=10, seed=1)
>>> 4_800 < summary.rows["payment_attempts"] < 5_200, sorted(summary.rows)
(True, ['customers', 'interactions', 'offers', 'payment_attempts', 'product_holdings'])
>>> simulate(scratch.name, attempts=10)
Traceback (most recent call last):
...
payloom_sim.errors.SimulatorError: attempts must be between 1,000 and 50,000,000, got 10: pass a size in that range (e.g. --attempts 100000)
>>> scratch.cleanup()
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from payloom_sim.attempt_tables import DIRTY_ATTEMPT_KINDS, attempt_ids, attempts_table, context_table, inject_dirty, world_dictionaries
from payloom_sim.attempts import APPROVED, AttemptGenerator
from payloom_sim.cards import CardPopulation, cards_for
from payloom_sim.constants import CURRENCIES, DECLINE_CODES, GATEWAYS, MCC_CODES, NETWORKS, OPTIMIZATION_SETS, OPTIMIZATIONS, PRODUCT_NAMES
from payloom_sim.customer_stream import DIRTY_OFFER_KINDS, OFFER_SHARE_PER_30_DAYS, CustomerStream
from payloom_sim.customers import CustomerPopulation
from payloom_sim.errors import SimulatorError
from payloom_sim.policy import LOGGED_OPTIMIZATION_SETS
from payloom_sim.schemas import RAW_SCHEMAS, TRUTH_SCHEMAS, WRITE_SCHEMAS
from payloom_sim.sink import ROW_GROUP_ROWS, Writer
from payloom_sim.stream import AttemptStream
from payloom_sim.world import build_world

__all__ = ["simulate", "SimulationSummary", "SIMULATOR_VERSION", "MIN_ATTEMPTS", "MAX_ATTEMPTS", "DEFAULT_CHUNK_ATTEMPTS", "CUSTOMERS_PER_CARD"]

SIMULATOR_VERSION = "2.0.0"
MIN_ATTEMPTS, MAX_ATTEMPTS = 1_000, 50_000_000
MAX_DAYS = 3_660
DEFAULT_CHUNK_ATTEMPTS = 250_000
CUSTOMERS_PER_CARD = 0.8
_CANDIDATE_BLOCK = 100_000


@dataclass
class SimulationSummary:
    """What a simulation wrote: rows and part files per table, injected contract violations, timing."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    truth_rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    dirty_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    cards: int = 0
    customers: int = 0
    seconds: float = 0.0

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "_manifest.json"


def _validate(attempts: int, days: int, dirty_fraction: float, start: str, chunk_attempts: int, seed: int) -> np.datetime64:
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or not MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS:
        shown = f"{attempts:,}" if isinstance(attempts, (int, np.integer)) else repr(attempts)
        raise SimulatorError(f"attempts must be between {MIN_ATTEMPTS:,} and {MAX_ATTEMPTS:,}, got {shown}: pass a size in that range (e.g. --attempts 100000)")
    if not isinstance(days, (int, np.integer)) or not 1 <= days <= MAX_DAYS:
        raise SimulatorError(f"days must be between 1 and {MAX_DAYS:,}, got {days!r}: pass the length of the simulated period in days (e.g. --days 120)")
    if not 0.0 <= dirty_fraction <= 0.1:
        raise SimulatorError(f"dirty_fraction must be between 0 and 0.1, got {dirty_fraction!r}: pass the share of contract-violating rows (e.g. --dirty-fraction 0.001, or 0 for clean data)")
    if not isinstance(chunk_attempts, (int, np.integer)) or chunk_attempts < 1_000:
        raise SimulatorError(f"chunk_attempts must be at least 1,000, got {chunk_attempts!r}: larger chunks use more memory but run faster")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimulatorError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        return np.datetime64(str(start), "D")
    except ValueError as error:
        raise SimulatorError(f"start must be a date like 2025-01-01, got {start!r}") from error


def _prepare(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless overwrite; then remove only what a simulation writes."""
    if out.exists() and not out.is_dir():
        raise SimulatorError(f"{out} is a file: pass a folder to write the raw tables into")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SimulatorError(f"{out} is not empty: pass overwrite=True (--overwrite) to replace it, or choose another folder")
        for name in [*RAW_SCHEMAS, "_truth"]:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        (out / "_manifest.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _progress_writer(progress: TextIO | Callable[[str], object] | None) -> Callable[[str], None]:
    if progress is None:
        return lambda line: None
    if callable(progress) and not hasattr(progress, "write"):
        report = progress

        def call(line: str) -> None:
            report(line)
        return call

    def write(line: str) -> None:
        progress.write(line + "\n")  # type: ignore[union-attr]
        progress.flush()  # type: ignore[union-attr]
    return write


def _dirty_counts(total: int, shares: np.ndarray) -> np.ndarray:
    """Spread `total` over chunks by cumulative share (exact total)."""
    cumulative = np.round(np.cumsum(shares) / shares.sum() * total).astype(np.int64)
    return np.diff(np.concatenate([[0], cumulative]))


def simulate(
    out_dir: Path | str,
    *,
    attempts: int = 100_000,
    seed: int = 42,
    start: str = "2025-01-01",
    days: int = 120,
    dirty_fraction: float = 0.0,
    chunk_attempts: int = DEFAULT_CHUNK_ATTEMPTS,
    write_truth: bool = True,
    overwrite: bool = False,
    progress: TextIO | Callable[[str], object] | None = None,
    row_group_rows: int = ROW_GROUP_ROWS,
    threaded: bool = True,
    offer_share: float = OFFER_SHARE_PER_30_DAYS,
) -> SimulationSummary:
    """Write the raw tables of a simulated world (and its ground truth under `_truth/`) to `out_dir`.

    The same arguments give byte-identical files. Memory is bounded by the card and customer
    populations (capped) and by `chunk_attempts`, not by `attempts`. `progress` gets a line
    about every 10% (a text stream such as sys.stderr, or a callable). `offer_share` is the share
    of customers contacted with a cross-sell offer per 30 days (more offers: a larger cross-sell
    training and test set; payments are drawn from other random streams and do not change).
    """
    if not 0.0 < offer_share <= 30.0:
        raise SimulatorError(f"offer_share must be in (0, 30] offers per customer and 30 days, got {offer_share}: pass a share such as 0.05")
    start_day = _validate(attempts, days, dirty_fraction, start, chunk_attempts, seed)
    out = Path(out_dir)
    _prepare(out, overwrite)
    say = _progress_writer(progress)
    began = time.perf_counter()
    world = build_world(seed=seed, days=days)
    n_cards = cards_for(attempts)
    people = CustomerPopulation.draw(max(int(n_cards * CUSTOMERS_PER_CARD), 1), start=start_day, seed=seed)
    cards = CardPopulation.draw(world, people, n_cards=n_cards, start=start_day, attempts_per_day=attempts / days, seed=seed)
    stream = AttemptStream(AttemptGenerator(world, cards, people, start_day), attempts=attempts, days=days, chunk_attempts=chunk_attempts)
    customers = CustomerStream(people, start=start_day, days=days, offer_share=offer_share)
    shares = np.array([chunk.share for chunk in stream.chunks])
    dictionaries = world_dictionaries(world)
    per_kind = max(int(round(attempts * dirty_fraction / len(DIRTY_ATTEMPT_KINDS))), 1) if dirty_fraction > 0 else 0
    attempt_plan = {kind: np.cumsum(_dirty_counts(per_kind, shares)) for kind in DIRTY_ATTEMPT_KINDS}
    attempt_done = {kind: 0 for kind in DIRTY_ATTEMPT_KINDS}
    expected_offers = people.size * offer_share * days / 30.0
    offer_kind = max(int(round(expected_offers * dirty_fraction)), 1) if dirty_fraction > 0 else 0
    customers.dirty_plan = {kind: _dirty_counts(offer_kind, np.ones(days)) for kind in DIRTY_OFFER_KINDS}

    options = {"row_group_rows": row_group_rows}
    with Writer(threaded=threaded) as writer:
        sinks = {name: writer.sink(out / name, schema, **options) for name, schema in WRITE_SCHEMAS.items()}
        truth = {name: writer.sink(out / "_truth" / name, schema, lane=1, **options) for name, schema in TRUTH_SCHEMAS.items()} if write_truth else {}
        writer.append(sinks["customers"], people.customers_table(start_day))
        writer.append(sinks["product_holdings"], people.initial_holdings_table(start_day))
        day, next_report = -1, 0.1
        for chunk in stream.chunks:
            if chunk.day != day:
                if day >= 0:
                    customers.end_day(day)
                day = chunk.day
                day_rng = np.random.default_rng([seed, 10, day])
                cards.start_day(start_day + np.timedelta64(day, "D"))
                for name, table in customers.run_day(day, day_rng).items():
                    if name == "offer_truth":
                        if write_truth:
                            writer.append(truth["offers"], table)
                    else:
                        writer.append(sinks[name], table)
            rows = stream.run(chunk, np.random.default_rng([seed, 11, chunk.index]))
            if not len(rows["attempt"]):
                continue
            approved = rows["outcome"] == APPROVED
            customers.add_spend(cards.customer[rows["card"][approved]], rows["amount_usd"][approved])
            dirty = None
            if per_kind:
                owed = {kind: int(attempt_plan[kind][chunk.index]) - attempt_done[kind] for kind in DIRTY_ATTEMPT_KINDS}
                dirty = inject_dirty(rows, owed, np.random.default_rng([seed, 12, chunk.index]))
                for kind in DIRTY_ATTEMPT_KINDS:
                    attempt_done[kind] += int(dirty[kind].sum()) if kind != "duplicate_attempt_id" else len(dirty["order"]) - len(rows["attempt"])
            ids = attempt_ids(rows)
            writer.append(sinks["payment_attempts"], attempts_table(world, cards, people, start_day, rows, dirty, dictionaries, ids))
            if write_truth:
                writer.append(truth["attempt_context"], context_table(world, start_day, rows, dictionaries, ids))
            if stream.produced >= next_report * attempts or chunk is stream.chunks[-1]:
                elapsed = time.perf_counter() - began
                say(f"payloom-sim: {stream.produced:,} attempts ({min(stream.produced / attempts, 1):.0%}), day {day + 1}/{days}, "
                    f"{elapsed:.1f}s, {stream.produced / max(elapsed, 1e-9):,.0f} attempts/s")
                next_report = np.floor(stream.produced / attempts * 10 + 1) / 10
        customers.end_day(day)
        if write_truth:
            for first in range(0, people.size, _CANDIDATE_BLOCK):
                writer.append(truth["offer_candidates"], customers.candidates(np.arange(first, min(first + _CANDIDATE_BLOCK, people.size))))
    summary = SimulationSummary(
        out_dir=out, rows={name: sink.rows for name, sink in sinks.items()},
        truth_rows={name: sink.rows for name, sink in truth.items()},
        files={name: list(sink.files) for name, sink in {**sinks, **{f"_truth/{k}": v for k, v in truth.items()}}.items()},
        dirty_rows={"payment_attempts": dict(attempt_done), "offers": dict(customers.dirty_done)},
        cards=cards.size, customers=people.size, seconds=time.perf_counter() - began,
    )
    _write_manifest(summary, seed=seed, attempts=attempts, start=start_day, end=start_day + np.timedelta64(days, "D"), days=days,
                    dirty_fraction=dirty_fraction, offer_share=offer_share, chunks=len(stream.chunks), issuers=len(world.issuer_ids),
                    bins=len(world.bin_codes), merchants=len(world.merchant_ids))
    say(f"payloom-sim: wrote {summary.rows['payment_attempts']:,} attempts, {people.size:,} customers, "
        f"{summary.rows['offers']:,} offers in {summary.seconds:.1f}s -> {out}")
    return summary


def _write_manifest(summary: SimulationSummary, **sizes: object) -> None:
    manifest = {
        "simulator_version": SIMULATOR_VERSION,
        **{key: str(value) if isinstance(value, np.datetime64) else value for key, value in sizes.items()},
        "cards": summary.cards, "customers": summary.customers,
        "rows": summary.rows, "truth_rows": summary.truth_rows, "dirty_rows": summary.dirty_rows,
        "files": {name: [str(path.relative_to(summary.out_dir)) for path in paths] for name, paths in summary.files.items()},
        "gateways": list(GATEWAYS), "optimizations": list(OPTIMIZATIONS), "optimization_sets": list(OPTIMIZATION_SETS),
        "networks": list(NETWORKS), "merchant_categories": list(MCC_CODES), "decline_codes": list(DECLINE_CODES),
        "logged_optimization_sets": list(LOGGED_OPTIMIZATION_SETS), "products": list(PRODUCT_NAMES), "currencies": list(CURRENCIES),
    }
    summary.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
