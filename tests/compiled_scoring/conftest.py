"""Small real XGBoost models, published into a temporary registry, for the compiled-scoring tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import xgboost

from scoring.model_publishing import publish_model
from udfs.model_artifact import ModelArtifact

FEATURES = 8


@dataclass
class PublishedModel:
    booster: xgboost.Booster
    artifact: ModelArtifact
    feature_names: list[str]


def training_rows(rows: int, seed: int) -> np.ndarray:
    """Features with NaN holes and many repeated values (so thresholds are hit exactly)."""
    rng = np.random.default_rng(seed)
    features = np.round(rng.normal(size=(rows, FEATURES)), 1)
    features[rng.random(features.shape) < 0.1] = np.nan
    return features


def _publish(registry, name, params, labels_of, rounds=40, classes=None) -> PublishedModel:
    features = training_rows(4000, seed=len(name))
    labels = labels_of(np.nan_to_num(features))
    booster = xgboost.train({"max_depth": 6, "eta": 0.3, "nthread": 2, **params}, xgboost.DMatrix(features, label=labels), rounds)
    names = [f"feature_{index}" for index in range(FEATURES)]
    artifact = publish_model(registry, name, booster, [(feature, "double") for feature in names], classes=classes)
    return PublishedModel(booster, artifact, names)


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory):
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="session")
def binary_model(registry_root) -> PublishedModel:
    return _publish(registry_root, "binary_toy", {"objective": "binary:logistic"},
                    lambda x: (x[:, 0] + x[:, 1] * x[:, 2] > 0.2).astype(int), classes=["approved", "declined"])


@pytest.fixture(scope="session")
def multiclass_model(registry_root) -> PublishedModel:
    return _publish(registry_root, "multiclass_toy", {"objective": "multi:softprob", "num_class": 4},
                    lambda x: np.digitize(x[:, 0] + x[:, 3], [-1.0, 0.0, 1.0]), rounds=15,
                    classes=["insufficient_funds", "do_not_honor", "hard_decline", "technical"])


@pytest.fixture(scope="session")
def regression_model(registry_root) -> PublishedModel:
    return _publish(registry_root, "regression_toy", {"objective": "reg:squarederror"},
                    lambda x: 3 * x[:, 0] - x[:, 4] ** 2)
