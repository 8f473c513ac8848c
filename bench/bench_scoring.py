"""Benchmark: compiled in-SQL scoring against XGBoost's own prediction, on the same rows.

One run trains a model (default: 200 trees, depth 6, 30 features), publishes it (payloom
kernel) and also compiles it with TL2cgen, then scores the same 1 M rows with:

- `xgboost.Booster.inplace_predict` on every core (the baseline),
- the compiled payloom library called directly (`CompiledForest.predict`, every core),
- the TL2cgen-generated library behind the same entry point (every core),
- `select score_<model>(...)` in DuckDB (Arrow UDF, DuckDB's threads),

each the best of several repetitions, reported as rows/s and as ratios against the baseline.
Also: compile time and library size for 200 and 500 trees, single-row latency from SQL.
Writes bench/results/scoring.json.

    .venv/bin/python bench/bench_scoring.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import treelite
import xgboost

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.forest_compiler import compile_forest  # noqa: E402
from scoring.model_publishing import publish_model  # noqa: E402
from udfs.compiled_forest import CompiledForest  # noqa: E402
from udfs.duckdb_functions import register_models  # noqa: E402
from udfs.sql_calls import score_call  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scoring.json"
FEATURES = 30


def rows_with_holes(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, FEATURES))
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix


def train(trees: int) -> xgboost.Booster:
    features = rows_with_holes(100_000, seed=1)
    signal = np.nan_to_num(features)
    labels = (signal[:, 0] + signal[:, 1] * signal[:, 2] - signal[:, 3] ** 2 + np.random.default_rng(2).normal(size=len(signal)) > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": os.cpu_count()}
    return xgboost.train(params, xgboost.DMatrix(features, label=labels), trees)


def best_seconds(function, repeats: int) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - began)
    return best


def print_and_write(figures: dict, path: Path) -> None:
    """Print the figures aligned, then write them as flat JSON to `path`."""
    for key, value in figures.items():
        print(f"  {key:<58} {value:>16,.3f}" if isinstance(value, float) else f"  {key:<58} {value:>16,}", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    figures: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="payloom-bench-scoring-"))

    for trees in (200, 500):
        booster = train(trees)
        artifact = publish_model(work / f"registry_{trees}", "bench_model", booster, [(f"f{index}", "double") for index in range(FEATURES)])
        figures[f"compile_payloom_{trees}_trees_seconds"] = artifact.manifest.details["compilation"]["seconds"]
        figures[f"library_payloom_{trees}_trees_bytes"] = artifact.manifest.details["compilation"]["library_bytes"]
        began = time.perf_counter()
        tl2cgen_build = compile_forest(treelite.frontend.from_xgboost(booster), work / f"tl2cgen_{trees}", backend="tl2cgen",
                                       tl2cgen_params={"parallel_comp": os.cpu_count()})
        figures[f"compile_tl2cgen_{trees}_trees_seconds"] = time.perf_counter() - began
        figures[f"library_tl2cgen_{trees}_trees_bytes"] = tl2cgen_build.library_bytes
        if trees == 200:
            model_booster, model_artifact, tl2cgen_library = booster, artifact, tl2cgen_build.library

    matrix = rows_with_holes(arguments.rows, seed=3)
    columns = [pa.array(matrix[:, index], from_pandas=True) for index in range(FEATURES)]
    model_booster.set_param({"nthread": os.cpu_count()})
    tl2cgen_forest = CompiledForest(tl2cgen_library)
    connection = duckdb.connect()
    register_models(connection, work / "registry_200")
    connection.register("features_arrow", pa.table({f"f{index}": column for index, column in enumerate(columns)}))
    connection.execute("create table features as select * from features_arrow")
    connection.unregister("features_arrow")
    query = f"select sum({score_call(model_artifact.manifest)}) from features"

    reference = model_booster.inplace_predict(matrix)
    compiled = model_artifact.forest.predict(columns, threads=None)[:, 0]
    from_sql = connection.sql(f"select {score_call(model_artifact.manifest)} as score from features").fetchnumpy()["score"]
    figures["max_abs_difference_compiled_vs_xgboost"] = float(np.max(np.abs(compiled - reference)))
    figures["max_abs_difference_sql_vs_xgboost"] = float(np.max(np.abs(np.sort(from_sql) - np.sort(reference))))

    timings = {
        "xgboost_inplace_predict": lambda: model_booster.inplace_predict(matrix),
        "compiled_payloom_direct": lambda: model_artifact.forest.predict(columns, threads=None),
        "compiled_tl2cgen_direct": lambda: tl2cgen_forest.predict(columns, threads=None),
        "duckdb_sql_score": lambda: connection.execute(query).fetchall(),
    }
    for name, function in timings.items():
        seconds = best_seconds(function, arguments.repeats)
        figures[f"{name}_rows_per_second"] = arguments.rows / seconds
    baseline = figures["xgboost_inplace_predict_rows_per_second"]
    for name in ("compiled_payloom_direct", "compiled_tl2cgen_direct", "duckdb_sql_score"):
        figures[f"ratio_{name}_vs_xgboost_inplace_predict"] = figures[f"{name}_rows_per_second"] / baseline

    single_row = "select score_bench_model(" + ", ".join(["0.5"] * FEATURES) + ")"
    latency = best_seconds(lambda: connection.execute(single_row).fetchall(), 200)
    figures["duckdb_sql_single_row_latency_microseconds"] = latency * 1e6
    single = [np.array([0.5]) for _ in range(FEATURES)]
    figures["compiled_direct_single_row_latency_microseconds"] = best_seconds(lambda: model_artifact.forest.predict(single), 200) * 1e6
    figures["rows"] = arguments.rows
    figures["cpu_count"] = os.cpu_count() or 0

    print_and_write(figures, RESULTS)


if __name__ == "__main__":
    main()
