"""The bandit's oracle: an XGBoost model of P(approve | context, optimisation action), trained on the
logged decisions with inverse-propensity sample weights and published as a compiled UDF.

The oracle's features are the context features, then ACTION_FEATURES, the action's encodings
(the same as `int_authorization_features`: 1 when the '+'-joined optimisation set contains the
optimisation). Each logged row is weighted 1 / propensity of its logged action (Adyen: the
logged action's probability becomes an inverse-propensity sample weight at the next
retraining), optionally capped at `max_weight`; rows with a propensity NULL, NaN, <= 0 or > 1
are excluded and warned about.

>>> action_encodings(["none", "3ds+network_token"]).tolist()
[[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
>>> action_encoding_sql("e.action")[0]
"cast(contains('+' || e.action || '+', '+3ds+') as integer)"
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from payloom_sim.actions import optimization_codes
from payloom_sim.constants import OPTIMIZATION_FLAGS, OPTIMIZATION_SETS
from payloom_sim.errors import SimulatorError
from scoring.errors import ExcludedRowsWarning, RoutingError
from scoring.model_publishing import publish_model
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

__all__ = ["ACTION_FEATURES", "action_encodings", "action_encoding_sql", "check_actions", "train_oracle", "publish_oracle"]

#: The action's encodings, in the oracle's input order after the context features.
ACTION_FEATURES: tuple[str, ...] = ("uses_3ds", "uses_iso_format", "uses_network_token", "uses_retry")
_OPTIMIZATION_OF = {"uses_3ds": "3ds", "uses_iso_format": "iso_format", "uses_network_token": "network_token", "uses_retry": "retry"}


def check_actions(actions: Sequence[str]) -> np.ndarray:
    """Codes of optimisation-set actions; an unknown action is a RoutingError that lists the valid ones."""
    try:
        return optimization_codes(np.asarray(list(actions), dtype=object))
    except SimulatorError as error:
        raise RoutingError(f"{error}; the oracle encodes only these actions: {', '.join(OPTIMIZATION_SETS)}") from None


def action_encodings(actions: Sequence[str]) -> np.ndarray:
    """(n, 4) float64 encodings of optimisation-set actions, in ACTION_FEATURES order."""
    codes = check_actions(actions)
    order = [("3ds", "iso_format", "network_token", "retry").index(_OPTIMIZATION_OF[name]) for name in ACTION_FEATURES]
    return OPTIMIZATION_FLAGS[codes][:, order].astype(np.float64).reshape(len(codes), len(ACTION_FEATURES))


def action_encoding_sql(action_sql: str) -> list[str]:
    """SQL expressions of ACTION_FEATURES over a VARCHAR action expression."""
    return [f"cast(contains('+' || {action_sql} || '+', '+{_OPTIMIZATION_OF[name]}+') as integer)" for name in ACTION_FEATURES]


def train_oracle(
    context: np.ndarray,
    actions: Sequence[str],
    approved: np.ndarray,
    propensity: np.ndarray,
    *,
    max_weight: float | None = None,
    num_boost_round: int = 60,
    max_depth: int = 4,
    nthread: int = 1,
    random_state: int = 0,
    params: dict[str, Any] | None = None,
) -> "xgboost.Booster":
    """A binary:logistic booster on [context, action encodings], weights 1 / propensity."""
    import xgboost  # training only: the in-process decisions (scoring.bandit_decisions) do not need it

    context = np.asarray(context, dtype=np.float64)
    propensity = np.asarray(propensity, dtype=np.float64)
    if not (len(context) == len(actions) == len(approved) == len(propensity)):
        raise RoutingError(f"context, actions, approved and propensity must have one row each per logged decision; got "
                           f"{len(context)}, {len(actions)}, {len(approved)}, {len(propensity)}")
    keep = (propensity > 0) & (propensity <= 1)
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(keep)} logged decisions excluded from the oracle's training "
                      "(propensity NULL, NaN, <= 0 or > 1)", ExcludedRowsWarning, stacklevel=2)
    if not keep.any():
        raise RoutingError("no logged decision has a usable propensity; the oracle cannot be weighted")
    weights = 1.0 / propensity[keep]
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
    features = np.column_stack([context[keep], action_encodings(np.asarray(actions, dtype=object)[keep])])
    matrix = xgboost.DMatrix(features, label=np.asarray(approved, dtype=np.float64)[keep], weight=weights, missing=np.nan)
    settings = {"objective": "binary:logistic", "max_depth": max_depth, "eta": 0.2, "nthread": nthread, "seed": random_state,
                "min_child_weight": 5.0, **(params or {})}
    return xgboost.train(settings, matrix, num_boost_round)


def publish_oracle(registry: ModelRegistry | Path | str, name: str, booster: "xgboost.Booster", context_features: Sequence[str], *,
                   training_data: dict[str, Any] | None = None, promote: bool = True) -> ModelArtifact:
    """Compile and publish the oracle: `score_<name>(<context features>, <ACTION_FEATURES>)` -> P(approve)."""
    features = [(feature, "double") for feature in (*context_features, *ACTION_FEATURES)]
    return publish_model(registry, name, booster, features, classes=["declined", "approved"], training_data=training_data,
                         parameters={"kind": "bandit_oracle", "action_features": list(ACTION_FEATURES)}, promote=promote)
