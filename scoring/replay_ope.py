"""Off-policy evaluation inside the replay: the bandit's next policy, estimated on its last period's log.

At each retraining k >= 1 (day t), the new bandit policy pi_k is evaluated with
`scoring.off_policy.evaluate_policy` on the bandit's decisions of the previous period
(policy_version v{k-1}, read from the decision log by `create_bandit_views`) that were held out
of pi_k's training (a random share of that period's payments: evaluated on its own training
rows, a policy fit to their outcomes looks better than it is), with pi_k's
probabilities over every eligible action as the target and its oracle's predictions as the
reward model. The estimates are compared with two truths:

- `truth_logged_contexts`: pi_k's true expected approval on those same logged payments
  (mean of sum_a pi_k(a | x) P(approve | x, a)), exactly what the estimators estimate;
- `truth_next_period`: pi_k's on-policy expected value in the period it then runs (the
  following days' payments), filled in by the replay once that period is over. Payments and
  gateway health change from one period to the next, so this differs from the first.

>>> check = OpeCheck(retraining=1, day=2, estimates={"snips": (0.90, 0.88, 0.92)}, truth_logged_contexts=0.91)
>>> check.covers("snips", 0.91), check.covers("snips", 0.95)
(True, False)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa

from scoring.decision_history import create_bandit_views
from scoring.errors import ExcludedRowsWarning
from scoring.off_policy import evaluate_policy
from scoring.replay_decision_log import decision_ids
from scoring.replay_policies import PolicyDecisions
from scoring.replay_world import ACTIONS, ReplayWorld

__all__ = ["OpeCheck", "evaluate_next_policy", "REPORTED_ESTIMATORS"]

#: Estimators reported (value, CI low, CI high).
REPORTED_ESTIMATORS = ("ips", "clipped_ips", "snips")
_NAMES = np.array(ACTIONS, dtype=object)


@dataclass
class OpeCheck:
    """One retraining's estimates (estimator -> (value, ci_low, ci_high)) and the truths."""

    retraining: int
    day: int
    estimates: dict[str, tuple[float, float, float]]
    truth_logged_contexts: float
    truth_next_period: float | None = None
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    def covers(self, estimator: str, truth: float | None) -> bool:
        """Whether the estimator's confidence interval contains `truth`."""
        value, low, high = self.estimates[estimator]
        return truth is not None and low is not None and low <= truth <= high


def _table(ids: np.ndarray, eligible: np.ndarray, values: np.ndarray, column: str) -> pa.Table:
    row, action = np.nonzero(eligible)
    return pa.table({"context_id": ids[row], "action": _NAMES[action].astype(str), column: values[row, action]})


def evaluate_next_policy(connection: duckdb.DuckDBPyConnection, world: ReplayWorld, rows: np.ndarray, *, retraining: int,
                         day: int, previous_version: str, target: PolicyDecisions, confidence: float = 0.95) -> OpeCheck:
    """Estimate the new policy `target` (its decisions on `rows`, held-out payments of the previous
    period) from IPW routing's logged decisions of `previous_version`."""
    ids = decision_ids("ipw_routing", world.payment_id[rows])
    as_of = (world.decided_at[rows].max() + np.timedelta64(1, "m")).astype("datetime64[us]").item() + timedelta(0)
    views = create_bandit_views(connection, as_of=as_of, policy_name="ipw_routing", policy_version=previous_version, prefix="replay_logged")
    eligible = world.eligible[rows]
    connection.register("replay_next_policy", _table(ids, eligible, target.probabilities, "probability"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExcludedRowsWarning)
            connection.execute(f"""create or replace temp view replay_held_out_log as select * from {views.log}
                where context_id in (select context_id from replay_next_policy)""")
            evaluation = evaluate_policy(connection, "replay_held_out_log", "replay_next_policy", confidence=confidence)
    finally:
        connection.unregister("replay_next_policy")
    estimates = {name: (evaluation.estimates[name].value, evaluation.estimates[name].ci_low, evaluation.estimates[name].ci_high)
                 for name in REPORTED_ESTIMATORS}
    truth = float((target.probabilities * world.truth[rows]).sum(axis=1).mean())
    return OpeCheck(retraining, day, estimates, truth, rows=evaluation.rows_logged)
