"""Benchmark: point-in-time training sets, payloom (DuckDB ASOF joins) vs Feast's get_historical_features.

One run builds a real workspace (simulated world, real dbt build, real `feast apply`), then
replaces its card_features table with a larger one of the same schema (default 10 M rows over
200 k cards and 120 days: the size of a 10 M-attempt world), draws entity rows (default 1 M:
card ids and instants, a share before any data), and builds the training set for the card
activity view both ways, in the same run:

- baseline: Feast 0.67 `get_historical_features(...).to_df()` (DuckDB offline store, via ibis);
- payloom: `scoring.point_in_time.historical_features` (one DuckDB ASOF join, TTL applied).

It checks that both return identical rows, then prints and writes the times and the ratio to
bench/results/training_sets.json.

    .venv/bin/python bench/bench_training_sets.py [--entity-rows 1000000] [--feature-rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.feature_build import build_features  # noqa: E402
from scoring.feature_store import apply_feature_store, open_feature_store  # noqa: E402
from scoring.point_in_time import historical_features  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--cards", type=int, default=200_000)
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

        began = time.perf_counter()
        served = store.get_historical_features(entity_df=entities, features=features, full_feature_names=True).to_df()
        feast_seconds = time.perf_counter() - began
        print(f"Feast get_historical_features: {feast_seconds:.2f}s", flush=True)

        began = time.perf_counter()
        ours = historical_features(workspace, entities, views=["card_activity"])
        payloom_seconds = time.perf_counter() - began
        print(f"payloom historical_features:   {payloom_seconds:.2f}s", flush=True)

        served = served.set_index("row_index").sort_index()
        ours = ours.set_index("row_index")
        columns = [column for column in served.columns if "__" in column]
        identical = len(served) == len(ours) and all(
            served[column].astype(object).where(served[column].notna(), None).tolist()
            == ours[column].astype(object).where(ours[column].notna(), None).tolist()
            for column in columns
        )
        found = float(ours[columns].notna().any(axis=1).mean())
        results = {
            "entity_rows": arguments.entity_rows,
            "feature_rows": arguments.feature_rows,
            "feature_columns": len(columns),
            "feast_get_historical_features_seconds": round(feast_seconds, 3),
            "payloom_historical_features_seconds": round(payloom_seconds, 3),
            "ratio_payloom_speed_vs_feast": round(feast_seconds / payloom_seconds, 2),
            "identical_rows": int(identical),
            "share_of_entity_rows_with_features": round(found, 4),
        }
        print(json.dumps(results, indent=2))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        if not identical:
            raise SystemExit("payloom and Feast returned different rows: see the parity test in tests/feast")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
