"""Customers (consumers and businesses), their product holdings, engagement, and past offers.

An offer is accepted with a probability that depends on the customer's income, credit score,
age, segment, engagement and holdings; a deal's size depends strongly on segment and income,
so ranking by expected payoff p * r - c differs from ranking by p.

>>> rng = np.random.default_rng(0)
>>> people = draw_customers(50, rng)
>>> features = {"segment": people["segment"], "income_usd": people["income_usd"], "credit_score": people["credit_score"],
...             "age": people["age"], "engagement_30d": np.ones(50), "holdings": np.ones(50)}
>>> p = acceptance_probability(features, "savings")
>>> bool(((p >= 0) & (p <= 1)).all())
True
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PRODUCTS", "SEGMENTS", "CHANNELS", "CONTACT_COST_MINOR", "draw_customers", "eligible_products",
    "acceptance_probability", "expected_deal_size", "holding_probability",
]

SEGMENTS = ("consumer", "small_business", "enterprise")
#: product -> (who can hold it: consumer/business/any, acceptance base logit, mean deal size in USD for a median customer)
PRODUCTS = {
    "savings": ("any", -1.6, 60.0),
    "checking": ("any", -2.0, 40.0),
    "credit_card": ("consumer", -1.9, 180.0),
    "loan": ("consumer", -2.6, 900.0),
    "mortgage": ("consumer", -3.4, 4500.0),
    "investment": ("consumer", -2.8, 1200.0),
    "insurance": ("consumer", -2.2, 300.0),
    "working_capital": ("business", -2.2, 6000.0),
    "merchant_cash_advance": ("business", -2.5, 3000.0),
    "business_credit_card": ("business", -1.8, 700.0),
}
CHANNELS = ("web", "app", "support", "email", "branch")
INTERACTION_KINDS = ("visit", "login", "inquiry", "complaint")
#: Cost of one contact, by how the offer is made (US cents).
CONTACT_COST_MINOR = {"email": 150, "phone": 900, "branch": 2500}
OCCUPATIONS_CONSUMER = ("engineer", "teacher", "nurse", "retail", "manager", "student", "retired", "self_employed")
OCCUPATIONS_BUSINESS = ("retail", "hospitality", "software", "logistics", "manufacturing", "services")


def draw_customers(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Latent and observable attributes of `n` customers."""
    segment = rng.choice(len(SEGMENTS), n, p=[0.86, 0.11, 0.03])
    age = np.where(segment == 0, np.clip(rng.normal(42, 14, n), 18, 90), np.nan)
    income = np.exp(rng.normal(np.array([10.9, 12.3, 14.5])[segment], 0.6))
    credit = np.clip(np.round(rng.normal(680, 80, n) + 20 * np.log(income / 50_000)), 300, 900).astype(np.int32)
    return {
        "segment": segment,
        "age": age,
        "income_usd": income,
        "credit_score": credit,
        "engagement_rate": rng.lognormal(1.0, 0.8, n),  # interactions per 30 days
        "tenure_days": rng.integers(30, 15 * 365, n),
    }


def eligible_products(segment: np.ndarray) -> np.ndarray:
    """Boolean (customers, products): which products each customer could hold."""
    who = np.array([spec[0] for spec in PRODUCTS.values()])
    is_business = (np.asarray(segment) > 0)[:, None]
    return (who == "any") | ((who == "consumer") & ~is_business) | ((who == "business") & is_business)


def _z_income(income_usd: np.ndarray) -> np.ndarray:
    return (np.log(income_usd) - 11.0) / 1.2


def holding_probability(people: dict[str, np.ndarray]) -> np.ndarray:
    """P(holding each product at the start), shape (customers, products)."""
    base = np.array([0.5, 1.5, 0.0, -1.2, -1.8, -1.5, -0.6, -0.8, -1.5, 0.0])
    z = _z_income(people["income_usd"])[:, None]
    credit = ((people["credit_score"] - 680) / 80)[:, None]
    logit = base + 0.6 * z + 0.4 * credit
    return eligible_products(people["segment"]) / (1 + np.exp(-logit))


def acceptance_probability(features: dict[str, np.ndarray], product: str) -> np.ndarray:
    """P(accept an offer of `product` | customer features at the time of the offer).

    features: segment (index), income_usd, credit_score, age (NaN for businesses),
    engagement_30d (interactions in the last 30 days), holdings (products held).
    """
    _, base, _ = PRODUCTS[product]
    z = _z_income(np.asarray(features["income_usd"], dtype=float))
    credit = (np.asarray(features["credit_score"], dtype=float) - 680) / 80
    age = np.nan_to_num((np.asarray(features["age"], dtype=float) - 42) / 14)
    engagement = np.log1p(np.asarray(features["engagement_30d"], dtype=float))
    holdings = np.asarray(features["holdings"], dtype=float)
    logit = base + 0.45 * engagement + 0.15 * holdings
    if product in ("investment", "mortgage", "insurance"):
        logit = logit + 0.7 * z + 0.4 * age
    elif product in ("loan", "credit_card", "merchant_cash_advance"):
        logit = logit - 0.5 * z + 0.5 * credit
    else:
        logit = logit + 0.2 * z + 0.2 * credit
    eligible = eligible_products(np.asarray(features["segment"]))[:, list(PRODUCTS).index(product)]
    return np.where(eligible, 1 / (1 + np.exp(-logit)), 0.0)


#: Spread (sigma of the log) of deal sizes around their expectation.
DEAL_SIZE_SIGMA = 0.5


def expected_deal_size(features: dict[str, np.ndarray], product: str) -> np.ndarray:
    """E[revenue in US cents | accepted], for customers with `features` (see acceptance_probability)."""
    _, _, mean_usd = PRODUCTS[product]
    scale = np.exp(0.8 * _z_income(np.asarray(features["income_usd"], dtype=float)))
    return mean_usd * 100 * scale
