"""IPW routing (LinkedIn's approach): a K+1-class model of (gateway, outcome), routed by argmax.

Train (`train_routing_models`) on the inverse-propensity bootstrap of the routing log
(`scoring.routing_log`: approved on gateway k -> class k, declined -> failure class K) both
- a softmax logistic regression (`scoring.softmax_regression`), exact in plain SQL, and
- an XGBoost `multi:softprob` model, compiled and published (`publish_routing_booster`) so it
  is the DuckDB UDF `score_<model>(...)` returning STRUCT(<gateway> DOUBLE, ..., declined DOUBLE).
`weighting="naive"` trains the same models on the logged rows as they are (the biased baseline).

Route: among the eligible gateways, the one with the highest class score; the failure class is
ignored; ties go to the gateway listed first in the model's classes. In SQL the macro
`route_<model>(scores, eligible)` (from `register_routing_macros`) takes either model's STRUCT
and a VARCHAR[] of eligible gateways; `route` is the same rule in Python. An empty eligible set,
or an eligible gateway that is not one of the model's classes, is an error.

>>> import duckdb
>>> connection = duckdb.connect()
>>> register_route_macro(connection, "toy", ("gw_a", "gw_b"))
'route_toy'
>>> connection.execute("select route_toy({'gw_a': 0.3, 'gw_b': 0.36, 'declined': 0.34}, ['gw_a', 'gw_b']), "
...     "route_toy({'gw_a': 0.3, 'gw_b': 0.36, 'declined': 0.34}, ['gw_a'])").fetchone()
('gw_b', 'gw_a')
>>> route(np.array([[0.3, 0.36, 0.34]]), [["gw_a", "gw_b"]], ("gw_a", "gw_b")).tolist()
['gw_b']
>>> route(np.array([[0.3, 0.36, 0.34]]), [["gw_c"]], ("gw_a", "gw_b"))
Traceback (most recent call last):
...
scoring.errors.RoutingError: eligible gateway 'gw_c' is not among the model's classes gw_a, gw_b (failure class declined); retrain with it or leave it out of the eligible set
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import duckdb
import numpy as np
import xgboost

from scoring.errors import RoutingError
from scoring.model_publishing import publish_model
from scoring.routing_log import FAILURE_CLASS, RoutingLog, RoutingSample, ipw_bootstrap, naive_sample
from scoring.softmax_regression import SoftmaxRegression, fit_softmax_regression
from scoring.sql_identifiers import check_identifier, string_literal
from udfs.identifiers import quote_identifier
from udfs.model_artifact import ModelArtifact
from udfs.model_registry import ModelRegistry

__all__ = ["RoutingModels", "train_routing_models", "route", "register_route_macro", "register_routing_macros",
           "publish_routing_booster", "route_macro_sql"]


@dataclass(frozen=True)
class RoutingModels:
    """Both routing models trained on one sample; scores are (n, K+1) in `class_names` order."""

    weighting: str
    gateways: tuple[str, ...]
    feature_names: tuple[str, ...]
    softmax: SoftmaxRegression | None
    booster: xgboost.Booster
    training_rows: int

    @property
    def class_names(self) -> tuple[str, ...]:
        return (*self.gateways, FAILURE_CLASS)

    def softmax_scores(self, features: np.ndarray) -> np.ndarray:
        if self.softmax is None:
            raise RoutingError("these routing models were trained without the softmax regression (softmax=False); "
                               "use booster_scores or retrain with softmax=True")
        return self.softmax.predict_proba(features)

    def booster_scores(self, features: np.ndarray) -> np.ndarray:
        return self.booster.predict(xgboost.DMatrix(np.asarray(features, dtype=np.float64), missing=np.nan))


def train_routing_models(
    log: RoutingLog,
    *,
    weighting: str = "ipw",
    samples_per_gateway: int = 5,
    l2: float = 1.0,
    num_boost_round: int = 30,
    xgboost_params: dict[str, Any] | None = None,
    nthread: int = 1,
    random_state: int = 0,
    softmax: bool = True,
    strata: np.ndarray | None = None,
    estimated_propensity: bool = False,
) -> RoutingModels:
    """Train the softmax regression and the XGBoost model on the IPW bootstrap (or the naive log);
    `softmax=False` skips the softmax regression (its Newton steps cost most of the time);
    `strata` (one label per usable row) post-stratifies the IPW weights (`routing_log.ipw_weights`)."""
    if weighting not in ("ipw", "naive"):
        raise RoutingError(f"weighting must be 'ipw' or 'naive', got {weighting!r}")
    if strata is not None and weighting != "ipw":
        raise RoutingError("strata post-stratify the IPW weights; pass strata=None with weighting='naive'")
    sample: RoutingSample = (ipw_bootstrap(log, samples_per_gateway=samples_per_gateway, random_state=random_state, strata=strata,
                                           estimated=estimated_propensity)
                             if weighting == "ipw" else naive_sample(log))
    regression = fit_softmax_regression(sample.features, sample.classes, sample.class_names, log.feature_names, l2=l2) if softmax else None
    params = {"objective": "multi:softprob", "num_class": len(sample.class_names), "max_depth": 3, "eta": 0.3,
              "nthread": nthread, "seed": random_state, **(xgboost_params or {})}
    booster = xgboost.train(params, xgboost.DMatrix(sample.features, label=sample.classes, missing=np.nan), num_boost_round)
    return RoutingModels(weighting, log.gateways, log.feature_names, regression, booster, len(sample.classes))


def _eligible_mask(eligible: Sequence[Sequence[str]] | None, n: int, gateways: tuple[str, ...]) -> np.ndarray:
    if eligible is None:
        return np.ones((n, len(gateways)), dtype=bool)
    if len(eligible) != n:
        raise RoutingError(f"{n} score rows but {len(eligible)} eligible sets; pass one eligible set per row")
    lookup = {gateway: k for k, gateway in enumerate(gateways)}
    mask = np.zeros((n, len(gateways)), dtype=bool)
    for row, names in enumerate(eligible):
        if not names:
            raise RoutingError(f"row {row} has no eligible gateway; every payment needs at least one of {', '.join(gateways)}")
        for name in names:
            if name not in lookup:
                raise RoutingError(f"eligible gateway {name!r} is not among the model's classes {', '.join(gateways)} "
                                   f"(failure class {FAILURE_CLASS}); retrain with it or leave it out of the eligible set")
            mask[row, lookup[name]] = True
    return mask


def route(scores: np.ndarray, eligible: Sequence[Sequence[str]] | None, gateways: Sequence[str]) -> np.ndarray:
    """The chosen gateway per row: argmax of the eligible gateways' class scores (first class wins ties).

    scores: (n, K+1) class probabilities, failure class last; eligible: one list of gateway
    names per row (None: every gateway).
    """
    gateways = tuple(gateways)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(gateways) + 1:
        raise RoutingError(f"scores must have {len(gateways) + 1} columns ({', '.join(gateways)}, {FAILURE_CLASS}), got shape {scores.shape}")
    mask = _eligible_mask(eligible, len(scores), gateways)
    masked = np.where(mask, scores[:, : len(gateways)], -np.inf)
    return np.asarray(gateways, dtype=object)[masked.argmax(axis=1)]


def _literal(value: str) -> str:
    return string_literal(value)


def route_macro_sql(name: str, gateways: Sequence[str]) -> str:
    """`create or replace macro route_<name>(scores, eligible)`: see the module docstring.

    `name` is a plain SQL identifier (InvalidIdentifierError otherwise); gateways are string values."""
    check_identifier(name, what="routing model (macro suffix)")
    known = "[" + ", ".join(_literal(g) for g in gateways) + "]"
    candidates = "[" + ", ".join(f"{{'gateway': {_literal(g)}, 'score': struct_extract(s, {_literal(g)})}}" for g in gateways) + "]"
    unknown = f"list_filter(eligible, lambda g: not list_contains({known}, g))"
    no_gateway = _literal(f"route_{name}: no eligible gateway; every payment needs at least one of {', '.join(gateways)}")
    eligible_gateway = _literal(f"route_{name}: eligible gateway '")
    hint = _literal(f"' is not among the model's classes {', '.join(gateways)} (failure class {FAILURE_CLASS}); "
                    "retrain with it or leave it out of the eligible set")
    return f"""create or replace macro {quote_identifier(f"route_{name}", "duckdb")}(scores, eligible) as (
    case
        when eligible is null or len(eligible) = 0
            then error({no_gateway})
        when len({unknown}) > 0
            then error({eligible_gateway} || {unknown}[1] || {hint})
        else list_transform([scores], lambda s: list_reduce(
            list_filter({candidates}, lambda c: list_contains(eligible, c.gateway)),
            lambda a, b: case when b.score > a.score then b else a end).gateway)[1]
    end)"""


def register_route_macro(connection: duckdb.DuckDBPyConnection, name: str, gateways: Sequence[str]) -> str:
    """Create `route_<name>` on `connection`; returns the macro name."""
    connection.execute(route_macro_sql(name, gateways))
    return f"route_{name}"


def register_routing_macros(connection: duckdb.DuckDBPyConnection, name: str, model: SoftmaxRegression) -> list[str]:
    """`score_<name>(<features in order>)`: the softmax regression as a SQL macro returning the class
    STRUCT, and `route_<name>(scores, eligible)`. Returns both names. `name` is a plain SQL identifier
    (InvalidIdentifierError otherwise, before anything is created)."""
    check_identifier(name, what="routing model (macro suffix)")
    parameters = [f"x_{j}" for j in range(len(model.feature_names))]
    expression = model.sql_expression(dict(zip(model.feature_names, parameters)))
    connection.execute(f"create or replace macro {quote_identifier(f'score_{name}', 'duckdb')}({', '.join(parameters)}) as ({expression})")
    return [f"score_{name}", register_route_macro(connection, name, model.class_names[:-1])]


def publish_routing_booster(registry: ModelRegistry | Path | str, name: str, models: RoutingModels, *,
                            training_data: dict[str, Any] | None = None, promote: bool = True) -> ModelArtifact:
    """Compile and publish the XGBoost routing model; its UDF returns one DOUBLE per class name."""
    return publish_model(
        registry, name, models.booster, [(feature, "double") for feature in models.feature_names],
        classes=list(models.class_names), training_data={"weighting": models.weighting, "rows": models.training_rows, **(training_data or {})},
        parameters={"kind": "ipw_routing", "gateways": list(models.gateways), "failure_class": FAILURE_CLASS}, promote=promote,
    )
