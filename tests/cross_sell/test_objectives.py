"""The payoff objectives: gradient and Hessian against finite differences, a safe Hessian, the minimiser."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.cross_sell_objectives import (
    HESSIAN_FLOOR, OBJECTIVES, constant_margin, expected_payoff_of, payoff_gradient_hessian, payoff_loss, sigmoid, xgboost_objective,
)
from scoring.errors import ModelTrainingError


def offers(rows: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    accepted = (rng.random(rows) < 0.3).astype(float)
    revenue = accepted * rng.lognormal(3.0, 1.0, rows)
    cost = rng.uniform(1.0, 20.0, rows)
    return rng.normal(0.0, 2.0, rows), revenue, cost, accepted


@pytest.mark.parametrize("kind", OBJECTIVES)
def test_gradient_and_hessian_match_finite_differences(kind):
    margin, revenue, cost, accepted = offers()
    step = 1e-5
    gradient, hessian = payoff_gradient_hessian(margin, revenue, cost, accepted, kind=kind)
    loss_up, loss_down = (payoff_loss(margin + delta, revenue, cost, accepted, kind=kind) for delta in (step, -step))
    numeric_gradient = (loss_up - loss_down) / (2 * step)
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-5, atol=1e-6)
    grad_up, _ = payoff_gradient_hessian(margin + step, revenue, cost, accepted, kind=kind)
    grad_down, _ = payoff_gradient_hessian(margin - step, revenue, cost, accepted, kind=kind)
    numeric_hessian = (grad_up - grad_down) / (2 * step)
    unfloored = hessian > HESSIAN_FLOOR * (accepted * revenue + cost) * 1.01
    np.testing.assert_allclose(hessian[unfloored], numeric_hessian[unfloored], rtol=1e-4, atol=1e-6)


def test_loss_matches_the_written_formulas():
    margin, revenue, cost, accepted = offers(50, seed=1)
    q = sigmoid(margin)
    payoff = -(accepted * revenue * np.log(q) + cost * np.log(1 - q))
    weighted = -(accepted * revenue * np.log(q) + (1 - accepted) * cost * np.log(1 - q))
    np.testing.assert_allclose(payoff_loss(margin, revenue, cost, accepted, kind="expected_payoff"), payoff, rtol=1e-10)
    np.testing.assert_allclose(payoff_loss(margin, revenue, cost, accepted, kind="cost_weighted_log_loss"), weighted, rtol=1e-10)


@pytest.mark.parametrize("kind", OBJECTIVES)
def test_hessian_is_strictly_positive_even_when_saturated(kind):
    margin = np.array([-60.0, 60.0, 0.0])
    _, hessian = payoff_gradient_hessian(margin, np.array([10.0, 0.0, 5.0]), np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.0, 1.0]), kind=kind)
    assert (hessian > 0).all() and np.isfinite(hessian).all()


def test_minimiser_odds_estimate_expected_revenue_over_cost():
    """Many offers with the same x: the best constant q has odds sum(y r) / sum(c), so c (odds - 1) = mean(y r) - c."""
    _, revenue, _, accepted = offers(5_000, seed=2)
    cost = np.full(5_000, 4.0)
    margin = constant_margin(revenue, cost, accepted, kind="expected_payoff")
    grid = margin + np.linspace(-0.5, 0.5, 101)
    losses = [payoff_loss(np.full(5_000, value), revenue, cost, accepted, kind="expected_payoff").sum() for value in grid]
    assert abs(grid[int(np.argmin(losses))] - margin) < 0.011
    implied = expected_payoff_of(sigmoid(np.array([margin])), np.array([4.0]))[0]
    assert implied == pytest.approx(np.mean(accepted * revenue) - 4.0, rel=1e-9)


def test_xgboost_objective_scales_amounts_and_checks_rows():
    margin, revenue, cost, accepted = offers(10)
    objective = xgboost_objective(revenue, cost, accepted, kind="expected_payoff", scale=10.0)
    gradient, _ = objective(margin, None)
    expected, _ = payoff_gradient_hessian(margin, revenue / 10, cost / 10, accepted, kind="expected_payoff")
    np.testing.assert_allclose(gradient, expected)
    with pytest.raises(ModelTrainingError, match="built for 10 rows, the DMatrix has 3"):
        objective(margin[:3], None)


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(ModelTrainingError, match="unknown cross-sell objective 'mse'; expected one of expected_payoff"):
        payoff_loss(np.zeros(1), np.ones(1), np.ones(1), np.ones(1), kind="mse")
    with pytest.raises(ModelTrainingError, match="must be >= 0 .*quarantines negative amounts"):
        payoff_loss(np.zeros(1), -np.ones(1), np.ones(1), np.ones(1), kind="expected_payoff")
    with pytest.raises(ModelTrainingError, match="need both revenue"):
        constant_margin(np.zeros(3), np.ones(3), np.zeros(3), kind="expected_payoff")
