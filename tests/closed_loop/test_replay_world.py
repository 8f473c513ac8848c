"""The replay's world: the drift schedule goes through the simulator's own degradation mechanism."""

from __future__ import annotations

import numpy as np
import pytest

from payloom_sim import build_world
from payloom_sim.constants import GATEWAYS
from scoring.errors import RoutingError
from scoring.replay_policies import RoutingSettings, routing_features
from scoring.replay_world import (ACTIONS, CONTEXT_FEATURES, SEGMENT_FEATURES, TECHNICAL_PER_DEGRADATION, DriftEpisode, _drifted_world,
                                  load_replay_world, segments, spread_gateways)


def test_technical_errors_follow_the_simulators_degradation_rule():
    world = build_world(seed=4, days=30)
    healthy, _ = _drifted_world(world, 0, 30, ())
    outage = world.gateway_technical >= 0.5
    for g in range(len(GATEWAYS)):       # without degradation every non-outage hour has the gateway's base rate
        assert np.ptp(healthy.gateway_technical[g][~outage[g]]) < 1e-12
    assert np.allclose(world.gateway_technical[~outage],
                       (healthy.gateway_technical + TECHNICAL_PER_DEGRADATION * world.gateway_degradation[:, :, None])[~outage])


def test_a_degraded_gateway_approves_less_on_its_days_only():
    episode = DriftEpisode("gw_alpha", first_day=1, length=1, strength=1.2)
    drifted = load_replay_world(days=3, warmup_days=1, payments_per_day=500, seed=9, drift=(episode,))
    healthy = load_replay_world(days=3, warmup_days=1, payments_per_day=500, seed=9, drift=())
    assert (drifted.payment_id == healthy.payment_id).all()
    alpha = np.array([a.startswith("gw_alpha/") for a in ACTIONS])
    on = drifted.day == 1
    both = drifted.eligible[:, alpha]
    drop = (healthy.truth[:, alpha] - drifted.truth[:, alpha])[both & on[:, None]]
    assert drop.mean() > 0.05
    assert np.allclose(drifted.truth[~on], healthy.truth[~on])
    assert np.allclose(drifted.truth[:, ~alpha], healthy.truth[:, ~alpha])


def test_bad_drift_is_a_clear_error():
    with pytest.raises(RoutingError, match="drift episode gateway 'gw_omega' is not one of gw_alpha, gw_beta, gw_gamma"):
        load_replay_world(days=2, warmup_days=1, payments_per_day=200, seed=1, drift=(DriftEpisode("gw_omega", 0, 1),))
    with pytest.raises(RoutingError, match="must lie within replay days 0..1; shorten it or replay more days"):
        load_replay_world(days=2, warmup_days=1, payments_per_day=200, seed=1, drift=(DriftEpisode("gw_beta", 1, 5),))


def test_gateway_spread_widens_the_gaps_between_gateways_only():
    world = build_world(seed=4, days=3)
    risk = world.gateway_risk_logit
    wide = spread_gateways(risk, 3.0)
    assert np.allclose(wide.mean(axis=0), risk.mean(axis=0))
    assert np.allclose(wide - wide.mean(axis=0), 3.0 * (risk - risk.mean(axis=0)))
    assert np.array_equal(spread_gateways(risk, 1.0), risk)
    base = load_replay_world(days=2, warmup_days=1, payments_per_day=500, seed=9, drift=())
    same = load_replay_world(days=2, warmup_days=1, payments_per_day=500, seed=9, drift=(), gateway_spread=1.0)
    spread = load_replay_world(days=2, warmup_days=1, payments_per_day=500, seed=9, drift=(), gateway_spread=3.0)
    assert np.array_equal(base.truth, same.truth) and np.array_equal(base.payment_id, spread.payment_id)
    choice = base.eligible.reshape(len(base.day), 3, -1).any(axis=2).sum(axis=1) > 1

    def gap(w):        # best minus worst eligible gateway (same optimisation set), mean over payments with a choice
        eligible = w.eligible.reshape(len(w.day), 3, -1)[choice]
        truth = w.truth.reshape(len(w.day), 3, -1)[choice]
        best, worst = np.where(eligible, truth, -1.0).max(axis=1), np.where(eligible, truth, 2.0).min(axis=1)
        return float((best - worst)[eligible.any(axis=1)].mean())

    assert gap(spread) > 2.0 * gap(base) > 0
    with pytest.raises(RoutingError, match="gateway_spread must be a finite number >= 0"):
        spread_gateways(risk, -1.0)


def test_segments_and_routing_settings():
    world = load_replay_world(days=1, warmup_days=1, payments_per_day=400, seed=2, drift=())
    segment = segments(world.features)
    gateways = world.eligible.reshape(len(segment), 3, -1).any(axis=2)
    for label in np.unique(segment):         # the logging policy's eligible gateways are the same within a segment
        assert len(np.unique(gateways[segment == label], axis=0)) == 1
    assert set(SEGMENT_FEATURES) < set(CONTEXT_FEATURES)
    with pytest.raises(RoutingError, match="are not context features"):
        RoutingSettings(features=("available_usd",))
    with pytest.raises(RoutingError, match="set stratify=True as well"):
        RoutingSettings(stratify=False)
    with pytest.raises(RoutingError, match="model must be 'xgboost' or 'softmax'"):
        RoutingSettings(model="forest")
    names, matrix = routing_features(world.features, RoutingSettings(segment_one_hot=True))
    assert names[:len(SEGMENT_FEATURES)] == SEGMENT_FEATURES and matrix.shape == (len(segment), len(names))
    one_hot = matrix[:, len(SEGMENT_FEATURES):]
    assert (one_hot.sum(axis=1) == 1).all() and (one_hot.argmax(axis=1) == segment).all()
