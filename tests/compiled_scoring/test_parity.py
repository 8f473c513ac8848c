"""Compiled scores equal XGBoost's and Treelite's, from Python and from SQL, on hard inputs."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import treelite
import xgboost

from tests.compiled_scoring.conftest import FEATURES, training_rows
from udfs.duckdb_functions import register_models
from udfs.errors import ScoringInputError
from udfs.sql_calls import score_call

PROBABILITY_TOLERANCE = 1e-6
MARGIN_TOLERANCE = 1e-5


def threshold_rows(booster: xgboost.Booster) -> np.ndarray:
    """One row per split: every feature set to that split's threshold exactly (as float32 sees it)."""
    dump = json.loads(treelite.frontend.from_xgboost(booster).dump_as_json())
    thresholds = [(node["split_feature_id"], node["threshold"]) for tree in dump["trees"] for node in tree["nodes"] if "threshold" in node]
    assert len(thresholds) > 50
    rows = np.tile(training_rows(1, seed=3), (len(thresholds), 1))
    for index, (feature, threshold) in enumerate(thresholds):
        rows[index, feature] = threshold
        rows[index, (feature + 1) % FEATURES] = threshold  # and a neighbour, on a value it may not split on
    return rows


def hard_rows(booster: xgboost.Booster) -> np.ndarray:
    """Thresholds exactly, an all-missing row (the base score plus default paths), float32 extremes,
    random rows. (XGBoost refuses +-inf as input, so there is nothing to compare them with.)"""
    special = np.array([
        [np.nan] * FEATURES,
        [3e38] * FEATURES,
        [-3e38] * FEATURES,
        [0.0] * FEATURES,
        [1e30] * FEATURES,
        [-1e-30] * FEATURES,
    ])
    return np.vstack([threshold_rows(booster), special, training_rows(3000, seed=11)])


def as_table(rows: np.ndarray, names: list[str], null_mask: np.ndarray | None = None) -> pa.Table:
    """Arrow table; NaN stays NaN, except where null_mask marks a SQL NULL."""
    columns = {}
    for index, name in enumerate(names):
        mask = null_mask[:, index] if null_mask is not None else None
        columns[name] = pa.array(rows[:, index], mask=mask)
    return pa.table(columns)


def sql_scores(registry_root, table: pa.Table, model) -> np.ndarray:
    connection = duckdb.connect()
    register_models(connection, registry_root)
    connection.register("features_arrow", table)
    connection.execute("create table features as select * from features_arrow")
    call = score_call(model.artifact.manifest, relation_alias="features")
    result = connection.sql(f"select {call} as score from features").to_arrow_table()["score"]
    return result


def test_binary_scores_match_xgboost_and_gtil_on_thresholds_nan_and_extremes(binary_model):
    rows = hard_rows(binary_model.booster)
    expected = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    expected_margin = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan), output_margin=True)
    gtil = treelite.gtil.predict(treelite.frontend.from_xgboost(binary_model.booster), rows.astype(np.float32)).reshape(-1)
    columns = [rows[:, index] for index in range(FEATURES)]
    compiled = binary_model.artifact.forest.predict(columns)[:, 0]
    margin = binary_model.artifact.forest.predict(columns, margin=True)[:, 0]
    assert np.max(np.abs(compiled - expected)) <= PROBABILITY_TOLERANCE
    assert np.max(np.abs(compiled - gtil)) <= PROBABILITY_TOLERANCE
    assert np.max(np.abs(margin - expected_margin)) <= MARGIN_TOLERANCE
    assert ((compiled > 0.5) == (expected > 0.5)).all()


def test_all_missing_row_scores_the_default_path_from_the_base_score(binary_model):
    row = np.full((1, FEATURES), np.nan)
    expected = binary_model.booster.predict(xgboost.DMatrix(row, missing=np.nan), output_margin=True)[0]
    compiled = binary_model.artifact.forest.predict([row[:, index] for index in range(FEATURES)], margin=True)[0, 0]
    assert abs(compiled - expected) <= MARGIN_TOLERANCE
    base_score = float(json.loads(binary_model.booster.save_config())["learner"]["learner_model_param"]["base_score"].strip("[]"))
    assert compiled != pytest.approx(np.log(base_score / (1 - base_score)), abs=1e-3)  # the trees do add to the base score


def test_sql_null_is_missing_exactly_like_nan(registry_root, binary_model):
    rows = hard_rows(binary_model.booster)
    null_mask = np.random.default_rng(5).random(rows.shape) < 0.2
    with_nan = rows.copy()
    with_nan[null_mask] = np.nan
    expected = binary_model.booster.predict(xgboost.DMatrix(with_nan, missing=np.nan))
    scores = sql_scores(registry_root, as_table(rows, binary_model.feature_names, null_mask), binary_model)
    assert scores.null_count == 0
    assert np.max(np.abs(scores.to_numpy() - expected)) <= PROBABILITY_TOLERANCE


def test_sql_single_row_and_empty_table(registry_root, binary_model):
    row = training_rows(1, seed=8)
    expected = binary_model.booster.predict(xgboost.DMatrix(row, missing=np.nan))
    single = sql_scores(registry_root, as_table(row, binary_model.feature_names), binary_model)
    assert len(single) == 1 and abs(single[0].as_py() - expected[0]) <= PROBABILITY_TOLERANCE
    empty = sql_scores(registry_root, as_table(row[:0], binary_model.feature_names), binary_model)
    assert len(empty) == 0


def test_sql_one_million_rows_match(registry_root, binary_model):
    rng = np.random.default_rng(21)
    rows = np.round(rng.normal(size=(1_000_000, FEATURES)), 1)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    expected = binary_model.booster.inplace_predict(rows)
    scores = sql_scores(registry_root, as_table(rows, binary_model.feature_names), binary_model).to_numpy()
    assert scores.shape == expected.shape
    assert np.max(np.abs(scores - expected)) <= PROBABILITY_TOLERANCE


def test_multiclass_returns_named_class_probabilities_and_identical_classes(registry_root, multiclass_model):
    rows = hard_rows(multiclass_model.booster)
    expected = multiclass_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    scores = sql_scores(registry_root, as_table(rows, multiclass_model.feature_names), multiclass_model)
    classes = ["insufficient_funds", "do_not_honor", "hard_decline", "technical"]
    assert [field.name for field in scores.type] == classes
    scores = scores.combine_chunks()
    matrix = np.column_stack([scores.field(name).to_numpy(zero_copy_only=False) for name in classes])
    assert np.max(np.abs(matrix - expected)) <= PROBABILITY_TOLERANCE
    assert (matrix.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-5)


def test_regression_values_match(registry_root, regression_model):
    rows = hard_rows(regression_model.booster)
    expected = regression_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    scores = sql_scores(registry_root, as_table(rows, regression_model.feature_names), regression_model).to_numpy()
    assert np.max(np.abs(scores - expected) / np.maximum(1.0, np.abs(expected))) <= MARGIN_TOLERANCE


def test_tl2cgen_backend_gives_the_same_scores(tmp_path, binary_model):
    from scoring.forest_compiler import compile_forest
    from udfs.compiled_forest import CompiledForest

    model = treelite.frontend.from_xgboost(binary_model.booster)
    library = compile_forest(model, tmp_path, backend="tl2cgen", tl2cgen_params={"parallel_comp": 2}).library
    rows = hard_rows(binary_model.booster)
    columns = [rows[:, index] for index in range(FEATURES)]
    reference = binary_model.artifact.forest.predict(columns)
    assert np.max(np.abs(CompiledForest(library).predict(columns) - reference)) <= PROBABILITY_TOLERANCE


def test_threaded_prediction_equals_single_threaded(binary_model):
    rows = training_rows(50_000, seed=2)
    columns = [rows[:, index] for index in range(FEATURES)]
    forest = binary_model.artifact.forest
    assert np.array_equal(forest.predict(columns, threads=1), forest.predict(columns, threads=2))


@pytest.mark.parametrize("model_fixture", ["binary_model", "multiclass_model"])
def test_matrix_fast_path_equals_xgboost_and_the_columnar_path(request, model_fixture):
    """predict_matrix (the online path: a row-major matrix, no Arrow) on thresholds, NaN and extremes."""
    model = request.getfixturevalue(model_fixture)
    rows = hard_rows(model.booster)
    expected = model.booster.predict(xgboost.DMatrix(rows, missing=np.nan)).reshape(len(rows), -1)
    fast = model.artifact.forest.predict_matrix(np.ascontiguousarray(rows))
    columnar = model.artifact.forest.predict([rows[:, index] for index in range(FEATURES)])
    assert np.array_equal(fast, columnar)
    assert np.max(np.abs(fast - expected)) <= PROBABILITY_TOLERANCE
    for index in (0, len(rows) - 1):  # one row alone, as the decision service calls it
        assert np.array_equal(model.artifact.forest.predict_matrix(rows[index: index + 1]), columnar[index: index + 1])
    assert model.artifact.forest.predict_matrix(np.empty((0, FEATURES))).shape == (0, columnar.shape[1])
    with pytest.raises(ScoringInputError, match=rf"expected a \(rows, {FEATURES}\) matrix of features; got shape \(3, 2\)"):
        model.artifact.forest.predict_matrix(np.zeros((3, 2)))
