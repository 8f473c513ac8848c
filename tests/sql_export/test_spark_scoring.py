"""Batch scoring on a real local Spark: the compiled model in an Arrow UDF and the Spark SQL export
give the scores of DuckDB's UDF and of XGBoost, on split thresholds, NaN, NULL and extremes."""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pytest
import xgboost

from scoring.errors import ScoringInputError
from scoring.spark_scoring import score_with_compiled_model, score_with_sql_export
from tests.compiled_scoring.test_parity import as_table, hard_rows, sql_scores

pytestmark = pytest.mark.spark

TOLERANCE = 1e-6  # probabilities
VALUE_TOLERANCE = 1e-5  # regression values (float32 sums of leaves around 1-10)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The Python workers must import payloom: this interpreter, not the system's python3.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("payloom-spark-scoring")
               .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    yield session


def spark_frame(spark, rows: np.ndarray, names: list[str], null_mask: np.ndarray):
    """A Spark DataFrame of `rows` with a row_id; NaN stays NaN, null_mask marks SQL NULLs."""
    table = as_table(rows, names, null_mask).append_column("row_id", pa.array(np.arange(len(rows)), pa.int64()))
    return spark.createDataFrame(table)  # from Arrow: NULL and NaN stay distinct


@pytest.mark.parametrize("model_fixture", ["binary_model", "multiclass_model", "regression_model"])
def test_arrow_udf_and_sql_export_on_spark_equal_duckdb_and_xgboost(spark, registry_root, request, model_fixture):
    model = request.getfixturevalue(model_fixture)
    name = model.artifact.manifest.name
    tolerance = VALUE_TOLERANCE if model.artifact.manifest.output["kind"] == "value" else TOLERANCE
    rows = hard_rows(model.booster)[:1500]
    null_mask = np.zeros(rows.shape, dtype=bool)
    null_mask[1::7, 2] = True  # SQL NULLs as well as NaNs
    rows_for_xgboost = np.where(null_mask, np.nan, rows)
    expected = model.booster.predict(xgboost.DMatrix(rows_for_xgboost, missing=np.nan))
    duckdb_column = sql_scores(registry_root, as_table(rows, model.feature_names, null_mask), model).combine_chunks()
    duckdb_scores = (np.column_stack([duckdb_column.field(index).to_numpy(zero_copy_only=False) for index in range(expected.shape[1])])
                     if expected.ndim == 2 else duckdb_column.to_numpy(zero_copy_only=False))
    assert np.max(np.abs(duckdb_scores - expected)) <= tolerance

    frame = spark_frame(spark, rows, model.feature_names, null_mask)
    assert frame.filter(f"{model.feature_names[2]} is null").count() == null_mask[:, 2].sum()
    compiled = score_with_compiled_model(frame, registry_root, name).orderBy("row_id").toPandas()
    frame.createOrReplaceTempView("features")
    exported = score_with_sql_export(spark, registry_root, name, "features", keep_columns=["row_id"]).orderBy("row_id").toPandas()
    for got_frame in (compiled, exported):
        column = got_frame[f"score_{name}"]
        got = (np.array([[row[c] for c in model.artifact.manifest.class_names] for row in column])
               if expected.ndim == 2 else column.to_numpy(dtype=np.float64))
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) <= tolerance
        assert np.max(np.abs(got - duckdb_scores)) <= tolerance


def test_missing_columns_and_taken_output_name_say_what_to_do(spark, registry_root, binary_model):
    names = binary_model.feature_names
    frame = spark_frame(spark, np.zeros((3, len(names))), names, np.zeros((3, len(names)), bool))
    with pytest.raises(ScoringInputError, match=rf"needs columns {names[0]}; the DataFrame has"):
        score_with_compiled_model(frame.drop(names[0]), registry_root, "binary_toy")
    with pytest.raises(ScoringInputError, match="already has a column 'row_id'; pass another output_column"):
        score_with_compiled_model(frame, registry_root, "binary_toy", output_column="row_id")
