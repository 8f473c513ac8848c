"""Write a block of replay decisions and their outcomes to the decision log (`scoring.decision_log`).

One decision per (policy, payment): decision_id `<policy>:<payment id>`, context_key and
payment_id the payment's id, policy_version the model version (`v0`, `v1`, ... one per
retraining; `rules` for the static policy), candidates every eligible (gateway/optimisation)
action in name order with the policy's probability and, for the bandit, its oracle's predicted
P(approve); the chosen action and its propensity. The reward (is_approved) is observed one
second after the decision.

>>> import duckdb
>>> from scoring.replay_policies import PolicyDecisions
>>> from scoring.replay_world import ACTIONS
>>> connection = duckdb.connect()
>>> probabilities = np.zeros((1, len(ACTIONS))); probabilities[0, [0, 1]] = [0.25, 0.75]
>>> eligible = probabilities > 0
>>> block = PolicyDecisions(probabilities, np.array([1]))
>>> log_decisions(connection, "static", "rules", np.array(["att_1"]), np.array(["2025-01-01T12:00"], "datetime64[us]"),
...               eligible, block, np.array([True]))
1
>>> connection.sql("select decision_id, chosen_action, propensity, len(candidates) from decisions.decision_log").fetchall()
[('static:att_1', 'gw_alpha/3ds', 0.75, 2)]
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from scoring.decision_log import CANDIDATE_TYPE, append_decisions, append_rewards
from scoring.errors import DecisionLogError
from scoring.replay_policies import PolicyDecisions
from scoring.replay_world import ACTIONS

__all__ = ["log_decisions", "decision_ids", "REWARD_DELAY"]

#: A replay decision's reward is observed this long after the decision.
REWARD_DELAY = np.timedelta64(1, "s")

_BY_NAME = np.argsort(np.array(ACTIONS))
_NAMES = np.array(ACTIONS, dtype=object)


def decision_ids(policy: str, payment_ids: np.ndarray) -> np.ndarray:
    """`<policy>:<payment id>` for each payment.

    >>> decision_ids("bandit", np.array(["a1", "a2"])).tolist()
    ['bandit:a1', 'bandit:a2']
    """
    return np.char.add(f"{policy}:", np.asarray(payment_ids).astype(str))


def log_decisions(connection: duckdb.DuckDBPyConnection, policy: str, version: str, payment_ids: np.ndarray,
                  decided_at: np.ndarray, eligible: np.ndarray, decisions: PolicyDecisions, approved: np.ndarray) -> int:
    """Append the block's decisions and rewards; returns how many decisions were written."""
    n = len(payment_ids)
    ordered = eligible[:, _BY_NAME]
    row, position = np.nonzero(ordered)
    action = _BY_NAME[position]
    predicted = (pa.array(decisions.predicted[row, action], pa.float64()) if decisions.predicted is not None
                 else pa.nulls(len(row), pa.float64()))
    candidates = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(ordered.sum(axis=1))]), pa.int32()),
        pa.StructArray.from_arrays([pa.array(_NAMES[action], pa.string()), pa.array(decisions.probabilities[row, action]), predicted],
                                   fields=list(CANDIDATE_TYPE)))
    ids = pa.array(decision_ids(policy, payment_ids))
    at = pa.array(decided_at.astype("datetime64[us]"), pa.timestamp("us"))
    result = append_decisions(connection, pa.table({
        "decision_id": ids, "policy_name": pa.array([policy] * n), "policy_version": pa.array([version] * n),
        "context_key": pa.array(payment_ids.astype(str)), "payment_id": pa.array(payment_ids.astype(str)), "decided_at": at,
        "candidates": candidates, "chosen_action": pa.array(_NAMES[decisions.chosen], pa.string()),
        "propensity": pa.array(decisions.propensity, pa.float64()),
    }))
    if result.quarantined:
        raise DecisionLogError(f"the decision log quarantined {result.quarantined} of policy {policy!r}'s replay decisions; "
                               "its probabilities must sum to 1 over the eligible actions")
    append_rewards(connection, pa.table({
        "decision_id": ids, "observed_at": pa.array((decided_at + REWARD_DELAY).astype("datetime64[us]"), pa.timestamp("us")),
        "is_approved": pa.array(np.asarray(approved, dtype=bool)),
    }))
    return result.written
