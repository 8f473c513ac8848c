"""Simulate a payments world into a raw directory, streaming one day at a time.

>>> import tempfile
>>> summary = simulate(tempfile.mkdtemp(), attempts=5_000, days=10, seed=1)
>>> summary.rows["payment_attempts"] >= 5_000
True
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from payloom_sim.attempts import simulate_day
from payloom_sim.cards import CardPopulation, cards_for
from payloom_sim.customer_tables import simulate_customers
from payloom_sim.customers import PRODUCTS
from payloom_sim.errors import SimulatorError
from payloom_sim.world import CURRENCIES, GATEWAYS, OPTIMIZATION_COMBOS, build_world

__all__ = ["simulate", "SimulationSummary", "SIMULATOR_VERSION", "MIN_ATTEMPTS", "MAX_ATTEMPTS"]

SIMULATOR_VERSION = "1.0"
MIN_ATTEMPTS, MAX_ATTEMPTS = 1_000, 50_000_000
DIRTY_ATTEMPT_KINDS = ("null_card_id", "negative_amount", "unknown_currency", "duplicate_attempt_id", "future_attempted_at")
DIRTY_OFFER_KINDS = ("negative_revenue", "unknown_product", "unknown_customer")
_DAY_OF_WEEK_WEIGHTS = np.array([0.95, 0.97, 1.0, 1.02, 1.12, 1.05, 0.89])  # Monday first


@dataclass
class SimulationSummary:
    """What a simulation wrote: rows per table, paths, injected contract violations, timings."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    dirty_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


class _TableWriter:
    """Appends Arrow tables to `<out>/<name>/part-00000.parquet` (one row group per append)."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(folder / "part-00000.parquet", schema, compression="snappy", store_schema=False)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


def _split(total: int, parts: int) -> np.ndarray:
    return np.array([len(chunk) for chunk in np.array_split(np.arange(total), parts)]) if parts else np.zeros(0, int)


def _validate(attempts: int, days: int, dirty_fraction: float, start: str) -> np.datetime64:
    if not MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS:
        raise SimulatorError(f"attempts must be between {MIN_ATTEMPTS:,} and {MAX_ATTEMPTS:,}, got {attempts:,}: pass a size in that range")
    if days < 1:
        raise SimulatorError(f"days must be at least 1, got {days}")
    if not 0.0 <= dirty_fraction < 0.5:
        raise SimulatorError(f"dirty_fraction must be in [0, 0.5), got {dirty_fraction}")
    try:
        return np.datetime64(start, "D")
    except ValueError as error:
        raise SimulatorError(f"start must be a date like 2025-01-01, got {start!r}") from error


def _corrupt(table: pa.Table, counts: dict[str, int], rng: np.random.Generator) -> pa.Table:
    """Break the contract in chosen rows of one day's attempts (counts per kind)."""
    if not any(counts.values()):
        return table
    rows = rng.permutation(table.num_rows)
    used = 0
    columns = {name: table[name].combine_chunks() for name in table.column_names}

    def take(kind: str) -> np.ndarray:
        nonlocal used
        chosen = rows[used : used + counts.get(kind, 0)]
        used += len(chosen)
        return chosen

    def replace(name: str, chosen: np.ndarray, value) -> None:
        mask = np.zeros(table.num_rows, bool)
        mask[chosen] = True
        column = columns[name]
        columns[name] = pc.if_else(pa.array(mask), pa.scalar(value, column.type), column)

    replace("card_id", take("null_card_id"), None)
    negative = take("negative_amount")
    amounts = columns["amount_minor"].to_numpy().copy()
    amounts[negative] = -np.maximum(amounts[negative], 1)
    columns["amount_minor"] = pa.array(amounts)
    replace("currency_code", take("unknown_currency"), "ZZZ")
    replace("attempted_at", take("future_attempted_at"), np.datetime64("2100-01-01T00:00:00", "us"))
    duplicates = take("duplicate_attempt_id")
    corrupted = pa.table(columns, schema=table.schema)
    return pa.concat_tables([corrupted, corrupted.take(duplicates)]) if len(duplicates) else corrupted


def simulate(
    out_dir: Path | str,
    *,
    attempts: int = 100_000,
    seed: int = 42,
    start: str = "2025-01-01",
    days: int = 120,
    dirty_fraction: float = 0.0,
    write_truth: bool = True,
    chunk_attempts: int = 250_000,
    overwrite: bool = False,
    progress: TextIO | None = None,
) -> SimulationSummary:
    """Write the raw tables of a simulated world (and its ground truth) under `out_dir`.

    Same arguments, same bytes. Memory is bounded by the card and customer populations
    (capped) and by `chunk_attempts`, not by `attempts`: attempts are generated and written a
    day at a time, in chunks of at most `chunk_attempts` first attempts.
    """
    start_day = _validate(attempts, days, dirty_fraction, start)
    if chunk_attempts < 1_000:
        raise SimulatorError(f"chunk_attempts must be at least 1,000, got {chunk_attempts:,}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SimulatorError(f"{out} is not empty: pass overwrite=True (--overwrite) to replace it, or choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    world = build_world(seed=seed, days=days)
    cards = CardPopulation.draw(world, n_cards=cards_for(attempts), start=start_day, seed=seed)
    dates = start_day + np.arange(days).astype("timedelta64[D]")
    weights = _DAY_OF_WEEK_WEIGHTS[(dates.astype("datetime64[D]").view("int64") - 4) % 7]
    # Retries add attempts: each day's first attempts are sized from the retry ratio seen so far,
    # so the running total tracks the day-of-week weighted target and the total lands on `attempts`.
    target_by_end_of_day = np.round(np.cumsum(weights) / weights.sum() * attempts).astype(np.int64)
    retry_ratio, first_so_far = 0.08, 0
    dirty_total = {kind: int(round(attempts * dirty_fraction / len(DIRTY_ATTEMPT_KINDS))) for kind in DIRTY_ATTEMPT_KINDS}
    dirty_per_day = {kind: _split(total, days) for kind, total in dirty_total.items()}
    writers = {"payment_attempts": _TableWriter(out / "payment_attempts", _schema("payment_attempts"))}
    truth_writer = None
    number = 0
    report_every = max(days // 10, 1)
    for day in range(days):
        first = max(int(round((target_by_end_of_day[day] - number) / (1 + retry_ratio))), 1)
        parts = -(-first // chunk_attempts)
        for part, part_size in enumerate(_split(first, parts)):
            rng = np.random.default_rng([seed, 100, day, part])
            batch = simulate_day(world, cards, day=day, n=int(part_size), start=start_day, first_number=number, rng=rng, new_day=part == 0)
            number += batch.attempts.num_rows
            cards.spend(batch.approved_cards, batch.approved_usd)
            dirty_counts = {kind: int(per_day[day]) if part == 0 else 0 for kind, per_day in dirty_per_day.items()}
            writers["payment_attempts"].write(_corrupt(batch.attempts, dirty_counts, rng))
            if write_truth:
                if truth_writer is None:
                    truth_writer = _TableWriter(out / "_truth" / "attempt_context", batch.truth.schema)
                truth_writer.write(batch.truth)
        first_so_far += first
        retry_ratio = number / first_so_far - 1
        if progress is not None and ((day + 1) % report_every == 0 or day + 1 == days):
            rate = writers["payment_attempts"].rows / (time.perf_counter() - began)
            progress.write(f"simulated day {day + 1}/{days}: {writers['payment_attempts'].rows:,} attempts ({rate:,.0f}/s)\n")
            progress.flush()
    for writer in [*writers.values(), *([truth_writer] if truth_writer else [])]:
        writer.close()

    dirty_offers = {kind: (1 if dirty_fraction > 0 else 0) for kind in DIRTY_OFFER_KINDS}
    customer_tables = simulate_customers(cards.n_customers, days=days, start=start_day, seed=seed, dirty=dirty_offers)
    rows = {"payment_attempts": writers["payment_attempts"].rows}
    for name, table in customer_tables.items():
        if name.startswith("_truth_"):
            if write_truth:
                _write(out / "_truth" / name.removeprefix("_truth_"), table)
            continue
        _write(out / name, table)
        rows[name] = table.num_rows
    summary = SimulationSummary(
        out_dir=out,
        rows=rows,
        dirty_rows={"payment_attempts": dirty_total, "offers": dirty_offers},
        seconds=time.perf_counter() - began,
    )
    manifest = {
        "simulator_version": SIMULATOR_VERSION, "seed": seed, "attempts_requested": attempts, "start": str(start_day),
        "days": days, "dirty_fraction": dirty_fraction, "rows": rows, "dirty_rows": summary.dirty_rows,
        "cards": cards.size, "customers": cards.n_customers, "gateways": list(GATEWAYS),
        "optimizations": list(OPTIMIZATION_COMBOS), "products": list(PRODUCTS), "currencies": list(CURRENCIES),
    }
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if progress is not None:
        progress.write(f"simulated {rows['payment_attempts']:,} attempts and {cards.n_customers:,} customers in {summary.seconds:.1f}s -> {out}\n")
    return summary


def _schema(name: str) -> pa.Schema:
    from payloom_sim.schemas import RAW_SCHEMAS

    return RAW_SCHEMAS[name]


def _write(folder: Path, table: pa.Table) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet", compression="snappy", store_schema=False)
