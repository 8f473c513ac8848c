"""Batch scoring on a real local Spark: the compiled model in an Arrow UDF, the Spark SQL export and
the model as Spark SQL functions give the scores of DuckDB's UDF and of XGBoost, on split
thresholds, NaN, NULL and extremes; the decline policy as a Spark function picks the actions of
the DuckDB macro and of Python."""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pytest
import xgboost

from scoring.errors import ScoringInputError
from scoring.spark_score_functions import score_function_statements
from scoring.spark_scoring import score_with_compiled_model, score_with_sql_export
from tests.compiled_scoring.test_parity import as_table, hard_rows, sql_scores
from udfs.decline_actions import TYPE_FIELDS, DeclineActionPolicy, decline_action_spark_function, register_decline_action
from udfs.sql_calls import score_call

pytestmark = pytest.mark.spark

TOLERANCE = 1e-6  # probabilities
VALUE_TOLERANCE = 1e-5  # regression values (float32 sums of leaves around 1-10)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The Python workers must import payloom: this interpreter, not the system's python3
    # (tests/conftest.py sets it for the process; a session started earlier keeps what it had).
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
    for statement in score_function_statements([model.artifact]):
        spark.sql(statement)
    call = score_call(model.artifact.manifest, relation_alias="features", dialect="spark")
    functions = spark.sql(f"select row_id, {call} as score_{name} from features order by row_id").toPandas()
    for got_frame in (compiled, exported, functions):
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


def test_decline_policy_as_a_spark_function_picks_the_duckdb_and_python_actions(spark):
    import duckdb

    policy = {"kind": "decline_action", "thresholds": {"stand_in_approval": 0.03, "step_up_authentication": 0.3,
              "offer_other_instrument": 0.4}, "outage_ratio": 0.6, "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1}
    classes = list(reversed(TYPE_FIELDS))  # the type model's order, whatever it is
    generator = np.random.default_rng(3)
    rows = 2_000
    inputs = {
        "p_decline": generator.uniform(0, 1, rows), "other_approved_cards": generator.integers(0, 3, rows).astype(float),
        "attempts_before": generator.integers(0, 30, rows).astype(float), "decline_ratio_90d": generator.uniform(0, 0.3, rows),
        "approval_rate_1h": generator.uniform(0, 1, rows), "approval_rate_7d": generator.uniform(0.5, 1, rows),
        **{f"type_{name}": generator.dirichlet(np.ones(len(classes)), rows)[:, 0] for name in classes},
    }
    inputs["p_decline"][::11] = np.nan
    inputs["decline_ratio_90d"][::7] = np.nan
    table = pa.table({"row_id": np.arange(rows), **{name: pa.array(values, from_pandas=True) for name, values in inputs.items()}})
    struct = ", ".join(f"'{name}', type_{name}" for name in classes)
    arguments = (f"p_decline, named_struct({struct}), other_approved_cards, attempts_before, decline_ratio_90d, "
                 "approval_rate_1h, approval_rate_7d")

    spark.sql(decline_action_spark_function("toy_decline", policy, classes))
    spark.createDataFrame(table).createOrReplaceTempView("policy_inputs")
    on_spark = spark.sql(f"select row_id, decline_action_toy_decline({arguments}) as action from policy_inputs order by row_id").toPandas()
    connection = duckdb.connect()
    register_decline_action(connection, "toy_decline", policy)
    connection.register("policy_inputs", table)
    duck_struct = ", ".join(f"{name} := type_{name}" for name in classes)
    on_duckdb = connection.execute(
        f"select decline_action_toy_decline({arguments.replace(f'named_struct({struct})', f'struct_pack({duck_struct})')}) "
        "from policy_inputs order by row_id").fetchall()
    parsed = DeclineActionPolicy.from_policy("toy_decline", policy)
    in_python = [
        parsed.action(inputs["p_decline"][row], {name: inputs[f"type_{name}"][row] for name in classes}, inputs["other_approved_cards"][row],
                      inputs["attempts_before"][row], inputs["decline_ratio_90d"][row], inputs["approval_rate_1h"][row], inputs["approval_rate_7d"][row])
        for row in range(rows)
    ]
    assert on_spark["action"].tolist() == [action for (action,) in on_duckdb] == in_python
    assert len(set(in_python)) == 4
