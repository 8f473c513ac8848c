"""The next-best offer for a customer, from the online store: what a payment decision adds when
the payer is a known customer.

`OnlineOfferDecider` reads feature service `cross_sell_v2` with a `ServiceReader` in two round
trips, because the third view is keyed by something the first one says:

1. the customer's `customer_profile` row and its `customer_product_affinity` row for every
   product (one read);
2. the customer's holding pattern (the held products of the profile, in dbt var products order,
   joined by '+'; 'none' when nothing is held) and, for every candidate product, its
   `holding_pattern_neighbours` row: the nearest-customer affinity (one read).

It then scores the candidates (eligible for the segment, not held, with a known contact cost)
with the compiled cross-sell models through `CrossSellDecider`, exactly as
`scores.scores_cross_sell` does in SQL from `int_cross_sell_candidates`: a missing affinity
counts 0 there and here. The answer names the product with the highest expected payoff (as
`scores.next_best_offers`: ties to the cheaper contact, then the name), whether contacting the
customer about it is expected to pay, every candidate, the model versions and each view's
freshness at the decision's instant.

An unknown customer is not an error: the answer says `found: false` and offers nothing.

>>> holding_pattern_name({"holds_savings": True, "holds_loan": True, "holds_checking": False})
'savings+loan'
>>> holding_pattern_name({})
'none'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scoring.cross_sell_decider import CrossSellDecider, ScoredOffer, eligible_products
from scoring.cross_sell_job import MODEL_NAMES
from scoring.cross_sell_models import CROSS_SELL_PRODUCTS
from scoring.errors import FeatureStoreError
from scoring.feature_store import open_feature_store
from scoring.online_reads import OnlineRead, ServiceReader, view_freshness
from scoring.workspace import Workspace
from udfs.model_registry import ModelRegistry

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["OFFER_SERVICE", "OnlineOfferDecider", "cross_sell_models_registered", "holding_pattern_name"]

OFFER_SERVICE = "cross_sell_v2"
PROFILE_VIEW = "customer_profile"
AFFINITY_VIEW = "customer_product_affinity"
NEIGHBOUR_VIEW = "holding_pattern_neighbours"


def holding_pattern_name(profile: Mapping[str, object]) -> str:
    """The key of `holding_pattern_neighbours` for a customer whose `holds_<product>` flags are `profile`."""
    return "+".join(product for product in CROSS_SELL_PRODUCTS if profile.get(f"holds_{product}")) or "none"


def cross_sell_models_registered(workspace: Workspace) -> bool:
    """Whether both cross-sell models have a promoted version in the workspace's registry."""
    names = set(ModelRegistry(workspace.model_registry).names())
    return all(name in names for name in MODEL_NAMES.values())


def _offer_json(offer: ScoredOffer) -> dict[str, Any]:
    return {
        "product": offer.product,
        "p_accept": offer.p_accept,
        "payoff_score": offer.payoff_score,
        "contact_cost_usd_minor": offer.contact_cost_usd_minor,
        "expected_payoff_usd_minor": offer.expected_payoff_usd_minor,
    }


class OnlineOfferDecider:
    """Next-best offers from the online store and the compiled cross-sell models (module docstring).

    Raises FeatureStoreError when the store has no feature service `cross_sell_v2` (apply the
    feature store again: `payloom run`, or `scoring.feature_store.apply_feature_store`), and
    ModelArtifactError when a cross-sell model is not registered (train them with `payloom run`).
    """

    def __init__(self, workspace: Workspace, *, store: "FeatureStore | None" = None, decider: CrossSellDecider | None = None):
        self.decider = decider if decider is not None else CrossSellDecider.from_workspace(workspace)
        store = store if store is not None else open_feature_store(workspace)
        try:
            self.reader = ServiceReader(store, OFFER_SERVICE)
        except FeatureStoreError as error:
            raise FeatureStoreError(
                f"{error}. The next-best offer reads feature service {OFFER_SERVICE}: apply and materialise the "
                "feature store again (`payloom run` does both; in Python scoring.feature_store.apply_feature_store "
                "then materialize_feature_store)"
            ) from error
        self.view_ttls: dict[str, float | None] = {}
        service = store.get_feature_service(OFFER_SERVICE)
        for projection in service.feature_view_projections:
            ttl = store.get_feature_view(projection.name).ttl
            self.view_ttls[projection.name_to_use()] = ttl.total_seconds() if ttl else None
        self._profile_prefix = f"{PROFILE_VIEW}__"

    @property
    def model_versions(self) -> dict[str, str]:
        """The cross-sell model versions the offers come from."""
        return self.decider.model_versions

    def offer(self, customer_id: str, at: datetime) -> dict[str, Any]:
        """The next-best offer for `customer_id` at instant `at` (naive UTC); JSON-ready."""
        return self.offer_many([customer_id], [at])[0]

    def offer_many(self, customer_ids: Sequence[str], instants: Sequence[datetime]) -> list[dict[str, Any]]:
        """The next-best offers for several customers, with two online reads in all; in order."""
        if len(customer_ids) != len(instants):
            raise ValueError(f"give one instant per customer: {len(customer_ids)} customers, {len(instants)} instants")
        first = self.reader.read_requests([
            request
            for customer_id in customer_ids
            for request in [({"customer_id": customer_id}, [PROFILE_VIEW])]
            + [({"customer_id": customer_id, "product": product}, [AFFINITY_VIEW]) for product in CROSS_SELL_PRODUCTS]
        ])
        width = 1 + len(CROSS_SELL_PRODUCTS)
        customers: list[dict[str, Any] | None] = []
        candidates: list[list[str]] = []
        for index in range(len(customer_ids)):
            profile_read = first[index * width]
            if profile_read.event_times[PROFILE_VIEW] is None:
                customers.append(None)
                candidates.append([])
                continue
            customer = {name[len(self._profile_prefix):]: value for name, value in profile_read.values.items()
                        if name.startswith(self._profile_prefix)}
            held = {product for product in CROSS_SELL_PRODUCTS if customer.get(f"holds_{product}")}
            segment = customer.get("segment")
            customers.append(customer)
            candidates.append([product for product in eligible_products(segment, held=held)  # type: ignore[arg-type]
                               if self.decider.contact_cost(segment, product) is not None])  # type: ignore[arg-type]
        patterns = [holding_pattern_name(customer) if customer is not None else None for customer in customers]
        second_requests = [
            ({"holding_pattern": pattern, "product": product}, [NEIGHBOUR_VIEW])
            for pattern, products in zip(patterns, candidates) if pattern is not None
            for product in products
        ]
        second = iter(self.reader.read_requests(second_requests) if second_requests else [])
        answers = []
        for index, (customer_id, at) in enumerate(zip(customer_ids, instants)):
            affinity_reads = dict(zip(CROSS_SELL_PRODUCTS, first[index * width + 1: (index + 1) * width]))
            customer = customers[index]
            neighbour_reads = {product: next(second) for product in candidates[index]} if customer is not None else {}
            answers.append(self._answer(customer_id, at, first[index * width], customer, patterns[index], candidates[index],
                                        affinity_reads, neighbour_reads))
        return answers

    def _answer(self, customer_id: str, at: datetime, profile_read: OnlineRead, customer: dict[str, Any] | None,
                neighbour_key: str | None, products: list[str], affinity_reads: dict[str, OnlineRead], neighbour_reads: dict[str, OnlineRead]) -> dict[str, Any]:
        freshness = {PROFILE_VIEW: view_freshness(profile_read.event_times[PROFILE_VIEW], at, self.view_ttls[PROFILE_VIEW])}
        answer: dict[str, Any] = {"customer_id": customer_id, "found": customer is not None, "model_versions": self.model_versions}
        if customer is None:
            return {**answer, "product": None, "is_profitable": False, "holding_pattern": None, "candidates": [],
                    "reason": f"the online store has no {PROFILE_VIEW} row for this customer", "feature_freshness": freshness}
        item_affinity = {product: read.values.get(f"{AFFINITY_VIEW}__affinity_score") for product, read in affinity_reads.items()}
        neighbour_affinity = {product: read.values.get(f"{NEIGHBOUR_VIEW}__neighbour_affinity_score")
                              for product, read in neighbour_reads.items()}
        offers = self.decider.score(
            customer, products=products,
            neighbour_affinity={product: value for product, value in neighbour_affinity.items() if value is not None},
            item_affinity={product: value for product, value in item_affinity.items() if value is not None},
        )
        freshness[AFFINITY_VIEW] = self._oldest(AFFINITY_VIEW, [affinity_reads[product] for product in products], at)
        freshness[NEIGHBOUR_VIEW] = self._oldest(NEIGHBOUR_VIEW, list(neighbour_reads.values()), at)
        best = offers[0] if offers else None
        return {
            **answer,
            "product": best.product if best else None,
            "is_profitable": bool(best and best.expected_payoff_usd_minor > 0),
            **({key: value for key, value in _offer_json(best).items() if key != "product"} if best else {}),
            "holding_pattern": neighbour_key,
            "candidates": [_offer_json(offer) for offer in offers],
            **({} if best else {"reason": "no eligible product the customer does not hold has a known contact cost"}),
            "feature_freshness": freshness,
        }

    def _oldest(self, view: str, reads: list[OnlineRead], at: datetime) -> dict[str, Any]:
        """The freshness of the oldest row read from `view` (rows of several products), with counts."""
        times = [read.event_times[view] for read in reads]
        found = [time for time in times if time is not None]
        entry = view_freshness(min(found) if found else None, at, self.view_ttls[view])
        return {**entry, "rows_found": len(found), "rows_read": len(times)}
