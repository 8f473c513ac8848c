"""Action health (`scoring.action_health`): factors from the decision log, point-in-time, against a
computation in Python on the same decisions."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from scoring.action_health import ActionHealth
from scoring.decision_log import Candidate, Decision, Reward, append_decisions, append_rewards
from scoring.errors import RoutingError

START = datetime(2025, 3, 1)
ACTIONS = ("gw_a/none", "gw_a/3ds", "gw_b/none", "gw_c/retry")


def random_log(seed: int = 3, n: int = 600):
    """n decisions one minute apart by two policies, each rewarded 30 s later (some twice: a revision)."""
    rng = np.random.default_rng(seed)
    connection = duckdb.connect()
    decisions, rewards, rows = [], [], []
    for i in range(n):
        predicted = rng.uniform(0.5, 0.95, len(ACTIONS)).round(3)
        chosen = int(rng.integers(len(ACTIONS)))
        policy = "bandit" if rng.random() < 0.8 else "other"
        decided_at = START + timedelta(minutes=i)
        with_prediction = rng.random() > 0.05
        candidates = tuple(Candidate(a, 0.25, float(p) if with_prediction else None) for a, p in zip(ACTIONS, predicted))
        decisions.append(Decision(f"d{i:04d}", policy, "v1" if i < n // 2 else "v2", f"p{i}", decided_at, candidates, ACTIONS[chosen]))
        approved = bool(rng.random() < predicted[chosen] * (0.6 if ACTIONS[chosen].startswith("gw_a") else 1.0))
        rewards.append(Reward(f"d{i:04d}", decided_at + timedelta(seconds=30), not approved if i % 7 == 0 else approved))
        if i % 7 == 0:                                              # revised later: the latest observation counts
            rewards.append(Reward(f"d{i:04d}", decided_at + timedelta(seconds=50), approved))
        rows.append((decided_at, f"d{i:04d}", policy, "v1" if i < n // 2 else "v2", ACTIONS[chosen],
                     float(predicted[chosen]) if with_prediction else None, approved))
    append_decisions(connection, decisions)
    append_rewards(connection, rewards)
    return connection, rows


def expected(health: ActionHealth, rows, policy: str, as_of: datetime, version: str | None = None) -> dict[str, float]:
    """The factors in Python: last `window` judged decisions of the policy strictly before as_of."""
    judged = [r for r in rows if r[2] == policy and r[0] < as_of and r[0] + timedelta(seconds=50) < as_of
              and r[5] is not None and (version is None or r[3] == version)]
    judged = sorted(judged, key=lambda r: (r[0], r[1]))[-health.window:]
    return health.scale([health.group_of(r[4]) for r in judged], [r[6] for r in judged], [r[5] for r in judged])


@pytest.mark.parametrize("health", [ActionHealth(k=20, window=200, separator="/"), ActionHealth(k=5, window=50),
                                    ActionHealth(k=50, low=0.8, high=1.05, window=10_000, separator="/")])
def test_factors_equal_a_python_computation(health):
    connection, rows = random_log()
    as_of = START + timedelta(minutes=400, seconds=55)          # decision 400's reward (revised at +50 s) is known
    got = health.factors(connection, "bandit", as_of)
    want = expected(health, rows, "bandit", as_of)
    assert got.keys() == want.keys() and all(abs(got[g] - want[g]) < 1e-12 for g in want)
    assert all(health.low <= value <= health.high for value in got.values())
    if health.separator == "/" and health.window == 200:
        assert got["gw_a"] < 0.9 < got["gw_b"]                   # gw_a approves 60% of what the model predicts


def test_point_in_time_revisions_and_versions():
    connection, rows = random_log()
    health = ActionHealth(k=10, window=100, separator="/")
    as_of = START + timedelta(minutes=421)
    base = health.factors(connection, "bandit", as_of)
    append_decisions(connection, [Decision("late", "bandit", "v2", "late", as_of, (Candidate("gw_b/none", 1.0, 0.01),), "gw_b/none")])
    append_rewards(connection, [Reward("late", as_of, True), Reward("d0420", as_of, False)])   # a revision at as_of: not yet
    assert health.factors(connection, "bandit", as_of) == base   # decided and observed at as_of: not yet
    assert health.factors(connection, "bandit", as_of, policy_version="v1") == pytest.approx(expected(health, rows, "bandit", as_of, "v1"))
    assert health.factors(connection, "nobody", as_of) == {}
    assert health.factors(connection, "bandit", START) == {}


@pytest.mark.parametrize("settings, message", [
    ({"k": 0}, "pseudo-count"), ({"low": 1.1}, "0 < low <= 1 <= high"), ({"high": 0.9}, "0 < low <= 1 <= high"),
    ({"window": 0}, "positive integer"), ({"window": 1.5}, "positive integer"), ({"separator": "::"}, "one character"),
])
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(RoutingError, match=message):
        ActionHealth(**settings)
