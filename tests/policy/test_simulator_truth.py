"""Off-policy estimates through the decision log against the simulator's on-policy truth.

The seed is fixed. Over 500 seeds (bench/bench_off_policy.py, docs/policy_evaluation.md) all five
95% intervals cover the truth together for 96.8% of seeds with the unbiased reward model, and
IPS, clipped IPS, SNIPS and DR for 97.0% with the wrong one (DM: never); single intervals cover
97.6-100%. A seed among the other ~3% fails here (e.g. 2025: IPS 2.0 standard errors low).
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest
from routing_bandit import (
    draw_log, evaluation_instant, log_to_decision_log, noisy_reward_model, per_action_reward_model, target_table,
)

from scoring.decision_history import create_bandit_views
from scoring.off_policy import evaluate_policy

SEED = 0
MAX_WEIGHT = 5.0


def _evaluate(bandit, actions, approved, predicted):
    connection = duckdb.connect()
    log_to_decision_log(connection, bandit, actions, approved, predicted)
    views = create_bandit_views(connection, as_of=evaluation_instant(bandit))
    connection.register("target_rows", target_table(bandit))
    connection.execute("create table target as select * from target_rows")
    return evaluate_policy(connection, views.log, "target", reward_model=views.reward_model,
                           logging_policy=views.logging_policy, max_weight=MAX_WEIGHT)


def test_the_target_policy_is_worth_evaluating(bandit) -> None:
    """The target differs from the logging policy by far more than the logged mean's uncertainty."""
    rng = np.random.default_rng(SEED)
    _, approved = draw_log(bandit, rng)
    logged_mean, logged_se = approved.mean(), approved.std(ddof=1) / math.sqrt(len(approved))
    assert len(approved) > 4_900
    assert bandit.truth - bandit.logging_value > 0.05
    assert abs(logged_mean - bandit.truth) > 6 * logged_se


def test_every_estimator_covers_the_truth_with_an_unbiased_reward_model(bandit) -> None:
    rng = np.random.default_rng(SEED)
    actions, approved = draw_log(bandit, rng)
    evaluation = _evaluate(bandit, actions, approved, noisy_reward_model(bandit, rng))
    assert evaluation.rows_excluded == {} and evaluation.target_mass_outside_logging_support == 0.0
    for name, estimate in evaluation.estimates.items():
        assert estimate.rows_used == len(approved), name
        assert estimate.covers(bandit.truth), (name, estimate, bandit.truth)
        assert estimate.ci_high - estimate.ci_low < 0.06, name
    assert evaluation.estimates["dr"].standard_error < evaluation.estimates["ips"].standard_error


def test_doubly_robust_survives_a_wrong_reward_model_and_the_direct_method_does_not(bandit) -> None:
    rng = np.random.default_rng(SEED)
    actions, approved = draw_log(bandit, rng)
    evaluation = _evaluate(bandit, actions, approved, per_action_reward_model(actions, approved))
    for name in ("ips", "clipped_ips", "snips", "dr"):
        assert evaluation.estimates[name].covers(bandit.truth), name
    direct = evaluation.estimates["dm"]
    assert bandit.truth - direct.value > 0.03 and not direct.covers(bandit.truth)
