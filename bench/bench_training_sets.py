"""Benchmark: point-in-time training sets, payloom (prepared point-in-time index) vs Feast's get_historical_features.

One run builds a real workspace (simulated world, real dbt build, real `feast apply`), then
replaces its card_features table with a larger one of the same schema (default 10 M rows over
200 k cards and 120 days: the size of a 10 M-attempt world), draws entity rows (default 1 M:
card ids and instants, a share before any data), and builds the training set for the card
activity view both ways, in the same run:

- pandas: Feast 0.67 `get_historical_features(...).to_df()` (DuckDB offline store, via ibis) vs
  `scoring.point_in_time.historical_features` (the headline ratio: both return DataFrames);
- Arrow: Feast's `.to_arrow()` vs `scoring.point_in_time.historical_features_arrow`.

payloom is measured three ways: *cold*, the first call on the new table, which builds the
table's point-in-time index (its `index` stage is the one-off build time, reported apart);
*unmapped*, a call with the index on disk but not yet memory-mapped by the process (what a new
process pays); and *warm*, the interleaved rounds below, with the index prepared and mapped.

Every path starts from the same pandas entity frame, and each timing covers the whole call
(entity conversion, joins, result conversion). The four warm calls run interleaved, `--rounds`
times (default 2), and each path keeps its best round, so load from other processes hits both
alike; the CPU seconds of the process (all threads) are recorded too, as they drift less on a
shared machine. Python's garbage is collected before every timed call. Feast has no cold/warm
split: its best round is the baseline of every ratio. It checks that Feast and payloom return
identical rows, then prints and writes the times, the ratios (`ratio_<what>_vs_feast`) and
payloom's stage breakdown (best warm pandas round) to bench/results/training_sets.json.

    .venv/bin/python bench/bench_training_sets.py [--entity-rows 1000000] [--feature-rows 10000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.feature_build import build_features  # noqa: E402
from scoring.feature_store import apply_feature_store, open_feature_store  # noqa: E402
from scoring import point_in_time_index  # noqa: E402
from scoring.point_in_time import historical_features, historical_features_arrow  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "training_sets.json"
START = datetime(2025, 1, 1)
DAYS = 120


def enlarge_card_features(workspace: Workspace, rows: int, cards: int) -> None:
    """Rewrite card_features.parquet with `rows` rows of the same schema (random values, unique keys)."""
    path = workspace.features_dir / "card_features.parquet"
    with duckdb.connect() as connection:
        schema = connection.execute(f"describe select * from read_parquet('{path}')").fetchall()
        expressions = []
        for name, data_type, *_ in schema:
            if name == "card_id":
                expressions.append("'card_' || lpad(cast(i % {cards} as varchar), 7, '0') as card_id".format(cards=cards))
            elif name == "event_timestamp":
                # Distinct per card: the row number within the card spreads over the period.
                expressions.append(
                    f"timestamp '{START:%Y-%m-%d}' + to_microseconds(cast((i // {cards}) * ({DAYS} * 86400000000 // ({rows} // {cards} + 1))"
                    f" + hash(i) % 1000000 as bigint)) as event_timestamp")
            elif data_type.upper() in ("BIGINT", "INTEGER"):
                expressions.append(f"cast(hash(i, '{name}') % 500 as {data_type}) as {name}")
            elif data_type.upper() == "DOUBLE":
                expressions.append(f"case when hash(i, '{name}') % 10 = 0 then null else (hash(i, '{name}') % 100000) / 100000.0 end as {name}")
            else:
                expressions.append(f"cast(null as {data_type}) as {name}")
        temporary = path.with_suffix(".tmp.parquet")
        connection.execute(f"copy (select {', '.join(expressions)} from range({rows}) r(i)) to '{temporary}' (format parquet)")
        temporary.replace(path)


def entity_rows(rows: int, cards: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(-2 * 86400 * 10**6, DAYS * 86400 * 10**6, rows)  # some before any data
    return pd.DataFrame({
        "card_id": [f"card_{value:07d}" for value in rng.integers(0, cards, rows)],
        "event_timestamp": (pd.Timestamp(START, tz="UTC") + pd.to_timedelta(offsets, unit="us")).astype("datetime64[us, UTC]"),
        "row_index": np.arange(rows),
    })


def timed(call) -> tuple[object, float, float]:
    """(what `call()` returns, wall seconds, CPU seconds of the process). Python's garbage is
    collected first, so no call pays for collecting what an earlier call (Feast's or payloom's) left."""
    gc.collect()
    began, cpu_began = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - began, time.process_time() - cpu_began


def one_off_payloom_calls(workspace: Workspace, entities: pd.DataFrame) -> dict[str, float]:
    """The cold call (no index: it builds one) and an unmapped call (index on disk, not mapped yet)."""
    shutil.rmtree(workspace.point_in_time_index_dir, ignore_errors=True)
    figures: dict[str, float] = {}
    for name in ("cold", "unmapped"):
        point_in_time_index._OPEN.clear()  # as in a new process: no memory-mapped index
        stages: dict[str, float] = {}
        _, seconds, cpu = timed(lambda: historical_features(workspace, entities, views=["card_activity"], timings=stages))
        figures.update({f"payloom_{name}_pandas_seconds": round(seconds, 3), f"payloom_{name}_pandas_cpu_seconds": round(cpu, 3)})
        if name == "cold":
            figures["payloom_index_build_seconds"] = round(stages["index"], 3)
        print(f"payloom {name:8s} pandas {seconds:6.2f}s (cpu {cpu:6.2f}s), index stage {stages['index']:.2f}s", flush=True)
    index_dir = next(workspace.point_in_time_index_dir.iterdir())
    figures["payloom_index_megabytes"] = round(sum(path.stat().st_size for path in index_dir.iterdir()) / 2**20, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--cards", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()

    from payloom_sim import simulate

    scratch = Path(tempfile.mkdtemp(prefix="payloom-bench-pit-"))
    try:
        workspace = Workspace.at(scratch)
        simulate(workspace.raw_dir, attempts=20_000, seed=3, days=DAYS)
        build_features(workspace, feature_cutoff_at=datetime(2025, 5, 1), exclude="tag:scores", echo=None)
        began = time.perf_counter()
        enlarge_card_features(workspace, arguments.feature_rows, arguments.cards)
        print(f"card_features: {arguments.feature_rows:,} rows written in {time.perf_counter() - began:.1f}s", flush=True)
        apply_feature_store(workspace)
        store = open_feature_store(workspace)
        entities = entity_rows(arguments.entity_rows, arguments.cards, seed=5)
        features = [f"card_activity:{field.name}" for field in store.get_feature_view("card_activity").features]

        def feast_job():
            return store.get_historical_features(entity_df=entities, features=features, full_feature_names=True)

        calls = {
            "feast_to_df": lambda stages: feast_job().to_df(),
            "payloom_pandas": lambda stages: historical_features(workspace, entities, views=["card_activity"], timings=stages),
            "feast_to_arrow": lambda stages: feast_job().to_arrow(),
            "payloom_arrow": lambda stages: historical_features_arrow(workspace, entities, views=["card_activity"], timings=stages),
        }
        load_before = os.getloadavg()[0]
        one_off = one_off_payloom_calls(workspace, entities)
        rounds, outputs, stages_of_best = [], {}, {}
        for round_number in range(arguments.rounds):
            measured = {}
            for name, call in calls.items():
                stages: dict[str, float] = {}
                outputs[name], seconds, cpu = timed(partial(call, stages))
                measured[name] = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3)}
                if name == "payloom_pandas" and seconds <= min((r[name]["seconds"] for r in rounds), default=seconds):
                    stages_of_best = {stage: round(value, 3) for stage, value in stages.items()}
                print(f"round {round_number + 1} {name:15s} {seconds:6.2f}s (cpu {cpu:6.2f}s)", flush=True)
            rounds.append(measured)
        best = {name: min(r[name]["seconds"] for r in rounds) for name in calls}
        best_cpu = {name: min(r[name]["cpu_seconds"] for r in rounds) for name in calls}

        served = outputs["feast_to_df"].set_index("row_index").sort_index()
        ours = outputs["payloom_pandas"].set_index("row_index")
        ours_arrow = outputs["payloom_arrow"].to_pandas().set_index("row_index")
        columns = [column for column in served.columns if "__" in column]

        def same(left: pd.DataFrame, right: pd.DataFrame) -> bool:
            return len(left) == len(right) and list(left.index) == list(right.index) and all(
                left[column].astype(object).where(left[column].notna(), None).tolist()
                == right[column].astype(object).where(right[column].notna(), None).tolist()
                for column in columns
            )

        identical = same(served, ours)
        identical_arrow = same(served, ours_arrow)
        found = float(ours[columns].notna().any(axis=1).mean())
        results = {
            "entity_rows": arguments.entity_rows,
            "feature_rows": arguments.feature_rows,
            "feature_columns": len(columns),
            "feast_get_historical_features_seconds": best["feast_to_df"],
            "payloom_historical_features_seconds": best["payloom_pandas"],
            "ratio_warm_pandas_vs_feast": round(best["feast_to_df"] / best["payloom_pandas"], 2),
            "ratio_warm_pandas_cpu_vs_feast": round(best_cpu["feast_to_df"] / best_cpu["payloom_pandas"], 2),
            "identical_rows": int(identical),
            "share_of_entity_rows_with_features": round(found, 4),
            "feast_to_arrow_seconds": best["feast_to_arrow"],
            "payloom_historical_features_arrow_seconds": best["payloom_arrow"],
            "ratio_warm_arrow_vs_feast": round(best["feast_to_arrow"] / best["payloom_arrow"], 2),
            "ratio_warm_arrow_cpu_vs_feast": round(best_cpu["feast_to_arrow"] / best_cpu["payloom_arrow"], 2),
            "identical_rows_arrow": int(identical_arrow),
            **one_off,
            "ratio_cold_pandas_vs_feast": round(best["feast_to_df"] / one_off["payloom_cold_pandas_seconds"], 2),
            "ratio_cold_pandas_cpu_vs_feast": round(best_cpu["feast_to_df"] / one_off["payloom_cold_pandas_cpu_seconds"], 2),
            "ratio_unmapped_pandas_vs_feast": round(best["feast_to_df"] / one_off["payloom_unmapped_pandas_seconds"], 2),
            "ratio_unmapped_pandas_cpu_vs_feast": round(best_cpu["feast_to_df"] / one_off["payloom_unmapped_pandas_cpu_seconds"], 2),
            "rounds": arguments.rounds,
            "host_load_average_1m_at_start": round(load_before, 2),
            "host_load_average_1m_at_end": round(os.getloadavg()[0], 2),
        }
        # Flat name -> number: best CPU seconds per path, payloom's stages, every round.
        results.update({f"cpu_seconds_best_{name}": value for name, value in best_cpu.items()})
        results.update({f"payloom_stage_{stage}_seconds": value for stage, value in stages_of_best.items()})
        for number, measured in enumerate(rounds, start=1):
            for name, figures in measured.items():
                results.update({f"round_{number}_{name}_{unit}": value for unit, value in figures.items()})
        print("measured as pandas DataFrames on both sides (Feast .to_df()) and as Arrow tables (Feast .to_arrow()); "
              f"best of {arguments.rounds} interleaved rounds per path (payloom warm: index prepared and mapped)")
        print(json.dumps(results, indent=2))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        if not (identical and identical_arrow):
            raise SystemExit("payloom and Feast returned different rows: see the parity test in tests/feast")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
