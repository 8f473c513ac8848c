"""Benchmark: the portable SQL export (DuckDB macro) against the compiled UDF and XGBoost.

Same model and rows as bench_scoring.py (XGBoost `binary:logistic`, 200 trees, depth 6, 30
features, 5% missing), scored with:

- `xgboost.Booster.inplace_predict` on every core (the baseline),
- `select sum(score_<model>(...))` in DuckDB: the compiled Arrow UDF,
- `select sum(score_<model>_sql(...))` in DuckDB: the exported macro (`scoring.sql_export`),
  from the database file it was installed into,

and with `--spark`, on a local SparkSession (`local[2]`) reading the same rows from Parquet:

- `scoring.spark_scoring.score_with_compiled_model`: the compiled library in an Arrow UDF
  (`mapInArrow`), summed by Spark;
- `scoring.spark_scoring.score_with_sql_export`: the model's Spark SQL export, summed by Spark
  (its analysis time included; the first run's is reported as `spark_sql_export_first_run_seconds`),
- `scoring.spark_score_functions`: the model as Spark SQL temporary functions (what the dbt score
  models call on Spark), `select sum(score_<model>(...))`; creating them is reported as
  `spark_sql_functions_create_seconds`, the first query as `spark_sql_functions_first_run_seconds`,

each the best of `--repeats` after a warm-up, as rows/s and ratios against the baseline. The
macro's time includes DuckDB binding it (seconds for 200 trees), reported separately as
`duckdb_sql_macro_bind_seconds` (a one-row query). Writes bench/results/sql_export.json.

    .venv/bin/python bench/bench_sql_export.py [--rows 1000000] [--repeats 1] [--spark]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scoring import FEATURES, best_seconds, print_and_write, rows_with_holes, train  # noqa: E402
from scoring.model_publishing import publish_model  # noqa: E402
from scoring.sql_export import install_sql_macros, sql_function_name  # noqa: E402
from udfs.duckdb_functions import register_models  # noqa: E402
from udfs.sql_calls import score_call  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sql_export.json"


def spark_figures(matrix: np.ndarray, work: Path, repeats: int, baseline: float, reference: np.ndarray) -> dict[str, float]:
    """rows/s of the Spark Arrow UDF and of the Spark SQL export on the same rows (module docstring)."""
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from scoring.spark_score_functions import score_function_statements
    from scoring.spark_scoring import score_with_compiled_model, score_with_sql_export
    from udfs.model_registry import ModelRegistry

    os.environ["PYSPARK_PYTHON"] = sys.executable
    path = work / "features.parquet"
    pq.write_table(pa.table({f"f{index}": matrix[:, index] for index in range(FEATURES)}), path)
    began = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("payloom-bench").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").config("spark.driver.memory", "4g")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    figures = {"spark_session_start_seconds": time.perf_counter() - began}
    frame = spark.read.parquet(str(path))
    frame.createOrReplaceTempView("features")
    frame.count()
    compiled = score_with_compiled_model(frame, work / "registry", "bench_model")
    began = time.perf_counter()
    exported = score_with_sql_export(spark, work / "registry", "bench_model", "features")
    total = exported.agg(F.sum("score_bench_model")).collect()[0][0]
    figures["spark_sql_export_first_run_seconds"] = time.perf_counter() - began
    figures["abs_difference_of_sums_spark_sql_export_vs_xgboost"] = abs(float(total) - float(reference.sum()))
    compiled_total = compiled.agg(F.sum("score_bench_model")).collect()[0][0]
    figures["abs_difference_of_sums_spark_arrow_udf_vs_xgboost"] = abs(float(compiled_total) - float(reference.sum()))
    began = time.perf_counter()
    for statement in score_function_statements([ModelRegistry(work / "registry").load("bench_model")]):
        spark.sql(statement)
    figures["spark_sql_functions_create_seconds"] = time.perf_counter() - began
    function_query = f"select sum(score_bench_model({', '.join(f'f{index}' for index in range(FEATURES))})) from features"
    began = time.perf_counter()
    function_total = spark.sql(function_query).collect()[0][0]
    figures["spark_sql_functions_first_run_seconds"] = time.perf_counter() - began
    figures["abs_difference_of_sums_spark_sql_functions_vs_xgboost"] = abs(float(function_total) - float(reference.sum()))
    timings = {
        "spark_sql_functions": lambda: spark.sql(function_query).collect(),
        "spark_arrow_udf": lambda: compiled.agg(F.sum("score_bench_model")).collect(),
        "spark_sql_export": lambda: score_with_sql_export(spark, work / "registry", "bench_model", "features")
        .agg(F.sum("score_bench_model")).collect(),
    }
    for name, function in timings.items():
        figures[f"{name}_rows_per_second"] = len(matrix) / best_seconds(function, repeats)
        figures[f"ratio_{name}_vs_xgboost_inplace_predict"] = figures[f"{name}_rows_per_second"] / baseline
    spark.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--spark", action="store_true", help="also score on a local SparkSession (Arrow UDF, SQL export, SQL functions)")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="payloom-bench-sql-export-"))
    figures: dict[str, float] = {}

    booster = train(200)
    artifact = publish_model(work / "registry", "bench_model", booster, [(f"f{index}", "double") for index in range(FEATURES)])
    database = work / "analyst.duckdb"
    began = time.perf_counter()
    export = install_sql_macros(database, work / "registry", "bench_model")
    figures["install_sql_macros_seconds"] = time.perf_counter() - began
    figures["sql_macros_characters"] = sum(len(statement) for statement in export.statements)

    matrix = rows_with_holes(arguments.rows, seed=3)
    booster.set_param({"nthread": os.cpu_count()})
    connection = duckdb.connect(str(database))
    register_models(connection, work / "registry")
    connection.register("features_arrow", pa.table({f"f{index}": matrix[:, index] for index in range(FEATURES)}))
    connection.execute("create or replace temp table features as select * from features_arrow")
    connection.unregister("features_arrow")
    arguments_sql = ", ".join(f"f{index}" for index in range(FEATURES))
    macro = f"{sql_function_name('bench_model')}({arguments_sql})"

    began = time.perf_counter()
    connection.execute(f"select {macro} from features limit 1").fetchall()
    figures["duckdb_sql_macro_bind_seconds"] = time.perf_counter() - began
    reference = booster.inplace_predict(matrix)
    from_macro = connection.execute(f"select {macro} as score from features").fetchnumpy()["score"]
    figures["max_abs_difference_sql_macro_vs_xgboost"] = float(np.max(np.abs(from_macro - reference)))

    timings = {
        "xgboost_inplace_predict": lambda: booster.inplace_predict(matrix),
        "duckdb_compiled_udf": lambda: connection.execute(f"select sum({score_call(artifact.manifest)}) from features").fetchall(),
        "duckdb_sql_macro": lambda: connection.execute(f"select sum({macro}) from features").fetchall(),
    }
    for name, function in timings.items():
        figures[f"{name}_rows_per_second"] = arguments.rows / best_seconds(function, arguments.repeats)
    baseline = figures["xgboost_inplace_predict_rows_per_second"]
    for name in ("duckdb_compiled_udf", "duckdb_sql_macro"):
        figures[f"ratio_{name}_vs_xgboost_inplace_predict"] = figures[f"{name}_rows_per_second"] / baseline
    figures["ratio_duckdb_sql_macro_vs_duckdb_compiled_udf"] = figures["duckdb_sql_macro_rows_per_second"] / figures["duckdb_compiled_udf_rows_per_second"]
    if arguments.spark:
        figures.update(spark_figures(matrix, work, arguments.repeats, baseline, reference))
    figures["rows"] = arguments.rows
    figures["cpu_count"] = os.cpu_count() or 0

    print_and_write(figures, RESULTS)


if __name__ == "__main__":
    main()
