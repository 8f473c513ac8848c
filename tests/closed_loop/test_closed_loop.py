"""The closed-loop replay: same payments for every policy, the oracle on top, the issue's quality targets,
and a decision log that reconciles with the replay."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scoring.closed_loop import LOGGED_POLICIES, POLICIES
from scoring.replay_world import ACTIONS


def test_every_policy_decides_the_same_payments(replay):
    daily = replay.daily
    counts = daily.pivot(index="day", columns="policy", values="payments")
    assert sorted(counts.columns) == sorted(POLICIES)
    assert (counts.nunique(axis=1) == 1).all()
    assert counts.iloc[:, 0].tolist() == [len(replay.world.rows(day, day)) for day in range(replay.settings["days"])]
    replayed = set(replay.world.payment_id[replay.world.day >= 0].tolist())
    for policy in LOGGED_POLICIES:
        keys = replay.connection.execute(
            "select context_key from decisions.decision_log where policy_name = ? and policy_version <> 'rules' or "
            "(policy_name = ? and decided_at >= ?)", [policy, policy, replay.world.decided_at[replay.world.day >= 0].min().item()]).fetchall()
        assert {key for (key,) in keys} == replayed, policy


def test_the_oracle_is_on_top_every_day(replay):
    wide = replay.daily.pivot(index="day", columns="policy", values="expected_approval")
    for policy in ("static", "ipw_routing", "bandit", "routing_oracle"):
        assert (wide["oracle"] >= wide[policy] - 1e-12).all(), policy
    for policy in ("static", "ipw_routing"):        # same optimisation draw: the best gateway for it is on top
        assert (wide["routing_oracle"] >= wide[policy] - 1e-12).all(), policy


def test_routing_lift_share_is_measured_against_the_routing_oracle(summary):
    """The share is computed from the replay's own totals and reported as the target's verdict
    (the target itself: test_routing_lift_share_target)."""
    totals = summary.totals
    static = totals["static"]["expected_approval"]
    share = totals["ipw_routing"]["routing_lift_share"]
    expected = (totals["ipw_routing"]["expected_approval"] - static) / (totals["routing_oracle"]["expected_approval"] - static)
    assert share == pytest.approx(expected, abs=1e-9)
    verdict = next(value for name, value in summary.targets.items() if name.startswith("routing"))
    assert bool(verdict[1]) == bool(share >= 0.9)


@pytest.mark.xfail(strict=True, reason="issue 5's routing target is not met on the simulator: IPW routing gets -0.4..+0.03 of the "
                   "routing oracle's lift on seeds 1-6 (0.3..0.6 with gateway_spread=4; docs/closed_loop_replay.md, 'Measured')")
def test_routing_lift_share_target(summary):
    """The issue's target itself: IPW routing's lift over static >= 0.9 of the routing oracle's.
    Strict: the day it passes, it fails as XPASS, and becomes a plain assertion."""
    assert summary.totals["ipw_routing"]["routing_lift_share"] >= 0.9


def test_bandit_beats_static_from_the_second_retraining(summary):
    later = summary.periods[summary.periods.version >= 2]
    assert len(later) >= 3
    assert (later.bandit_minus_static > 0).all(), later
    assert summary.targets["bandit beats static from the 2nd retraining"][1]


def test_bandit_recovers_within_two_retrainings_after_the_degradation(replay, summary):
    episode = replay.settings["drift"][0]
    assert episode["gateway"] == "gw_alpha" and episode["first_day"] == 6
    wide = replay.daily.pivot(index="day", columns="policy", values="expected_approval")
    onset = episode["first_day"]
    assert wide["oracle"][onset] - wide["static"][onset] > wide["oracle"][onset - 1] - wide["static"][onset - 1], \
        "the degradation opens a gap that the static split cannot close"
    assert summary.recovery["bandit"] == [1] or summary.recovery["bandit"] == [2]
    assert summary.targets["bandit recovers within 2 retrainings"][1]


def test_decision_log_reconciles_with_the_replay(replay):
    connection, world = replay.connection, replay.world
    counts = dict(connection.execute("select policy_name, count(*) from decisions.decision_log group by all").fetchall())
    replayed, warmup = int((world.day >= 0).sum()), int((world.day < 0).sum())
    assert counts == {"static": warmup + replayed, "ipw_routing": replayed, "bandit": replayed}
    low, high, bad = connection.execute("""select min(propensity), max(propensity),
        count(*) filter (where abs(list_sum([c.probability for c in candidates]) - 1) > 1e-9
                         or propensity <> [c.probability for c in candidates if c.action = chosen_action][1])
        from decisions.decision_log""").fetchone()
    assert 0 < low and high <= 1 and bad == 0
    assert connection.execute("select count(*) from decisions.decision_log_quarantine").fetchone()[0] == 0
    rewards = connection.execute("""select policy_name, count(*), avg(is_approved::double) from decisions.decision_log
        inner join decisions.decision_rewards using (decision_id) where decided_at >= ? group by all""",
                                 [world.decided_at[world.day >= 0].min().item()]).fetchall()
    observed = replay.daily.assign(approved=replay.daily.approval_rate * replay.daily.payments).groupby("policy")["approved"].sum()
    for policy, rows, rate in rewards:
        assert rows == replayed
        assert rate == pytest.approx(observed[policy] / replayed, abs=1e-12)
    actions = {action for (action,) in connection.execute("select distinct chosen_action from decisions.decision_log").fetchall()}
    assert actions <= set(ACTIONS)
    versions = {v for (v,) in connection.execute("select distinct policy_version from decisions.decision_log where policy_name = 'bandit'").fetchall()}
    assert versions == {f"v{k}" for k in range(6)}


def test_off_policy_estimates_cover_the_truth(replay):
    checks = replay.ope
    assert [c.retraining for c in checks] == [1, 2, 3, 4, 5]
    assert all(c.rows > 400 for c in checks)
    held_out = [c.covers("snips", c.truth_logged_contexts) for c in checks]
    following = [c.covers("snips", c.truth_next_period) for c in checks]
    # A 95% interval misses now and then: over seeds 1-6, 26 of 30 held-out checks cover (docs/closed_loop_replay.md);
    # at least 4 of 5 here, as the report's own OPE target (>= 0.8).
    assert sum(held_out) >= len(checks) - 1, [(c.estimates["snips"], c.truth_logged_contexts) for c in checks]
    assert sum(following) >= len(checks) - 1, [(c.estimates["snips"], c.truth_next_period) for c in checks]
    for check in checks:
        value, low, high = check.estimates["snips"]
        assert high - low < 0.25          # informative, not trivially wide


def test_no_policy_is_told_the_truth(replay):
    """The learners see only observable features, never the simulator's latent context."""
    from scoring.replay_world import CONTEXT_FEATURES

    assert not {"available_usd", "is_stolen", "issuer_risk_logit", "gateway_technical", "gateway_risk_logit"} & set(CONTEXT_FEATURES)
    assert replay.world.features.shape[1] == len(CONTEXT_FEATURES) and np.isfinite(replay.world.features).all()


def test_gateway_health_lowers_the_degraded_gateway_and_keeps_the_policy_a_distribution():
    """The optional gateway-health recalibration (off by default): during gw_alpha's degradation
    (days 6-8) its factor falls below every healthy day's, the other gateways stay near 1, and the
    logged probabilities remain a distribution that gives the chosen action positive mass."""
    from scoring.closed_loop import GatewayHealth, run_closed_loop

    days = 12                                   # the shared replay's settings (conftest.REPLAY), seed 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_closed_loop(days=days, payments_per_day=1_200, seed=6, retrain_every=2,
                                 gateway_health=GatewayHealth(k=50, window_payments=1_200))
    alpha = [scales[0] for scales in result.gateway_scales]
    assert len(alpha) == days and alpha[0] == 1.0            # day 0: no decision of the bandit's own yet
    assert max(alpha[7:9]) < min(alpha[1:6]) and max(alpha[7:9]) < 0.97
    assert all(0.9 < scales[1] < 1.1 and 0.9 < scales[2] < 1.1 for scales in result.gateway_scales[1:6])
    decisions, broken = result.connection.execute(
        "select count(*), count(*) filter (where abs(list_sum([c.probability for c in candidates]) - 1) > 1e-9"
        " or propensity <= 0 or propensity is distinct from [c.probability for c in candidates if c.action = chosen_action][1])"
        " from decisions.decision_log where policy_name = 'bandit'").fetchone()
    assert decisions > 10_000 and broken == 0
