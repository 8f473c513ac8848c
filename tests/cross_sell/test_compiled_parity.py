"""A custom-objective booster compiled and called from SQL returns Python's sigmoid(margin),
NULL / NaN inputs and the base score included; the manifest records the transform."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
import xgboost

from scoring.cross_sell_objectives import constant_margin, sigmoid, xgboost_objective
from scoring.errors import ModelTrainingError
from scoring.model_publishing import publish_model
from udfs import ModelRegistry, register_models


@pytest.fixture(scope="module")
def payoff_booster():
    rng = np.random.default_rng(11)
    features = rng.normal(size=(600, 3))
    features[rng.random((600, 3)) < 0.15] = np.nan
    accepted = (rng.random(600) < sigmoid(np.nan_to_num(features[:, 0]) - 1.5)).astype(float)
    revenue = accepted * np.exp(2 + np.nan_to_num(features[:, 1]))
    cost = np.full(600, 2.0)
    parameters = {"max_depth": 3, "eta": 0.3, "nthread": 1, "base_score": constant_margin(revenue, cost, accepted, kind="expected_payoff")}
    booster = xgboost.train(parameters, xgboost.DMatrix(features, label=accepted, missing=np.nan), 15,
                            obj=xgboost_objective(revenue, cost, accepted, kind="expected_payoff"))
    return booster, features, parameters["base_score"]


def test_compiled_model_in_sql_returns_the_python_probability(tmp_path, payoff_booster):
    booster, features, base_score = payoff_booster
    artifact = publish_model(tmp_path, "toy_payoff", booster, [("a", "double"), ("b", "double"), ("c", "double")],
                             objective="custom:expected_payoff", output_transform="sigmoid")
    manifest = json.loads((artifact.directory / "manifest.json").read_text())
    assert manifest["objective"] == "custom:expected_payoff"
    assert manifest["output"]["kind"] == "probability" and manifest["output"]["transform"] == "sigmoid"
    assert manifest["output"]["base_score_margin"] == pytest.approx(base_score, abs=1e-6)

    probe = np.vstack([features[:200], [[np.nan, np.nan, np.nan]], [[0.0, np.nan, 5.0]]])
    python = sigmoid(booster.predict(xgboost.DMatrix(probe, missing=np.nan), output_margin=True))
    with duckdb.connect() as connection:
        register_models(connection, ModelRegistry(tmp_path))
        connection.register("probe", {name: probe[:, index] for index, name in enumerate("abc")})
        # NaN as SQL NULL in half of the columns, as NaN in the other: both mean "missing".
        sql = connection.execute(
            "select score_toy_payoff(case when isnan(a) then null else a end, b, case when isnan(c) then null else c end) from probe"
        ).fetchnumpy()
    scores = np.asarray(next(iter(sql.values())), dtype=np.float64)
    np.testing.assert_allclose(scores, python, atol=1e-6)
    # All missing: only the base score and the default branches, still the same p.
    assert scores[200] == pytest.approx(python[200], abs=1e-6)


def test_publishing_a_transform_on_a_built_in_objective_is_refused(tmp_path):
    rows = np.arange(20, dtype=float).reshape(-1, 2)
    booster = xgboost.train({"objective": "binary:logistic", "nthread": 1}, xgboost.DMatrix(rows, label=rows[:, 0] > 9), 2)
    with pytest.raises(ModelTrainingError, match="already transforms its output: publish it without one"):
        publish_model(tmp_path, "toy", booster, [("a", "double"), ("b", "double")], output_transform="sigmoid")
    with pytest.raises(ModelTrainingError, match="output transform 'softplus' is not supported"):
        publish_model(tmp_path, "toy", booster, [("a", "double"), ("b", "double")], output_transform="softplus")
