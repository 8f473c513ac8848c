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


@pytest.mark.xfail(strict=True, reason="issue 5's routing target is not met on the simulator: IPW routing gets -0.37..+0.06 of the "
                   "routing oracle's lift on seeds 1-12, -0.08..+0.46 with routing_health (docs/closed_loop_replay.md, 'Gateway health')")
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
    ips_held_out = [c.covers("ips", c.truth_logged_contexts) for c in checks]
    # A 95% interval misses now and then: over seeds 1-12, SNIPS covers 51 and IPS 57 of 60 held-out checks
    # (docs/closed_loop_replay.md); at least 4 of 5 here, as the report's own OPE target (>= 0.8).
    assert sum(held_out) >= len(checks) - 1, [(c.estimates["snips"], c.truth_logged_contexts) for c in checks]
    assert sum(ips_held_out) >= len(checks) - 1, [(c.estimates["ips"], c.truth_logged_contexts) for c in checks]
    assert sum(following) >= len(checks) - 1, [(c.estimates["snips"], c.truth_next_period) for c in checks]
    for check in checks:
        value, low, high = check.estimates["snips"]
        assert high - low < 0.25          # informative, not trivially wide


def test_no_policy_is_told_the_truth(replay):
    """The learners see only observable features, never the simulator's latent context."""
    from scoring.replay_world import CONTEXT_FEATURES

    assert not {"available_usd", "is_stolen", "issuer_risk_logit", "gateway_technical", "gateway_risk_logit"} & set(CONTEXT_FEATURES)
    assert replay.world.features.shape[1] == len(CONTEXT_FEATURES) and np.isfinite(replay.world.features).all()


def test_gateway_health_lowers_the_degraded_gateway_and_is_read_off_the_decision_log(replay):
    """The bandit's gateway health (on by default, REPLAY_HEALTH): during gw_alpha's degradation
    (days 6-8) its factor falls below every healthy day's, the other gateways stay near 1, and each
    day's first factors are what `ActionHealth.factors` reads off the replay's own decision log at
    that instant (day 0: none of the policy's own decisions yet)."""
    from scoring.closed_loop import REPLAY_HEALTH

    assert replay.settings["health"]["window"] == REPLAY_HEALTH.window and replay.settings["routing_health"] is None
    assert set(replay.gateway_scales) == {"bandit"}
    world, days = replay.world, replay.settings["days"]
    for policy in ("bandit",):
        scales = replay.gateway_scales[policy]
        assert len(scales) == days and scales[0] == [1.0, 1.0, 1.0]
        for day in (1, 7, 10):
            first = world.rows(day, day)[0]
            factors = REPLAY_HEALTH.factors(replay.connection, policy, world.decided_at[first].astype("datetime64[us]").item())
            assert scales[day] == pytest.approx([factors.get(gateway, 1.0) for gateway in ("gw_alpha", "gw_beta", "gw_gamma")], abs=1e-12)
            assert factors, "the decision log has judged decisions of the policy by then"
    alpha = [day[0] for day in replay.gateway_scales["bandit"]]
    assert max(alpha[7:9]) < min(alpha[1:6]) and max(alpha[7:9]) < 0.97
    assert all(0.9 < day[1] < 1.1 and 0.9 < day[2] < 1.1 for day in replay.gateway_scales["bandit"][1:6])
    logged = replay.connection.execute("""select count(*) filter (where [c.predicted_reward for c in candidates
        if c.action = chosen_action][1] is null) from decisions.decision_log where policy_name <> 'static'""").fetchone()[0]
    assert logged == 0                                       # every learning decision can be judged


def test_health_can_be_off_or_on_for_routing_alone():
    """health=None turns the bandit's recalibration off; routing_health turns IPW routing's on, its
    factors read off the decision log as the bandit's are."""
    from scoring.closed_loop import REPLAY_HEALTH, run_closed_loop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = run_closed_loop(days=2, payments_per_day=300, seed=1, warmup_days=2, retrain_every=1, drift=(),
                                num_boost_round=5, health=None)
        routed = run_closed_loop(days=3, payments_per_day=300, seed=1, warmup_days=2, retrain_every=1, drift=(),
                                 num_boost_round=5, health=None, routing_health=REPLAY_HEALTH)
    assert plain.gateway_scales == {} and plain.settings["health"] is None
    assert sorted(plain.daily["policy"].unique()) == sorted(POLICIES)
    assert set(routed.gateway_scales) == {"ipw_routing"}
    for day in (1, 2):
        first = routed.world.rows(day, day)[0]
        factors = REPLAY_HEALTH.factors(routed.connection, "ipw_routing", routed.world.decided_at[first].astype("datetime64[us]").item())
        assert factors and routed.gateway_scales["ipw_routing"][day] == pytest.approx(
            [factors.get(gateway, 1.0) for gateway in ("gw_alpha", "gw_beta", "gw_gamma")], abs=1e-12)
    from scoring.action_health import ActionHealth
    from scoring.errors import RoutingError

    with pytest.raises(RoutingError, match="groups them by gateway"):
        run_closed_loop(days=2, payments_per_day=300, health=ActionHealth())
