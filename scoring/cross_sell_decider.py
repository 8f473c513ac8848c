"""The next best offer for one customer, in process: the compiled cross-sell models, no SQL.

For an online caller (a decision service, a CRM screen): give the customer's features as of now
(the columns of `customer_features`, e.g. read from Feast) and, optionally, the product
affinities; get every eligible product not held, scored by both compiled models, and the one
with the highest expected payoff. The numbers are those `scores.scores_cross_sell` computes in
SQL for the same features (same libraries, same feature order from the manifests).

    decider = CrossSellDecider.from_workspace(Workspace.at("build"))
    offer = decider.next_best_offer({"segment": "consumer", "annual_income_usd": 52000.0, ...})
    offer.product, offer.expected_payoff_usd_minor

>>> row = candidate_row({"segment": "enterprise", "holds_savings": True}, "working_capital", {"working_capital": 0.25})
>>> row["is_product_working_capital"], row["is_enterprise"], row["holds_savings"], row["neighbour_affinity_score"]
(1.0, 1.0, 1.0, 0.25)
>>> eligible_products("consumer", held={"savings"})[:3]
['checking', 'credit_card', 'loan']
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from scoring.cross_sell_job import MODEL_NAMES
from scoring.cross_sell_models import CROSS_SELL_PRODUCTS
from scoring.cross_sell_objectives import expected_payoff_of
from scoring.errors import ScoringInputError
from scoring.workspace import DBT_PROJECT_DIR, Workspace
from udfs.model_registry import ModelRegistry

__all__ = ["CrossSellDecider", "ScoredOffer", "candidate_row", "eligible_products"]

_BUSINESS_SEGMENTS = ("small_business", "enterprise")


@functools.lru_cache(maxsize=1)
def _eligibility() -> dict[str, str]:
    """The products seed's eligible segments per product, read once per process (it was read per
    offer: ~50 µs of a decision request naming its customer). Read-only: callers must not mutate it."""
    with open(DBT_PROJECT_DIR / "seeds" / "products.csv", newline="") as handle:
        return {row["product"]: row["eligible_segments"] for row in csv.DictReader(handle)}


def eligible_products(segment: str | None, *, held: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Products the segment can hold (products seed), not already held, in var('products') order."""
    rules = _eligibility()
    allowed = {"any"} | ({"consumer"} if segment == "consumer" else {"business"} if segment in _BUSINESS_SEGMENTS else set())
    return [product for product in CROSS_SELL_PRODUCTS if rules.get(product) in allowed and product not in held]


def candidate_row(customer: Mapping[str, object], product: str, neighbour_affinity: Mapping[str, float] | None = None,
                  item_affinity: Mapping[str, float] | None = None) -> dict[str, float]:
    """The model features of (customer, product) as floats (NaN = missing), as int_cross_sell_candidates builds them."""
    if product not in CROSS_SELL_PRODUCTS:
        raise ScoringInputError(f"unknown product {product!r}; expected one of {', '.join(CROSS_SELL_PRODUCTS)}")
    row: dict[str, float] = {}
    for name, value in customer.items():
        if isinstance(value, (bool, int, float, np.floating, np.integer)):
            row[name] = float(value)
        elif value is None:
            row[name] = float("nan")
    for candidate in CROSS_SELL_PRODUCTS:
        row[f"is_product_{candidate}"] = 1.0 if candidate == product else 0.0
        row.setdefault(f"holds_{candidate}", 0.0)
    segment = customer.get("segment")
    row["is_small_business"] = float("nan") if segment is None else float(segment == "small_business")
    row["is_enterprise"] = float("nan") if segment is None else float(segment == "enterprise")
    row["neighbour_affinity_score"] = float((neighbour_affinity or {}).get(product, 0.0))
    row["product_affinity_score"] = float((item_affinity or {}).get(product, 0.0))
    return row


@dataclass(frozen=True)
class ScoredOffer:
    """One candidate: P(accept), the payoff model's q, and what contacting is expected to earn (US cents)."""

    product: str
    p_accept: float
    payoff_score: float
    contact_cost_usd_minor: float
    expected_payoff_usd_minor: float


class CrossSellDecider:
    """Scores a customer's candidates with the promoted cross-sell models of a registry."""

    def __init__(self, registry: ModelRegistry | Path | str, contact_costs_usd_minor: Mapping[str, float],
                 segment_contact_costs_usd_minor: Mapping[tuple[str, str], float] | None = None):
        """`contact_costs_usd_minor`: product -> cost of one contact; `segment_contact_costs_usd_minor`,
        optional: (segment, product) -> cost, which wins where known (as scores_cross_sell prices)."""
        registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
        self._propensity = registry.load(MODEL_NAMES["propensity"])
        self._payoff = registry.load(MODEL_NAMES["payoff"])
        self.contact_costs_usd_minor = dict(contact_costs_usd_minor)
        self.segment_contact_costs_usd_minor = dict(segment_contact_costs_usd_minor or {})

    @property
    def model_versions(self) -> dict[str, str]:
        """The loaded model versions by model name."""
        return {artifact.manifest.name: artifact.manifest.version for artifact in (self._propensity, self._payoff)}

    @classmethod
    def from_workspace(cls, workspace: Workspace) -> "CrossSellDecider":
        """Models from the workspace's registry; contact costs as scores_cross_sell prices them: the
        (segment, product) median of marts.product_offer_economics, else the product's median."""
        with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
            by_segment = connection.execute(
                "select segment, product, contact_cost_usd_minor from marts.product_offer_economics").fetchall()
            by_product = dict(connection.execute(
                "select product, median(contact_cost_usd_minor) from marts.product_offer_economics group by all").fetchall())
        segment_costs = {(segment, product): cost for segment, product, cost in by_segment if cost is not None}
        return cls(workspace.model_registry, by_product, segment_costs)

    def contact_cost(self, segment: str | None, product: str) -> float | None:
        """What contacting a customer of `segment` about `product` costs (None: never offered, so unpriced)."""
        cost = self.segment_contact_costs_usd_minor.get((segment if segment is not None else "unknown", product))
        return cost if cost is not None else self.contact_costs_usd_minor.get(product)

    def score(self, customer: Mapping[str, object], *, products: list[str] | None = None,
              neighbour_affinity: Mapping[str, float] | None = None, item_affinity: Mapping[str, float] | None = None) -> list[ScoredOffer]:
        """Every candidate (default: eligible, not held, with a known contact cost), best expected payoff first."""
        segment = customer.get("segment")
        if segment is not None and not isinstance(segment, str):
            raise ScoringInputError(f"customer segment must be a string or None, got {segment!r}")
        if products is None:
            held = {product for product in CROSS_SELL_PRODUCTS if customer.get(f"holds_{product}")}
            products = [product for product in eligible_products(segment, held=held) if self.contact_cost(segment, product) is not None]
        unknown = [product for product in products if self.contact_cost(segment, product) is None]
        if unknown:
            raise ScoringInputError(f"no contact cost for {', '.join(unknown)}: pass contact_costs_usd_minor for every product offered")
        if not products:
            return []
        rows = [candidate_row(customer, product, neighbour_affinity, item_affinity) for product in products]
        p_accept = self._predict(self._propensity, rows)
        payoff_score = self._predict(self._payoff, rows)
        costs = np.array([self.contact_cost(segment, product) for product in products], dtype=np.float64)
        payoff = expected_payoff_of(payoff_score, costs)
        offers = [ScoredOffer(product, float(p), float(q), float(c), float(e)) for product, p, q, c, e in zip(products, p_accept, payoff_score, costs, payoff)]
        return sorted(offers, key=lambda offer: (-offer.expected_payoff_usd_minor, offer.contact_cost_usd_minor, offer.product))

    def next_best_offer(self, customer: Mapping[str, object], **options) -> ScoredOffer | None:
        """The candidate with the highest expected payoff (None without candidates); see `score`."""
        offers = self.score(customer, **options)
        return offers[0] if offers else None

    @staticmethod
    def _predict(artifact, rows: list[dict[str, float]]) -> np.ndarray:
        names = artifact.manifest.feature_names
        missing = [name for name in names if name not in rows[0]]
        if missing:
            raise ScoringInputError(f"model {artifact.manifest.name} needs customer features that were not given: {', '.join(missing)}")
        matrix = np.array([[row[name] for name in names] for row in rows], dtype=np.float64)
        return artifact.forest.predict_matrix(matrix)[:, 0].astype(np.float64)
