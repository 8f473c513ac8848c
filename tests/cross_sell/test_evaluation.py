"""Budget evaluation and contact lists on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.cross_sell_evaluation import evaluate_budgets, gains_curves, write_curves_csv
from scoring.cross_sell_oracle import evaluate_contact_lists


def test_value_ranking_beats_likelihood_ranking_at_the_cost_of_catch():
    """The issue's point in miniature: the likeliest converters bring small deals."""
    accepted = np.array([1, 1, 1, 0, 1, 0])
    revenue = np.array([10.0, 10.0, 10.0, 0.0, 500.0, 0.0])
    cost = np.full(6, 2.0)
    likelihood = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    value = np.array([7.0, 6.0, 5.0, 1.0, 148.0, -1.0])
    table = evaluate_budgets({"likelihood": likelihood, "value": value}, accepted, revenue, cost, budgets=(0.34,), customers=6)
    by_value, by_likelihood = table.rows["value"][0.34], table.rows["likelihood"][0.34]
    assert by_value.contacts == by_likelihood.contacts == 2
    assert by_value.net_sales == 506.0 and by_likelihood.net_sales == 16.0
    assert by_value.accepted == by_likelihood.accepted == 2
    assert table.ratio("value", "likelihood", 0.34) == pytest.approx(506 / 16)
    assert "34% net $" in table.format()


def test_scores_with_nan_are_refused():
    with pytest.raises(ValueError, match="one number per offer"):
        evaluate_budgets({"m": np.array([np.nan, 1.0])}, np.array([1, 0]), np.array([1.0, 0]), np.array([1.0, 1]))


def test_gains_reach_one_and_curves_are_written(tmp_path):
    accepted = np.array([0, 1, 0, 1])
    rows = gains_curves({"m": np.array([4.0, 3.0, 2.0, 1.0])}, accepted, accepted * 10.0, np.ones(4), points=4)
    assert [row["accepted_share"] for row in rows] == [0.0, 0.5, 0.5, 1.0]
    assert rows[-1]["lift"] == 1.0 and rows[-1]["net_sales_usd_minor"] == 16.0
    path = write_curves_csv(rows, tmp_path / "curves" / "gains.csv")
    assert path.read_text().splitlines()[0] == "scorer,contacted_share,accepted_share,lift,net_sales_usd_minor"


def test_contact_lists_pick_one_product_per_customer():
    customers = np.array(["a", "a", "b", "c", "c"])
    true_payoff = np.array([5.0, 40.0, 10.0, -2.0, 1.0])
    true_p = np.array([0.5, 0.1, 0.3, 0.9, 0.2])
    lists = evaluate_contact_lists(customers, {"oracle": true_payoff, "likelihood": true_p}, true_payoff, true_p, budgets=(0.34, 1.0))
    assert lists["oracle"][0.34] == (40.0, 0.1)
    assert lists["likelihood"][1.0] == pytest.approx((5.0 + 10.0 - 2.0, 0.5 + 0.3 + 0.9))
    assert lists["random"][1.0][0] == pytest.approx((22.5 + 10.0 - 0.5))
