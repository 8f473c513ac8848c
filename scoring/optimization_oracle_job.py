"""Train and publish the optimisation bandit's oracle for the online decision service.

The contextual bandit (Adyen's, `scoring.bandit_decisions`) needs an oracle: P(approve | context,
optimisation set). The service's context is what it already has for the decline decision: the
decline model's inputs (online features + request-time features) without the optimisation
encodings, which become the oracle's action features (`scoring.bandit_oracle.ACTION_FEATURES`).
So the oracle is trained on the same training set as the decline model
(`training.training_issuer_decline`), with

- label: approved (not declined);
- action: the logged `optimization`;
- sample weight: 1 / the logging policy's propensity of the logged choice
  (`decision_propensity` of `marts.fct_authorizations`, capped at `max_weight`); rows without a
  usable propensity (NULL, 0, > 1) are left out with a count and an ExcludedRowsWarning.

It is published as model `optimization_oracle` (`score_optimization_oracle(<context>, <action
encodings>)` in SQL), which `DeclineDecider` loads to choose an optimisation for each payment.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

import duckdb
import numpy as np

from scoring.bandit_oracle import ACTION_FEATURES, publish_oracle, train_oracle
from scoring.decline_models import DECLINE_FEATURES, load_decline_frame
from scoring.errors import ModelTrainingError
from scoring.workspace import Workspace
from udfs.model_artifact import ModelArtifact

__all__ = ["OPTIMIZATION_ORACLE", "OracleReport", "oracle_context_features", "train_optimization_oracle"]

OPTIMIZATION_ORACLE = "optimization_oracle"


def oracle_context_features(decline_features: tuple[str, ...] | list[str] = DECLINE_FEATURES) -> tuple[str, ...]:
    """The decline model's inputs without the optimisation encodings (those are the actions).

    >>> "uses_3ds" in oracle_context_features(), "usd_amount_minor" in oracle_context_features()
    (False, True)
    """
    return tuple(name for name in decline_features if name not in ACTION_FEATURES)


@dataclass(frozen=True)
class OracleReport:
    """What was trained: the published version, rows used and left out, and the seconds taken."""

    version: str
    rows: int
    excluded_rows: int
    seconds: float


def train_optimization_oracle(workspace: Workspace, *, max_trees: int = 60, max_weight: float = 50.0, seed: int = 0,
                              echo: TextIO | None = sys.stderr) -> OracleReport:
    """Train the oracle on the workspace's decline training set and publish it (module docstring)."""
    began = time.perf_counter()
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        frame = load_decline_frame(connection)
        logged = connection.sql("select attempt_id, optimization, decision_propensity from marts.fct_authorizations").to_arrow_table()
    if len(frame) == 0:
        raise ModelTrainingError("the decline training set is empty: build a workspace with attempts first (payloom run)")
    position = {attempt_id: index for index, attempt_id in enumerate(logged["attempt_id"].to_pylist())}
    rows = np.array([position.get(key, -1) for key in frame.keys])
    if (rows < 0).any():
        raise ModelTrainingError(f"{int((rows < 0).sum())} training rows have no attempt in marts.fct_authorizations; rebuild the workspace")
    actions = np.asarray(logged["optimization"].to_pylist(), dtype=object)[rows]
    propensity = logged["decision_propensity"].to_numpy(zero_copy_only=False).astype(np.float64)[rows]
    context_names = oracle_context_features(frame.feature_names)
    context = frame.features[:, [frame.feature_names.index(name) for name in context_names]]
    approved = (~frame.labels["is_declined"].astype(bool)).astype(np.float64)
    usable = np.isfinite(propensity) & (propensity > 0) & (propensity <= 1)
    booster = train_oracle(context, list(actions), approved, np.where(np.isfinite(propensity), propensity, 0.0),
                           max_weight=max_weight, num_boost_round=max_trees, max_depth=4, nthread=1, random_state=seed)
    artifact: ModelArtifact = publish_oracle(
        workspace.model_registry, OPTIMIZATION_ORACLE, booster, context_names,
        training_data={"relation": "training.training_issuer_decline", "rows": int(usable.sum()),
                       "excluded_rows": int((~usable).sum()), "weights": f"1 / decision_propensity, capped at {max_weight}"},
    )
    seconds = time.perf_counter() - began
    if echo is not None:
        print(f"  published {OPTIMIZATION_ORACLE} {artifact.manifest.version} (bandit oracle, {int(usable.sum()):,} logged "
              f"attempts, IPS-weighted) in {seconds:.1f} s", file=echo, flush=True)
    return OracleReport(artifact.manifest.version, int(usable.sum()), int((~usable).sum()), seconds)
