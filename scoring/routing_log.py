"""Logged routing decisions for IPW routing: context, logged gateway, outcome, propensity; and the
inverse-propensity bootstrap that turns them into a K+1-class training set.

Classes (K gateways, in the order given): a logged attempt approved on gateway k is class k; a
declined attempt is class K, the failure class, whatever its gateway. Naively, a multiclass model
of these labels learns P(k logged and approved | x) = mu(k | x) P(approve | x, k): the logging
policy's routing frequency mu leaks into the scores (40% x 0.75 = 0.30 < 60% x 0.60 = 0.36). The
IPW bootstrap removes mu: for each gateway k, each of J samples draws, with replacement,
round(c * sum of 1/propensity over k's rows) of k's rows with probability proportional to
1/propensity, where c = n / sum of all weights keeps a sample about n rows. In expectation every
gateway then appears once per context where it was eligible, so the class-k score is
proportional to P(approve | x, k) and its argmax over eligible gateways is the best gateway. The J
samples are concatenated (a larger J approximates the weighted data more closely).

With `strata` (labels no finer than the eligibility rule), the weights are post-stratified
(`ipw_weights`): within each stratum every gateway's weights sum to the stratum's row count, which
removes the noise of how many rows each gateway happened to be logged on; `estimated=True` also
replaces the logged propensities by each gateway's share of the stratum's rows.

Rows whose propensity is NULL, NaN, <= 0 or > 1 are excluded, counted and warned about.

>>> import pyarrow as pa, warnings
>>> table = pa.table({"x": [0.0, 1.0, 2.0, 3.0], "gateway": ["gw_a", "gw_b", "gw_b", "gw_a"],
...     "is_approved": [True, False, True, True], "decision_propensity": [0.4, 0.6, None, 0.4]})
>>> with warnings.catch_warnings(record=True):
...     warnings.simplefilter("always")
...     log = routing_log_from_table(table, ["x"], gateways=("gw_a", "gw_b"))
>>> log.excluded, routing_classes(log).tolist()
({'propensity NULL, NaN, <= 0 or > 1': 1}, [0, 2, 0])
>>> sample = ipw_bootstrap(log, samples_per_gateway=2, random_state=0)
>>> sample.features.shape[1], set(sample.classes.tolist()) <= {0, 1, 2}
(1, True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from scoring.errors import ExcludedRowsWarning, RoutingError
from scoring.sql_identifiers import column_sql, relation_sql

__all__ = ["RoutingLog", "RoutingSample", "routing_log_from_table", "load_routing_log", "routing_classes", "ipw_bootstrap", "ipw_weights",
           "naive_sample", "ROUTING_TRAINING_SET", "FAILURE_CLASS"]

ROUTING_TRAINING_SET = "training.training_routing"
#: Name of the failure class (class K) in model outputs.
FAILURE_CLASS = "declined"
_BAD_PROPENSITY = "propensity NULL, NaN, <= 0 or > 1"


@dataclass(frozen=True)
class RoutingLog:
    """Logged routing decisions: features (n, d) float64 (NaN = missing), gateway index into
    `gateways`, outcome, propensity of the logged gateway; `excluded` counts rows left out."""

    feature_names: tuple[str, ...]
    gateways: tuple[str, ...]
    features: np.ndarray
    gateway: np.ndarray
    approved: np.ndarray
    propensity: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.gateway)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The K + 1 class names: the gateways, then FAILURE_CLASS."""
        return (*self.gateways, FAILURE_CLASS)


@dataclass(frozen=True)
class RoutingSample:
    """A training set of (features, class) rows, classes in 0..K (K = failure)."""

    features: np.ndarray
    classes: np.ndarray
    class_names: tuple[str, ...]


def _column(table: pa.Table, name: str, what: str) -> np.ndarray:
    if name not in table.column_names:
        raise RoutingError(f"the routing log lacks the {what} column {name!r}; it has {', '.join(table.column_names)}")
    return table[name].to_numpy(zero_copy_only=False)


def routing_log_from_table(
    table: Any,
    feature_columns: Sequence[str],
    *,
    gateway_column: str = "gateway",
    outcome_column: str = "is_approved",
    propensity_column: str = "decision_propensity",
    gateways: Sequence[str] | None = None,
) -> RoutingLog:
    """A RoutingLog from an Arrow table or pandas DataFrame (one row per logged attempt).

    gateways: the model's gateways in class order (default: the logged ones, sorted); a logged
    gateway outside them is an error. Rows with a bad propensity or a NULL gateway / outcome are
    excluded and warned about.
    """
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False) if hasattr(table, "to_records") else pa.table(table)
    logged = np.asarray(_column(table, gateway_column, "gateway"), dtype=object)
    outcome = _column(table, outcome_column, "outcome")
    propensity = np.asarray(_column(table, propensity_column, "propensity"), dtype=np.float64)
    features = np.column_stack([np.asarray(_column(table, name, "feature"), dtype=np.float64) for name in feature_columns]) \
        if feature_columns else np.zeros((table.num_rows, 0))
    names = tuple(gateways) if gateways is not None else tuple(sorted({str(g) for g in logged if g is not None}))
    if len(names) < 2:
        raise RoutingError(f"routing needs at least two gateways, got {list(names)}; pass gateways=(...) or log more than one")
    unknown = sorted({str(g) for g in logged if g is not None and g not in names})
    if unknown:
        raise RoutingError(f"logged gateway(s) {', '.join(unknown)} are not among the model's gateways {', '.join(names)}; "
                           "pass them in gateways=(...) or filter those rows out")
    outcome_missing = np.array([value is None for value in outcome]) if outcome.dtype == object else np.zeros(len(outcome), bool)
    bad = ~((propensity > 0) & (propensity <= 1))
    reasons = {_BAD_PROPENSITY: int(bad.sum()),
               "gateway or outcome NULL": int((~bad & (np.array([g is None for g in logged]) | outcome_missing)).sum())}
    keep = ~bad & np.array([g is not None for g in logged]) & ~outcome_missing
    excluded = {reason: count for reason, count in reasons.items() if count}
    if excluded:
        detail = ", ".join(f"{count} {reason}" for reason, count in excluded.items())
        warnings.warn(f"{sum(excluded.values())} of {table.num_rows} logged routing rows excluded ({detail})", ExcludedRowsWarning, stacklevel=2)
    lookup = {name: index for index, name in enumerate(names)}
    return RoutingLog(
        feature_names=tuple(feature_columns), gateways=names, features=features[keep],
        gateway=np.array([lookup[g] for g in logged[keep]], dtype=np.int64),
        approved=np.asarray(outcome[keep], dtype=bool), propensity=propensity[keep], excluded=excluded,
    )


def load_routing_log(connection: duckdb.DuckDBPyConnection, feature_columns: Sequence[str], *,
                     relation: str = ROUTING_TRAINING_SET, gateways: Sequence[str] | None = None, where: str | None = None) -> RoutingLog:
    """The routing log from a relation with the features, `gateway`, `is_approved` and `decision_propensity`
    (default: the dbt view training.training_routing), in (attempted_at, attempt_id) order when it has them.

    `relation` (optionally schema-qualified) and the feature columns are quoted SQL identifiers; a name
    that is not one raises InvalidIdentifierError. `where` is a SQL condition, written by the caller."""
    source = relation_sql(relation, what="routing log relation")
    features = [column_sql(name, what="routing feature column") for name in feature_columns]
    columns = {row[0] for row in connection.execute(f"describe {source}").fetchall()}
    order = " order by attempted_at, attempt_id" if {"attempted_at", "attempt_id"} <= columns else ""
    selected = ", ".join([*features, "gateway", "is_approved", "decision_propensity"])
    query = f"select {selected} from {source}" + (f" where {where}" if where else "") + order
    return routing_log_from_table(connection.sql(query).to_arrow_table(), feature_columns, gateways=gateways)


def routing_classes(log: RoutingLog) -> np.ndarray:
    """Class per row: the gateway index when approved, K (the failure class) when declined."""
    return np.where(log.approved, log.gateway, len(log.gateways))


def naive_sample(log: RoutingLog) -> RoutingSample:
    """The logged rows as they are (no reweighting): the biased baseline."""
    return RoutingSample(log.features, routing_classes(log), log.class_names)


def ipw_weights(log: RoutingLog, strata: np.ndarray | None = None, *, estimated: bool = False) -> np.ndarray:
    """1 / propensity per row; with `strata` (one label per row), post-stratified: within each
    stratum s and gateway k, the weights of k's rows are rescaled to sum to the stratum's row count.

    Sum over k's rows of 1/propensity estimates how many of the stratum's contexts k could have
    served; its noise (how many rows happened to be logged on k) is larger than a few points of
    approval gap in a stratum of a few hundred rows, and it leaks into the class-k score. When
    every gateway is eligible for all of a stratum's rows or for none (strata no finer than the
    eligibility rule, e.g. network x issuer country x transaction type), the stratum's row count
    is that number exactly, so the rescaled weights remove the noise (a Hajek estimator per stratum).

    `estimated=True` (with strata) uses propensities estimated per stratum, each gateway's share
    of the stratum's logged rows, instead of the logged ones: every row of k in s then weighs
    (rows of s) / (rows of k in s). Valid when the logging policy's propensity depends on the
    context only through the stratum (it may change over time, e.g. between model versions);
    lower variance than the logged propensities when a few explored rows would carry weights of 20+.

    >>> import numpy as np
    >>> log = RoutingLog(("x",), ("a", "b"), np.zeros((3, 1)), np.array([0, 0, 1]), np.ones(3, bool), np.array([0.9, 0.1, 0.5]))
    >>> ipw_weights(log).round(3).tolist(), ipw_weights(log, np.zeros(3)).round(3).tolist()
    ([1.111, 10.0, 2.0], [0.3, 2.7, 3.0])
    >>> ipw_weights(log, np.zeros(3), estimated=True).tolist()
    [1.5, 1.5, 3.0]
    """
    if estimated and strata is None:
        raise RoutingError("estimated propensities are shares per stratum; pass strata (one label per row) as well")
    weights = 1.0 / log.propensity
    if strata is None:
        return weights
    if estimated:
        weights = np.ones(len(log))
    strata = np.asarray(strata)
    if strata.shape != (len(log),):
        raise RoutingError(f"strata must hold one label per usable row of the log ({len(log)}), got shape {strata.shape}")
    _, stratum = np.unique(strata, return_inverse=True)
    cell = stratum * len(log.gateways) + log.gateway
    stratum_rows = np.bincount(stratum)[stratum]
    return weights * stratum_rows / np.bincount(cell, weights=weights)[cell]


def ipw_bootstrap(log: RoutingLog, *, samples_per_gateway: int = 5, random_state: int = 0,
                  strata: np.ndarray | None = None, estimated: bool = False) -> RoutingSample:
    """J = `samples_per_gateway` inverse-propensity bootstrap samples per gateway, concatenated
    (sizes and draws in the module docstring), with `ipw_weights(log, strata)`. Deterministic for
    a given `random_state`."""
    if samples_per_gateway < 1:
        raise RoutingError(f"samples_per_gateway must be >= 1, got {samples_per_gateway}")
    if len(log) == 0:
        raise RoutingError("the routing log has no usable rows (every propensity was missing or invalid); nothing to train on")
    rng = np.random.default_rng(random_state)
    weights = ipw_weights(log, strata, estimated=estimated)
    scale = len(log) / weights.sum()
    classes = routing_classes(log)
    picked: list[np.ndarray] = []
    for gateway in range(len(log.gateways)):
        rows = np.flatnonzero(log.gateway == gateway)
        if len(rows) == 0:
            raise RoutingError(f"gateway {log.gateways[gateway]!r} has no logged rows with a valid propensity: its approval "
                               "cannot be learned; leave it out of gateways=(...) or log traffic on it")
        size = max(1, int(round(scale * weights[rows].sum())))
        probabilities = weights[rows] / weights[rows].sum()
        for _ in range(samples_per_gateway):
            picked.append(rows[rng.choice(len(rows), size=size, replace=True, p=probabilities)])
    index = np.concatenate(picked)
    return RoutingSample(log.features[index], classes[index], log.class_names)
