"""Write the customer-side tables: customers, product_holdings, interactions, offers (+ truth)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from payloom_sim.customers import (
    CHANNELS, CONTACT_COST_MINOR, INTERACTION_KINDS, OCCUPATIONS_BUSINESS, OCCUPATIONS_CONSUMER, PRODUCTS,
    SEGMENTS, DEAL_SIZE_SIGMA, acceptance_probability, draw_customers, eligible_products, expected_deal_size,
    holding_probability,
)
from payloom_sim.schemas import RAW_SCHEMAS
from payloom_sim.world import COUNTRIES, COUNTRY_CURRENCY, USD_PER_UNIT

__all__ = ["simulate_customers", "OFFER_SHARE_PER_30_DAYS"]

#: Share of customers contacted with an offer in every 30 days of the simulation.
OFFER_SHARE_PER_30_DAYS = 0.10
_MICROS_PER_DAY = 86_400 * 10**6


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.asarray(numbers), pa.int64()), pa.string()), "")


def _timestamps(start: np.datetime64, micros: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    values = np.datetime64(str(start), "us") + np.asarray(micros, dtype=np.int64).astype("timedelta64[us]")
    return pa.array(values, pa.timestamp("us"), mask=mask)


def _recent_counts(sorted_customer: np.ndarray, sorted_micros: np.ndarray, customer: np.ndarray, at: np.ndarray, window: int) -> np.ndarray:
    """Interactions of `customer` in [at - window, at), via binary search on (customer, time) order."""
    key = sorted_customer.astype(np.float64) * 1e15 + sorted_micros
    upper = np.searchsorted(key, customer * 1e15 + at, side="left")
    lower = np.searchsorted(key, customer * 1e15 + (at - window), side="left")
    return upper - lower


def simulate_customers(n_customers: int, *, days: int, start: np.datetime64, seed: int, dirty: dict[str, int]) -> dict[str, pa.Table]:
    """All customer-side tables plus `_truth_offer_candidates`; `dirty` gives bad offer rows per kind."""
    rng = np.random.default_rng([seed, 3])
    people = draw_customers(n_customers, rng)
    numbers = np.arange(n_customers)
    country = rng.choice(len(COUNTRIES), n_customers, p=[0.40, 0.15, 0.10, 0.08, 0.05, 0.10, 0.07, 0.05])
    currency = np.array([COUNTRY_CURRENCY[c] for c in COUNTRIES])[country]
    usd_per_unit = np.array([USD_PER_UNIT[c] for c in currency])
    created_micros = -people["tenure_days"].astype(np.int64) * _MICROS_PER_DAY
    birth = (np.datetime64(str(start), "D") - (np.nan_to_num(people["age"]) * 365.25).astype("timedelta64[D]"))
    occupation = np.where(people["segment"] == 0, rng.choice(OCCUPATIONS_CONSUMER, n_customers), rng.choice(OCCUPATIONS_BUSINESS, n_customers))
    customers = pa.table({
        "customer_id": _ids("cus_", numbers),
        "created_at": _timestamps(start, created_micros),
        "birth_date": pa.array(birth, pa.date32(), mask=np.isnan(people["age"])),
        "annual_income_minor": pa.array(np.round(people["income_usd"] / usd_per_unit * 100).astype(np.int64)),
        "currency_code": pa.array(currency, pa.string()),
        "occupation": pa.array(occupation, pa.string()),
        "credit_score": pa.array(people["credit_score"], pa.int32()),
        "country": pa.array(np.array(COUNTRIES)[country], pa.string()),
        "segment": pa.array(np.array(SEGMENTS)[people["segment"]], pa.string()),
    }, schema=RAW_SCHEMAS["customers"])

    # Holdings at the start of the simulation.
    holds = rng.random((n_customers, len(PRODUCTS))) < holding_probability(people)
    holder, product = np.nonzero(holds)
    opened = -(rng.random(len(holder)) * people["tenure_days"][holder] * _MICROS_PER_DAY).astype(np.int64)
    closed_before_start = rng.random(len(holder)) < 0.08
    closed = np.where(closed_before_start, (opened * rng.random(len(holder))).astype(np.int64), 0)
    holds[holder[closed_before_start], product[closed_before_start]] = False
    holdings_count = holds.sum(axis=1)

    # Interactions over the period, at each customer's engagement rate.
    per_customer = rng.poisson(people["engagement_rate"] * days / 30.0)
    interaction_customer = np.repeat(numbers, per_customer)
    interaction_micros = rng.integers(0, days * _MICROS_PER_DAY, len(interaction_customer))
    order = np.lexsort((interaction_micros, interaction_customer))
    interaction_customer, interaction_micros = interaction_customer[order], interaction_micros[order]
    complaint_share = np.clip(0.03 + 0.05 * (people["credit_score"] < 600), 0, 1)[interaction_customer]
    kind = np.where(rng.random(len(order)) < complaint_share, 3, rng.choice(3, len(order), p=[0.45, 0.4, 0.15]))
    interactions = pa.table({
        "customer_id": _ids("cus_", interaction_customer),
        "occurred_at": _timestamps(start, interaction_micros),
        "channel": pa.array(np.array(CHANNELS)[rng.choice(len(CHANNELS), len(order), p=[0.35, 0.4, 0.1, 0.1, 0.05])], pa.string()),
        "kind": pa.array(np.array(INTERACTION_KINDS)[kind], pa.string()),
    }, schema=RAW_SCHEMAS["interactions"])

    def features_at(customer: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "segment": people["segment"][customer], "income_usd": people["income_usd"][customer],
            "credit_score": people["credit_score"][customer], "age": people["age"][customer],
            "engagement_30d": _recent_counts(interaction_customer, interaction_micros, customer, at, 30 * _MICROS_PER_DAY),
            "holdings": holdings_count[customer],
        }

    # Offers: a share of customers per 30 days, a product they could hold but do not.
    n_offers = int(round(n_customers * OFFER_SHARE_PER_30_DAYS * days / 30.0))
    offered = rng.integers(0, n_customers, n_offers)
    offer_micros = rng.integers(30 * _MICROS_PER_DAY if days > 45 else 0, days * _MICROS_PER_DAY, n_offers)
    candidates = eligible_products(people["segment"][offered]) & ~holds[offered]
    pick = rng.random(candidates.shape) * candidates
    offer_product = pick.argmax(axis=1)
    valid = candidates.any(axis=1)
    offered, offer_micros, offer_product = offered[valid], offer_micros[valid], offer_product[valid]
    features = features_at(offered, offer_micros)
    p_accept = np.zeros(len(offered))
    expected = np.zeros(len(offered))
    for position, name in enumerate(PRODUCTS):
        rows = offer_product == position
        if rows.any():
            subset = {key: value[rows] for key, value in features.items()}
            p_accept[rows] = acceptance_probability(subset, name)
            expected[rows] = expected_deal_size(subset, name)
    accepted = rng.random(len(offered)) < p_accept
    revenue = np.where(accepted, np.round(expected * rng.lognormal(-DEAL_SIZE_SIGMA**2 / 2, DEAL_SIZE_SIGMA, len(offered))), 0).astype(np.int64)
    channel = rng.choice(list(CONTACT_COST_MINOR), len(offered), p=[0.6, 0.3, 0.1])
    cost = np.array([CONTACT_COST_MINOR[c] for c in channel], dtype=np.int64)
    offer_numbers = np.arange(len(offered))
    product_names = np.array(list(PRODUCTS), dtype=object)[offer_product]
    offer_customer_ids = np.array(_ids("cus_", offered).to_pylist(), dtype=object)
    # Contract violations for the quarantine downstream (counted in the manifest).
    bad = iter(rng.permutation(len(offered)))
    for _ in range(min(dirty.get("negative_revenue", 0), len(offered))):
        row = next(bad); revenue[row] = -abs(revenue[row]) - 100
    for _ in range(min(dirty.get("unknown_product", 0), len(offered))):
        row = next(bad); product_names[row] = "time_machine"
    for _ in range(min(dirty.get("unknown_customer", 0), len(offered))):
        row = next(bad); offer_customer_ids[row] = "cus_unknown"
    offers = pa.table({
        "offer_id": _ids("off_", offer_numbers),
        "customer_id": pa.array(offer_customer_ids, pa.string()),
        "product": pa.array(product_names, pa.string()),
        "offered_at": _timestamps(start, offer_micros),
        "contact_cost_minor": pa.array(cost),
        "is_accepted": pa.array(accepted),
        "revenue_minor": pa.array(revenue),
        "currency_code": pa.array(np.full(len(offered), "USD"), pa.string()),
    }, schema=RAW_SCHEMAS["offers"]).sort_by("offered_at")

    # Accepted offers become holdings a few days later.
    new_holder, new_product = offered[accepted], offer_product[accepted]
    new_opened = offer_micros[accepted] + rng.integers(1, 10, len(new_holder)) * _MICROS_PER_DAY
    holds[new_holder, new_product] = True
    all_holder = np.concatenate([holder, new_holder])
    all_product = np.concatenate([product, new_product])
    all_opened = np.concatenate([opened, new_opened])
    all_closed = np.concatenate([closed, np.zeros(len(new_holder), np.int64)])
    is_open = np.concatenate([~closed_before_start, np.ones(len(new_holder), bool)])
    product_holdings = pa.table({
        "customer_id": _ids("cus_", all_holder),
        "product": pa.array(np.array(list(PRODUCTS))[all_product], pa.string()),
        "opened_at": _timestamps(start, all_opened),
        "closed_at": _timestamps(start, all_closed, mask=is_open),
    }, schema=RAW_SCHEMAS["product_holdings"])

    # Ground truth at the end of the period: every (customer, product not held) candidate.
    end = np.full(n_customers, days * _MICROS_PER_DAY)
    final_features = features_at(numbers, end)
    final_features["holdings"] = holds.sum(axis=1)
    candidate_customer, candidate_product = np.nonzero(eligible_products(people["segment"]) & ~holds)
    p_end = np.zeros(len(candidate_customer))
    revenue_end = np.zeros(len(candidate_customer))
    for position, name in enumerate(PRODUCTS):
        rows = candidate_product == position
        subset = {key: value[candidate_customer[rows]] for key, value in final_features.items()}
        p_end[rows] = acceptance_probability(subset, name)
        revenue_end[rows] = expected_deal_size(subset, name)
    truth = pa.table({
        "customer_id": _ids("cus_", candidate_customer),
        "product": pa.array(np.array(list(PRODUCTS))[candidate_product], pa.string()),
        "as_of": _timestamps(start, np.full(len(candidate_customer), days * _MICROS_PER_DAY)),
        "p_accept": pa.array(p_end),
        "expected_revenue_minor": pa.array(revenue_end),
        "contact_cost_minor": pa.array(np.full(len(candidate_customer), CONTACT_COST_MINOR["phone"], np.int64)),
    })
    offers_truth = pa.table({"offer_id": _ids("off_", offer_numbers), "p_accept": pa.array(p_accept), "expected_revenue_minor": pa.array(expected)})
    return {"customers": customers, "product_holdings": product_holdings, "interactions": interactions, "offers": offers,
            "_truth_offer_candidates": truth, "_truth_offers": offers_truth}
