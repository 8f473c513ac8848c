"""The customer population: consumers and businesses, and what they held before the period.

>>> people = CustomerPopulation.draw(1_000, start=np.datetime64("2025-01-01"), seed=1)
>>> people.size, bool((people.credit_score >= 300).all() and (people.credit_score <= 900).all())
(1000, True)
>>> bool(np.isnan(people.age_years[people.segment > 0]).all())
True
>>> table = people.customers_table(np.datetime64("2025-01-01"))
>>> table.schema == WRITE_SCHEMAS["customers"]
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from payloom_sim.arrowcols import IdColumn, categorical, dates, fixed_ids, numeric, timestamps
from payloom_sim.calendar import DAY_US
from payloom_sim.constants import (
    COUNTRIES, COUNTRY_CURRENCY, COUNTRY_WEIGHTS, CURRENCIES, OCCUPATIONS_BUSINESS, OCCUPATIONS_CONSUMER,
    PRODUCT_NAMES, SEGMENTS, usd_per_unit,
)
from payloom_sim.crosssell import SEGMENT_LOG_INCOME, eligible
from payloom_sim.schemas import WRITE_SCHEMAS

__all__ = ["CustomerPopulation", "COUNTRY_INCOME_SCALE", "customer_ids"]

#: Income level of each country relative to the US (same order as COUNTRIES).
COUNTRY_INCOME_SCALE = np.array([1.0, 0.8, 0.85, 0.75, 0.85, 0.2, 0.1, 0.25])
_COUNTRY_CURRENCY_CODE = np.array([CURRENCIES.index(COUNTRY_CURRENCY[c]) for c in COUNTRIES])
_OCCUPATIONS = OCCUPATIONS_CONSUMER + OCCUPATIONS_BUSINESS
_HOLDING_BASE = np.array([0.6, 1.6, 0.2, -1.3, -1.6, -1.4, -0.7, -0.9, -1.8, -0.1])


def customer_ids(numbers: np.ndarray) -> pa.Array:
    """'cus_00000042' style ids."""
    return fixed_ids("cus_", numbers, 8)


@dataclass
class CustomerPopulation:
    """Parallel arrays, one entry per customer; `holds` is the evolving product ownership."""

    segment: np.ndarray          # index into SEGMENTS
    country: np.ndarray          # index into COUNTRIES
    age_years: np.ndarray        # NaN for businesses
    income_usd: np.ndarray
    credit_score: np.ndarray     # int32
    occupation: np.ndarray       # index into consumer + business occupations
    created_us: np.ndarray       # relationship start, microseconds relative to the period start (< 0)
    engagement_rate: np.ndarray  # interactions per 30 days
    holds: np.ndarray            # (customers, products) bool: held now
    initial_holdings: dict[str, np.ndarray]  # customer, product, opened_us, closed_us (-1: open)

    @property
    def size(self) -> int:
        return len(self.segment)

    @cached_property
    def ids(self) -> IdColumn:
        """customer_id strings, rendered once."""
        return IdColumn("cus_", self.size, 8)

    @classmethod
    def draw(cls, n: int, *, start: np.datetime64, seed: int) -> "CustomerPopulation":
        rng = np.random.default_rng([seed, 2])
        segment = rng.choice(len(SEGMENTS), n, p=[0.86, 0.11, 0.03])
        country = rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHTS)
        consumer = segment == 0
        age = np.where(consumer, np.clip(rng.normal(43.0, 15.0, n), 18.0, 92.0), np.nan)
        z_income = rng.normal(0.0, 1.0, n)
        income = np.exp(SEGMENT_LOG_INCOME[segment, 0] + SEGMENT_LOG_INCOME[segment, 1] * z_income) * COUNTRY_INCOME_SCALE[country]
        score = 680 + 45 * z_income + np.where(consumer, 1.3 * (np.nan_to_num(age, nan=43.0) - 43.0), 0.0) + rng.normal(0, 65, n)
        occupation = np.where(consumer, rng.integers(0, len(OCCUPATIONS_CONSUMER), n),
                              len(OCCUPATIONS_CONSUMER) + rng.integers(0, len(OCCUPATIONS_BUSINESS), n))
        max_tenure_days = np.where(consumer, np.maximum((np.nan_to_num(age) - 18.0) * 365.0, 60.0), 20 * 365.0)
        tenure_days = 30 + rng.random(n) * np.minimum(max_tenure_days, 25 * 365.0)
        people = cls(
            segment=segment, country=country, age_years=age, income_usd=income,
            credit_score=np.clip(np.round(score), 300, 900).astype(np.int32), occupation=occupation,
            created_us=-(tenure_days * DAY_US).astype(np.int64),
            engagement_rate=rng.lognormal(np.log(2.5), 0.9, n) * np.where(consumer, 1.0, 1.6),
            holds=np.zeros((n, len(PRODUCT_NAMES)), dtype=bool), initial_holdings={},
        )
        people._draw_holdings(rng, z_income)
        return people

    def _draw_holdings(self, rng: np.random.Generator, z_income: np.ndarray) -> None:
        """Ownership before the period depends on segment, income, age and credit score."""
        n = self.size
        credit = ((self.credit_score - 680) / 80.0)[:, None]
        age = np.nan_to_num((self.age_years - 43.0) / 15.0)[:, None]
        logit = _HOLDING_BASE + 0.6 * z_income[:, None] + 0.4 * credit
        logit[:, PRODUCT_NAMES.index("mortgage")] += 0.8 * age[:, 0] - 0.5 * age[:, 0] ** 2
        logit[:, PRODUCT_NAMES.index("investment")] += 0.5 * age[:, 0]
        can_hold = eligible(self.segment[:, None], np.arange(len(PRODUCT_NAMES))[None, :])
        ever = (rng.random((n, len(PRODUCT_NAMES))) < 1.0 / (1.0 + np.exp(-logit))) & can_hold
        customer, product = np.nonzero(ever)
        opened = (self.created_us[customer] * rng.random(len(customer))).astype(np.int64)
        closed_before = rng.random(len(customer)) < 0.08
        closed = np.where(closed_before, (opened * rng.random(len(customer))).astype(np.int64), -1)
        self.holds[customer[~closed_before], product[~closed_before]] = True
        self.initial_holdings = {"customer": customer, "product": product, "opened_us": opened, "closed_us": closed}

    def currency_code(self) -> np.ndarray:
        """Index into CURRENCIES of each customer's home currency."""
        return _COUNTRY_CURRENCY_CODE[self.country]

    def customers_table(self, start: np.datetime64) -> pa.Table:
        """The `customers` raw table (income converted to the home currency at the start date's rate)."""
        rate = np.array([usd_per_unit(code, start) for code in CURRENCIES])[self.currency_code()]
        birth = np.datetime64(start, "D") - np.round(np.nan_to_num(self.age_years) * 365.25).astype("timedelta64[D]")
        return pa.Table.from_arrays([
            self.ids.take(np.arange(self.size)),
            timestamps(start, self.created_us),
            dates(birth, mask=np.isnan(self.age_years)),
            numeric(np.round(self.income_usd / rate * 100), pa.int64()),
            categorical(CURRENCIES, self.currency_code()),
            categorical(_OCCUPATIONS, self.occupation),
            numeric(self.credit_score, pa.int32()),
            categorical(COUNTRIES, self.country),
            categorical(SEGMENTS, self.segment),
        ], schema=WRITE_SCHEMAS["customers"])

    def initial_holdings_table(self, start: np.datetime64) -> pa.Table:
        """`product_holdings` rows for ownership that began before the period."""
        h = self.initial_holdings
        return holdings_table(start, h["customer"], h["product"], h["opened_us"], h["closed_us"])


def holdings_table(start: np.datetime64, customer: np.ndarray, product: np.ndarray, opened_us: np.ndarray, closed_us: np.ndarray) -> pa.Table:
    """`product_holdings` rows; closed_us < 0 means still held (closed_at NULL)."""
    return pa.Table.from_arrays([
        customer_ids(customer),
        categorical(PRODUCT_NAMES, product),
        timestamps(start, opened_us),
        timestamps(start, np.maximum(closed_us, 0), mask=closed_us < 0),
    ], schema=WRITE_SCHEMAS["product_holdings"])
