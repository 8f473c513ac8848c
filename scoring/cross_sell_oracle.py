"""The simulator's cross-sell truth, and the contact lists judged by it.

On simulated data the raw folder holds `_truth/offers` (P(accept) and E[revenue] of every logged
offer) and `_truth/offer_candidates` (the same for every customer x product not held at the end
of the period, the instant `scores_cross_sell` scores). Other data has no truth: every function
here then returns None and the reports leave the oracle out.

`evaluate_contact_lists` replays the real decision: each scorer picks one product per customer
(its best candidate), then contacts the top share of the customers by that score; the list is
worth the truth's sum of p r̄ - c (expected net sales) and expects sum p acceptances.

>>> import numpy as np
>>> customers = np.array(["a", "a", "b", "b"])
>>> payoff, p = np.array([10.0, 50.0, 5.0, -1.0]), np.array([0.5, 0.1, 0.2, 0.9])
>>> lists = evaluate_contact_lists(customers, {"oracle": payoff, "likelihood": p}, payoff, p, budgets=(0.5,))
>>> lists["oracle"][0.5], lists["likelihood"][0.5]
((50.0, 0.1), (-1.0, 0.9))
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

__all__ = ["offer_truth", "candidate_truth", "evaluate_contact_lists"]


def _truth_glob(raw_dir: Path, name: str) -> str | None:
    folder = Path(raw_dir) / "_truth" / name
    return str(folder / "*.parquet") if folder.is_dir() and any(folder.glob("*.parquet")) else None


def offer_truth(raw_dir: Path, offer_ids: np.ndarray, contact_cost_usd_minor: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(true p r̄ - c in US cents, true p) for each offer id, or None without a truth folder."""
    source = _truth_glob(raw_dir, "offers")
    if source is None:
        return None
    with duckdb.connect() as connection:
        connection.register("wanted", {"offer_id": np.asarray(offer_ids).astype(str), "position": np.arange(len(offer_ids))})
        table = connection.execute(
            "select truth.p_accept, truth.expected_revenue_usd from wanted left join read_parquet(?) as truth"
            " using (offer_id) order by wanted.position", [source]
        ).fetchnumpy()
    p = np.asarray(table["p_accept"], dtype=np.float64)
    if np.isnan(p).any():
        return None
    expected_revenue = p * np.asarray(table["expected_revenue_usd"], dtype=np.float64) * 100.0
    return expected_revenue - np.asarray(contact_cost_usd_minor, dtype=np.float64), p


def candidate_truth(raw_dir: Path, connection: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray] | None:
    """scores.scores_cross_sell joined to the truth's candidates: per (customer, product) the scores
    and the true payoff (US dollars -> cents) and p. None without truth or without scores."""
    source = _truth_glob(raw_dir, "offer_candidates")
    if source is None:
        return None
    table = connection.execute(
        "select scores.customer_id, scores.product, scores.expected_payoff_usd_minor, scores.p_accept,"
        " scores.propensity_expected_payoff_usd_minor, scores.product_affinity_score, scores.neighbour_affinity_score,"
        " truth.expected_payoff_usd * 100 as true_payoff_usd_minor, truth.p_accept as true_p_accept"
        " from scores.scores_cross_sell as scores inner join read_parquet(?) as truth"
        " on scores.customer_id = truth.customer_id and scores.product = truth.product"
        " order by scores.customer_id, scores.product", [source]
    ).fetchnumpy()
    if len(table["customer_id"]) == 0:
        return None
    return {name: np.asarray(values) for name, values in table.items()}


def evaluate_contact_lists(
    customer_ids: np.ndarray,
    scorers: dict[str, np.ndarray],
    true_payoff: np.ndarray,
    true_p: np.ndarray,
    *,
    budgets: tuple[float, ...] = (0.05, 0.10, 0.20),
) -> dict[str, dict[float, tuple[float, float]]]:
    """scorer -> budget -> (expected net sales, expected acceptances) of its contact list.

    Rows are candidates (customer, product), grouped by customer; a scorer's next best offer is
    its highest-scored candidate (ties: first row), and the budget contacts that share of the
    customers with the highest such scores. `random` is the expectation of a random product to
    random customers.
    """
    customer_ids = np.asarray(customer_ids)
    true_payoff, true_p = np.asarray(true_payoff, dtype=np.float64), np.asarray(true_p, dtype=np.float64)
    _, group = np.unique(customer_ids, return_inverse=True)
    customers = int(group.max()) + 1 if len(group) else 0
    results: dict[str, dict[float, tuple[float, float]]] = {}
    for name, scores in scorers.items():
        scores = np.asarray(scores, dtype=np.float64)
        order = np.lexsort((-scores, group))  # by customer, best score first
        first = np.r_[True, group[order][1:] != group[order][:-1]] if len(order) else np.zeros(0, bool)
        best = order[first]
        ranked = best[np.argsort(-scores[best], kind="stable")]
        results[name] = {}
        for budget in budgets:
            chosen = ranked[: int(round(budget * customers))]
            results[name][budget] = (float(true_payoff[chosen].sum()), float(true_p[chosen].sum()))
    per_customer_payoff = np.bincount(group, weights=true_payoff, minlength=customers) / np.maximum(np.bincount(group, minlength=customers), 1)
    per_customer_p = np.bincount(group, weights=true_p, minlength=customers) / np.maximum(np.bincount(group, minlength=customers), 1)
    results["random"] = {
        budget: (float(per_customer_payoff.mean() * round(budget * customers)), float(per_customer_p.mean() * round(budget * customers)))
        for budget in budgets
    }
    return results
