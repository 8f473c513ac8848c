"""The customers' days: engagement events, cross-sell offers (drawn from the truth), new holdings.

Features for an offer are taken as of the start of its day (UTC midnight): interactions and
approved card spend in the 30 whole days before, holdings held then. Rolling 30-day sums are
kept in ring buffers of one slot per day, so memory is bounded by the customer population.

>>> from payloom_sim.customers import CustomerPopulation
>>> start = np.datetime64("2025-01-01")
>>> people = CustomerPopulation.draw(2_000, start=start, seed=1)
>>> stream = CustomerStream(people, start=start, days=40)
>>> batches = []
>>> for day in range(40):
...     batches.append(stream.run_day(day, np.random.default_rng(day)))
...     stream.end_day(day)
>>> sum(b["offers"].num_rows for b in batches) > 50, sum(b["interactions"].num_rows for b in batches) > 5_000
(True, True)
>>> batches[-1]["offers"].schema == WRITE_SCHEMAS["offers"]
True
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from payloom_sim.arrowcols import boolean, categorical, fixed_ids, numeric, strings, timestamps
from payloom_sim.calendar import DAY_US, HOUR_WEIGHTS, OFFICE_HOUR_WEIGHTS, draw_times
from payloom_sim.constants import CHANNELS, CURRENCIES, INTERACTION_KINDS, PRODUCT_NAMES, SEGMENTS, usd_per_unit
from payloom_sim.crosssell import DEAL_SIZE_SIGMA, acceptance_probability, contact_cost_usd, eligible, expected_deal_size
from payloom_sim.customers import CustomerPopulation, holdings_table
from payloom_sim.sampling import AliasSampler, GuideTableSampler
from payloom_sim.schemas import TRUTH_SCHEMAS, WRITE_SCHEMAS

__all__ = ["CustomerStream", "OFFER_SHARE_PER_30_DAYS", "DIRTY_OFFER_KINDS", "UNKNOWN_PRODUCT", "UNKNOWN_CUSTOMER_ID"]

#: Share of customers contacted with an offer in every 30 days (the default of `offer_share`).
OFFER_SHARE_PER_30_DAYS = 0.05
DIRTY_OFFER_KINDS = ("negative_revenue", "unknown_product", "unknown_customer")
UNKNOWN_PRODUCT = "time_machine"
UNKNOWN_CUSTOMER_ID = "cus_unknown"
_WINDOW = 30
#: Channel shares, and P(kind | channel) over INTERACTION_KINDS (visit, login, inquiry, complaint, statement_view).
_CHANNEL_P = np.array([0.32, 0.43, 0.1, 0.1, 0.05])
_KIND_P = np.array([
    [0.55, 0.25, 0.08, 0.02, 0.10], [0.15, 0.55, 0.05, 0.02, 0.23], [0.0, 0.0, 0.7, 0.3, 0.0],
    [0.0, 0.0, 0.75, 0.2, 0.05], [0.6, 0.0, 0.3, 0.1, 0.0],
])


_CHANNEL_KIND = AliasSampler((_CHANNEL_P[:, None] * _KIND_P).ravel())


class CustomerStream:
    """Rolling engagement and spend per customer, and the day-by-day customer-side tables."""

    def __init__(self, people: CustomerPopulation, *, start: np.datetime64, days: int, offer_share: float = OFFER_SHARE_PER_30_DAYS) -> None:
        n = people.size
        self.people, self.start, self.days = people, np.datetime64(start, "D"), days
        self.offer_share = offer_share
        self._spend_ring = np.zeros((_WINDOW, n), np.float32)
        self._engagement_ring = np.zeros((_WINDOW, n), np.uint16)
        self.spend_30d = np.zeros(n)
        self.engagement_30d = np.zeros(n, np.int64)
        self._spend_today = np.zeros(n)
        self._engagement_today = np.zeros(n, np.uint16)
        self._engagement_sampler = GuideTableSampler(people.engagement_rate)
        self._expected_interactions = float(people.engagement_rate.sum() / 30.0)
        self.next_offer = 0
        self.dirty_plan: dict[str, np.ndarray] = {kind: np.zeros(days, np.int64) for kind in DIRTY_OFFER_KINDS}
        self.dirty_done: dict[str, int] = {kind: 0 for kind in DIRTY_OFFER_KINDS}

    def add_spend(self, customer: np.ndarray, amount_usd: np.ndarray) -> None:
        """Approved card spend of the day (from the attempt stream)."""
        self._spend_today += np.bincount(customer, weights=amount_usd, minlength=self.people.size)

    def features(self, customer: np.ndarray) -> dict[str, np.ndarray]:
        """Customer features (crosssell.CUSTOMER_FEATURES) as of now."""
        p = self.people
        return {
            "segment": p.segment[customer], "age_years": p.age_years[customer], "income_usd": p.income_usd[customer],
            "credit_score": p.credit_score[customer], "holdings_count": p.holds[customer].sum(axis=1),
            "engagement_30d": self.engagement_30d[customer], "spend_30d_usd": self.spend_30d[customer],
        }

    def run_day(self, day: int, rng: np.random.Generator) -> dict[str, pa.Table]:
        """Offers (features as of the day's start) and interactions of `day`; call end_day after its attempts."""
        offers, offer_truth, new_holdings = self._offers(day, rng)
        interactions = self._interactions(day, rng)
        return {"offers": offers, "offer_truth": offer_truth, "product_holdings": new_holdings, "interactions": interactions}

    def end_day(self, day: int) -> None:
        slot = day % _WINDOW
        self.spend_30d += self._spend_today - self._spend_ring[slot]
        self._spend_ring[slot] = self._spend_today
        self._spend_today[:] = 0.0
        self.engagement_30d += self._engagement_today.astype(np.int64) - self._engagement_ring[slot]
        self._engagement_ring[slot] = self._engagement_today
        self._engagement_today = np.zeros(self.people.size, np.uint16)

    def _interactions(self, day: int, rng: np.random.Generator) -> pa.Table:
        n = int(rng.poisson(self._expected_interactions))
        customer = self._engagement_sampler.draw(n, rng, ordered=True)  # customers sorted: a friendlier table
        self._engagement_today = np.minimum(np.bincount(customer, minlength=self.people.size), 65_535).astype(np.uint16)
        cell = _CHANNEL_KIND.draw(n, rng)
        channel, kind = cell // len(INTERACTION_KINDS), cell % len(INTERACTION_KINDS)
        office = np.isin(channel, (CHANNELS.index("support"), CHANNELS.index("branch")))
        time = draw_times(HOUR_WEIGHTS, 0, DAY_US, n, rng)
        time[office] = draw_times(OFFICE_HOUR_WEIGHTS, 0, DAY_US, int(office.sum()), rng)
        return pa.Table.from_arrays([
            self.people.ids.take(customer), timestamps(self.start, day * DAY_US + time),
            categorical(CHANNELS, channel), categorical(INTERACTION_KINDS, kind),
        ], schema=WRITE_SCHEMAS["interactions"])

    def _offers(self, day: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table, pa.Table]:
        people = self.people
        n = int(rng.poisson(people.size * self.offer_share / 30.0))
        customer = rng.integers(0, people.size, n)
        candidates = eligible(people.segment[customer][:, None], np.arange(len(PRODUCT_NAMES))[None, :]) & ~people.holds[customer]
        product = (rng.random(candidates.shape) * candidates).argmax(axis=1)
        keep = candidates.any(axis=1)
        customer, product = customer[keep], product[keep]
        n = len(customer)
        features = self.features(customer)
        p_accept = acceptance_probability(features, product)
        deal_usd = expected_deal_size(features, product)
        accepted = rng.random(n) < p_accept
        factor = np.exp(DEAL_SIZE_SIGMA * rng.standard_normal(n) - DEAL_SIZE_SIGMA**2 / 2)
        offered_us = day * DAY_US + draw_times(OFFICE_HOUR_WEIGHTS, 0, DAY_US, n, rng)
        order = np.argsort(offered_us, kind="stable")
        customer, product, p_accept, deal_usd, factor, offered_us = (
            values[order] for values in (customer, product, p_accept, deal_usd, factor, offered_us))
        accepted = accepted[order]
        features = {key: value[order] for key, value in features.items()}
        currency = people.currency_code()[customer]
        rate = np.array([usd_per_unit(code, self.start + np.timedelta64(day, "D")) for code in CURRENCIES])[currency]
        revenue = np.where(accepted, np.round(deal_usd * factor / rate * 100.0), 0).astype(np.int64)
        cost = np.round(contact_cost_usd(product) / rate * 100.0).astype(np.int64)
        offer_ids = fixed_ids("off_", self.next_offer + np.arange(n), 8)
        self.next_offer += n
        # Accepted offers open the product a few days later (within the period).
        new = np.flatnonzero(accepted)
        people.holds[customer[new], product[new]] = True
        opened = np.minimum(offered_us[new] + rng.integers(1, 10 * DAY_US, len(new)), self.days * DAY_US - 1)
        holdings = holdings_table(self.start, customer[new], product[new], opened, np.full(len(new), -1))
        offers = self._offers_table(day, offer_ids, customer, product, offered_us, cost, accepted, revenue, currency, rng)
        truth = pa.Table.from_arrays([
            offer_ids, categorical(SEGMENTS, features["segment"]), numeric(features["age_years"], pa.float64()),
            numeric(features["income_usd"], pa.float64()), numeric(features["credit_score"], pa.int32()),
            numeric(features["holdings_count"], pa.int16()), numeric(features["engagement_30d"], pa.int32()),
            numeric(features["spend_30d_usd"], pa.float64()), numeric(p_accept, pa.float64()), numeric(deal_usd, pa.float64()),
            numeric(np.round(deal_usd / rate * 100.0), pa.int64()),
        ], schema=TRUTH_SCHEMAS["offers"])
        return offers, truth, holdings

    def _offers_table(self, day: int, offer_ids: pa.Array, customer: np.ndarray, product: np.ndarray, offered_us: np.ndarray,
                      cost: np.ndarray, accepted: np.ndarray, revenue: np.ndarray, currency: np.ndarray, rng: np.random.Generator) -> pa.Table:
        """The day's `offers` rows, with the planned contract violations (carried to later days when a day has too few rows)."""
        n = len(customer)
        rows = rng.permutation(n)
        used, broken = 0, {}
        for kind in DIRTY_OFFER_KINDS:
            owed = int(self.dirty_plan[kind][: day + 1].sum()) - self.dirty_done[kind]
            k = max(min(owed, n - used), 0)
            broken[kind] = rows[used : used + k]
            used += k
            self.dirty_done[kind] += k
        revenue = revenue.copy()
        revenue[broken["negative_revenue"]] = -np.abs(revenue[broken["negative_revenue"]]) - 100
        product = product.copy()
        product[broken["unknown_product"]] = len(PRODUCT_NAMES)
        customers = self.people.ids.take(customer)
        if len(broken["unknown_customer"]):
            values = customers.to_pylist()
            for row in broken["unknown_customer"]:
                values[row] = UNKNOWN_CUSTOMER_ID
            customers = strings(values)
        return pa.Table.from_arrays([
            offer_ids, customers, categorical(PRODUCT_NAMES + (UNKNOWN_PRODUCT,), product), timestamps(self.start, offered_us),
            numeric(cost, pa.int64()), boolean(accepted), numeric(revenue, pa.int64()), categorical(CURRENCIES, currency),
        ], schema=WRITE_SCHEMAS["offers"])

    def candidates(self, block: np.ndarray) -> pa.Table:
        """`_truth/offer_candidates` for customers `block`: every product they could take but do not hold, at the period's end."""
        people = self.people
        open_product = eligible(people.segment[block][:, None], np.arange(len(PRODUCT_NAMES))[None, :]) & ~people.holds[block]
        row, product = np.nonzero(open_product)
        customer = block[row]
        features = self.features(customer)
        p = acceptance_probability(features, product)
        deal_usd = expected_deal_size(features, product)
        currency = people.currency_code()[customer]
        rate = np.array([usd_per_unit(code, self.start + np.timedelta64(self.days, "D")) for code in CURRENCIES])[currency]
        revenue = np.round(deal_usd / rate * 100.0).astype(np.int64)
        cost = np.round(contact_cost_usd(product) / rate * 100.0).astype(np.int64)
        return pa.Table.from_arrays([
            self.people.ids.take(customer), categorical(PRODUCT_NAMES, product),
            timestamps(self.start, np.full(len(customer), self.days * DAY_US)), categorical(CURRENCIES, currency),
            numeric(p, pa.float64()), numeric(revenue, pa.int64()), numeric(cost, pa.int64()),
            numeric(p * revenue - cost, pa.float64()), numeric(p * deal_usd - contact_cost_usd(product), pa.float64()),
        ], schema=TRUTH_SCHEMAS["offer_candidates"])
