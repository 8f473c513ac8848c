"""The data are draws from the ground truth: empirical rates match the oracle's probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from payloom_sim import (
    GATEWAYS, SimulatorError, approval_probability, decline_code_probabilities, load_attempt_context, load_world, simulate,
)
from payloom_sim.constants import DECLINE_CODES, OPTIMIZATION_SETS
from payloom_sim.policy import GATEWAY_TABLE


def close(observed: float, expected: float, variance_sum: float, n: int, sigmas: float = 4.0) -> bool:
    """|observed - expected| within `sigmas` standard errors of a mean of n independent Bernoullis."""
    return abs(observed - expected) <= sigmas * np.sqrt(variance_sum) / n + 1e-12


@pytest.fixture(scope="module")
def context(world_dir: Path) -> dict[str, np.ndarray]:
    return load_attempt_context(world_dir)


def test_truth_reproduces_the_logged_probabilities(context: dict[str, np.ndarray]) -> None:
    recomputed = approval_probability(context, context["gateway"], context["optimization"])
    np.testing.assert_allclose(recomputed, context["p_approve"], rtol=1e-12)
    codes = decline_code_probabilities(context, context["gateway_code"], context["optimization_code"])
    np.testing.assert_allclose(sum(codes.values()) + recomputed, 1.0, rtol=1e-12)


@pytest.mark.parametrize("group", [
    "'all'", "truth.gateway", "truth.optimization", "truth.is_card_not_present", "truth.is_expired or truth.is_stolen",
    "truth.day_of_month >= 20", "truth.hour < 6", "truth.amount_usd > truth.available_usd", "truth.attempt_number > 0",
    "payment_attempts.card_network", "payment_attempts.merchant_category",
])
def test_empirical_approval_matches_truth_within_groups(world_dir: Path, group: str, sql) -> None:
    rows = sql(world_dir).execute(f"""
        select {group} as g, count(*), avg(payment_attempts.is_approved::int), avg(truth.p_approve),
               sum(truth.p_approve * (1 - truth.p_approve))
        from payment_attempts join truth using (attempt_id) group by 1 having count(*) >= 200""").fetchall()
    assert rows
    for value, n, observed, expected, variance in rows:
        assert close(observed, expected, variance, n), (group, value, n, observed, expected)


def test_decline_codes_match_truth(world_dir: Path, context: dict[str, np.ndarray], sql) -> None:
    expected = decline_code_probabilities(context, context["gateway"], context["optimization"])
    observed = dict(sql(world_dir).execute("""
        select coalesce(decline_code, 'approved'), count(*) from payment_attempts group by 1""").fetchall())
    n = len(context["attempt_id"])
    assert sum(observed.values()) == n
    for code in DECLINE_CODES:
        p = expected[code]
        assert close(observed.get(code, 0) / n, p.mean(), (p * (1 - p)).sum(), n), code
        assert observed.get(code, 0) > 0, code


def test_offer_acceptance_matches_truth(world_dir: Path, sql) -> None:
    n, accepted, expected, variance = sql(world_dir).execute("""
        select count(*), avg(is_accepted::int), avg(p_accept), sum(p_accept * (1 - p_accept))
        from offers join offer_truth using (offer_id)""").fetchone()
    assert n > 300
    assert close(accepted, expected, variance, n)


def test_deal_sizes_vary_so_payoff_ranking_differs_from_acceptance_ranking(world_dir: Path, sql) -> None:
    db = sql(world_dir)
    spread = db.execute("select stddev(revenue_minor) / avg(revenue_minor) from offers where is_accepted").fetchone()[0]
    assert spread > 1.0
    overlap = db.execute("""
        with ranked as (
            select ntile(10) over (order by p_accept desc) as by_p, ntile(10) over (order by expected_payoff_usd desc) as by_payoff
            from candidates)
        select avg((by_p = 1)::int) filter (where by_payoff = 1) from ranked""").fetchone()[0]
    assert overlap < 0.8


def test_logging_policy_splits_visa_us_40_60(world_dir: Path, sql) -> None:
    rows = sql(world_dir).execute("""
        select gateway, count(*), sum(count(*)) over ()
        from payment_attempts where card_network = 'visa' and issuer_country = 'US' and decision_propensity is not null
        group by gateway""").fetchall()
    shares = {gateway: (count, total) for gateway, count, total in rows}
    assert set(shares) == {"gw_alpha", "gw_beta"}
    count, total = shares["gw_alpha"]
    assert close(count / total, 0.4, total * 0.4 * 0.6, total)
    assert GATEWAY_TABLE[0, 0].tolist() == [0.4, 0.6, 0.0]


def test_logged_propensities_are_the_empirical_action_frequencies(world_dir: Path, sql) -> None:
    rows = sql(world_dir).execute("""
        select payment_attempts.card_network as network, payment_attempts.issuer_country as country, truth.is_card_not_present as cnp,
               payment_attempts.gateway, payment_attempts.optimization, count(*), sum(count(*)) over (partition by network, country, cnp),
               min(decision_propensity), max(decision_propensity)
        from payment_attempts join truth using (attempt_id)
        where decision_propensity is not null group by 1, 2, 3, 4, 5""").fetchall()
    checked = 0
    for *_, count, total, low, high in rows:
        assert low == high  # the policy's propensity is a function of the segment and the action
        if total >= 500:
            assert close(count / total, low, total * low * (1 - low), total)
            checked += 1
    assert checked > 20
    deterministic = sql(world_dir).execute("select count(*) from payment_attempts where card_network = 'amex' and gateway != 'gw_gamma' and decision_propensity is not null").fetchone()[0]
    assert deterministic == 0


def test_gateways_differ_and_the_40_percent_gateway_is_better_for_visa_us(context: dict[str, np.ndarray]) -> None:
    visa_us = (context["card_network"] == "visa") & (context["issuer_country"] == "US")
    subset = {key: value[visa_us] for key, value in context.items()}
    alpha, beta = (approval_probability(subset, gateway, "none").mean() for gateway in ("gw_alpha", "gw_beta"))
    assert alpha > beta + 0.01
    by_gateway = np.stack([approval_probability(context, gateway, "none") for gateway in GATEWAYS], axis=1)
    assert len(np.unique(by_gateway.argmax(axis=1))) == len(GATEWAYS)  # the best gateway depends on the attempt


def test_gateways_degrade_for_days_then_recover(world_dir: Path, context: dict[str, np.ndarray]) -> None:
    world = load_world(world_dir)
    for position, gateway in enumerate(GATEWAYS):
        degraded_days = world.gateway_degradation[position] > 0
        assert 2 <= degraded_days.sum() < 0.5 * len(degraded_days)
        during = degraded_days[context["day"]]
        p = approval_probability(context, gateway, "none")
        assert p[during].mean() < p[~during].mean() - 0.05, gateway


def test_optimisations_matter_by_issuer(context: dict[str, np.ndarray]) -> None:
    none = approval_probability(context, context["gateway"], "none")
    for optimization in ("3ds", "network_token", "iso_format", "retry"):
        lift = approval_probability(context, context["gateway"], optimization) - none
        counts = np.bincount(context["issuer_code"])
        by_issuer = np.bincount(context["issuer_code"], weights=lift)[counts > 500] / counts[counts > 500]
        assert by_issuer.max() - by_issuer.min() > 0.005, optimization


def test_truth_accepts_names_codes_and_rejects_unknown_actions(context: dict[str, np.ndarray]) -> None:
    by_name = approval_probability(context, "gw_beta", "3ds+network_token")
    by_code = approval_probability(context, GATEWAYS.index("gw_beta"), OPTIMIZATION_SETS.index("3ds+network_token"))
    np.testing.assert_array_equal(by_name, by_code)
    with pytest.raises(SimulatorError, match="unknown gateway 'gw_omega': expected one of gw_alpha, gw_beta, gw_gamma"):
        approval_probability(context, "gw_omega", "none")
    with pytest.raises(SimulatorError, match="unknown optimization 'token': expected 'none' or a sorted"):
        approval_probability(context, "gw_alpha", "token")


def test_loading_truth_without_truth_says_what_to_do(tmp_path: Path) -> None:
    out = simulate(tmp_path / "raw", attempts=1_000, days=2, write_truth=False).out_dir
    assert not (out / "_truth").exists()
    with pytest.raises(SimulatorError, match="without ground truth; run it again without --no-truth"):
        load_attempt_context(out)
