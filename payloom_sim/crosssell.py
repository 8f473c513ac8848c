"""Ground truth of cross-sell: P(accept an offer) and the expected deal size, per customer and product.

Customer features (a mapping of per-customer arrays), all as of the offer:

- segment: names or codes of SEGMENTS; age_years (NaN for businesses); income_usd (annual);
- credit_score (300-900); holdings_count (products held);
- engagement_30d (interactions in the 30 days before); spend_30d_usd (approved card spend in
  the 30 days before).

Acceptance is a product-specific logistic with non-linear terms (a mortgage age bump, credit
score cliffs for lending products); the deal size varies by orders of magnitude across products,
segments and incomes, so ranking by p * r - c differs from ranking by p.

>>> features = example_customer_features(4)
>>> p = acceptance_probability(features, "savings")
>>> bool(((p > 0) & (p < 1)).all())
True
>>> acceptance_probability(features, "working_capital").tolist()  # consumers cannot hold it
[0.0, 0.0, 0.0, 0.0]
>>> bool((expected_deal_size(features, "mortgage") > expected_deal_size(features, "checking")).all())
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from payloom_sim.actions import codes_for
from payloom_sim.constants import PRODUCT_NAMES, PRODUCTS, SEGMENTS

__all__ = [
    "CUSTOMER_FEATURES", "acceptance_probability", "expected_deal_size", "eligible", "contact_cost_usd",
    "product_codes", "segment_codes", "example_customer_features", "SEGMENT_LOG_INCOME", "DEAL_SIZE_SIGMA",
]

CUSTOMER_FEATURES: tuple[str, ...] = ("segment", "age_years", "income_usd", "credit_score", "holdings_count", "engagement_30d", "spend_30d_usd")
#: (mean, sd) of log annual income (USD) by segment, before the country scale.
SEGMENT_LOG_INCOME = np.array([[np.log(55_000.0), 0.6], [np.log(400_000.0), 0.8], [np.log(8_000_000.0), 0.9]])
#: Sigma of the log of a realised deal size around its expectation (a mean-one lognormal factor).
DEAL_SIZE_SIGMA = 0.6
_WHO = np.array([PRODUCTS[name][0] for name in PRODUCT_NAMES])
_BASE_DEAL_USD = np.array([PRODUCTS[name][1] for name in PRODUCT_NAMES])
_CONTACT_USD = np.array([PRODUCTS[name][2] for name in PRODUCT_NAMES])
_ENTERPRISE_DEAL = np.where(_WHO == "business", 6.0, 1.5)


def product_codes(values: Any) -> np.ndarray:
    """Positions in PRODUCT_NAMES for product names or codes (scalar or array)."""
    return codes_for(values, PRODUCT_NAMES, "product", "one of " + ", ".join(PRODUCT_NAMES))


def segment_codes(values: Any) -> np.ndarray:
    """Positions in SEGMENTS for segment names or codes (scalar or array)."""
    return codes_for(values, SEGMENTS, "segment", "one of " + ", ".join(SEGMENTS))


def eligible(segment: Any, product: Any) -> np.ndarray:
    """Whether a customer of `segment` can hold `product` (broadcast)."""
    who = _WHO[product_codes(product)]
    business = segment_codes(segment) > 0
    return (who == "any") | ((who == "consumer") & ~business) | ((who == "business") & business)


def contact_cost_usd(product: Any) -> np.ndarray:
    """Cost of one offer contact for `product` (advisor time for the big-ticket ones), in USD."""
    return _CONTACT_USD[product_codes(product)]


def _standardised(features: Mapping[str, Any]) -> dict[str, np.ndarray]:
    segment = segment_codes(features["segment"])
    income = np.maximum(np.asarray(features["income_usd"], dtype=np.float64), 1.0)
    age = np.asarray(features["age_years"], dtype=np.float64)
    credit = np.asarray(features["credit_score"], dtype=np.float64)
    return {
        "segment": segment, "age": age, "credit": credit,
        "zi": (np.log(income) - SEGMENT_LOG_INCOME[segment, 0]) / SEGMENT_LOG_INCOME[segment, 1],
        "cs": (credit - 680.0) / 80.0,
        "ag": np.nan_to_num((age - 43.0) / 15.0),
        "en": np.log1p(np.asarray(features["engagement_30d"], dtype=np.float64)) - 1.0,
        "sp": np.log1p(np.asarray(features["spend_30d_usd"], dtype=np.float64) / 100.0) - 1.5,
        "hd": np.asarray(features["holdings_count"], dtype=np.float64) - 2.0,
        "ent": (segment == 2).astype(np.float64),
    }


def _logit(name: str, f: dict[str, np.ndarray]) -> np.ndarray:
    zi, cs, ag, en, sp, hd, ent, credit = f["zi"], f["cs"], f["ag"], f["en"], f["sp"], f["hd"], f["ent"], f["credit"]
    if name == "savings":
        return -2.2 + 0.35 * zi + 0.25 * ag + 0.35 * en - 0.15 * hd
    if name == "checking":
        return -2.6 + 0.5 * en - 0.45 * hd + 0.4 * (ag < -1.0)
    if name == "credit_card":
        return -2.2 + 0.7 * cs - 1.2 * (credit < 580) + 0.35 * sp + 0.25 * en - 0.2 * ag
    if name == "loan":
        return -3.0 - 0.35 * zi + 0.45 * sp + 0.5 * cs * (cs > -1.0) - 1.5 * (credit < 560) + 0.2 * en
    if name == "mortgage":
        return -3.8 + 1.6 * np.exp(-(((np.nan_to_num(f["age"], nan=0.0) - 36.0) / 8.0) ** 2)) + 0.55 * zi + 0.5 * cs
    if name == "investment":
        return -3.3 + 0.9 * zi + 0.45 * ag + 0.3 * en + 0.2 * hd
    if name == "insurance":
        return -2.9 + 0.3 * hd + 0.3 * ag + 0.25 * en
    if name == "working_capital":
        return -2.6 + 0.55 * sp + 0.3 * en - 0.25 * zi - 0.4 * ent + 0.3 * cs
    if name == "merchant_cash_advance":
        return -2.9 + 0.7 * sp - 0.5 * cs - 0.6 * ent
    return -2.3 + 0.45 * sp + 0.35 * cs + 0.3 * en + 0.3 * ent  # business_credit_card


def _per_product(features: Mapping[str, Any], product: Any, value) -> np.ndarray:
    f = _standardised(features)
    codes = np.broadcast_to(product_codes(product), f["zi"].shape)
    out = np.zeros(f["zi"].shape)
    if codes.ndim == 0 or len(codes) == 0 or (codes == codes.flat[0]).all():
        if out.size:
            out[...] = value(PRODUCT_NAMES[int(codes.flat[0])], f)
    else:  # group the rows by product: one gather per feature, then contiguous slices
        order = np.argsort(codes, kind="stable")
        grouped = {key: v[order] for key, v in f.items()}
        bounds = np.searchsorted(codes[order], np.arange(len(PRODUCT_NAMES) + 1))
        for code in range(len(PRODUCT_NAMES)):
            low, high = bounds[code], bounds[code + 1]
            if high > low:
                out[order[low:high]] = value(PRODUCT_NAMES[code], {key: v[low:high] for key, v in grouped.items()})
    return np.where(eligible(f["segment"], codes), out, 0.0)


def acceptance_probability(customer_features: Mapping[str, Any], product: Any) -> np.ndarray:
    """P(accept | features at the offer, product); 0 for products the segment cannot hold.

    product: a name or code for every customer, or one per customer.
    """
    return _per_product(customer_features, product, lambda name, f: 1.0 / (1.0 + np.exp(-_logit(name, f))))


def expected_deal_size(customer_features: Mapping[str, Any], product: Any) -> np.ndarray:
    """E[revenue in USD | accepted]: the product's base deal, scaled by income (within segment and
    across countries) and credit score, much larger for enterprises. 0 where not eligible."""
    def size(name: str, f: dict[str, np.ndarray]) -> np.ndarray:
        code = PRODUCT_NAMES.index(name)
        scale = np.exp(0.6 * f["zi"] * SEGMENT_LOG_INCOME[f["segment"], 1] + 0.15 * f["cs"])
        return _BASE_DEAL_USD[code] * scale * np.where(f["ent"] > 0, _ENTERPRISE_DEAL[code], 1.0)

    return _per_product(customer_features, product, size)


def example_customer_features(n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible consumer features (for examples and tests)."""
    rng = np.random.default_rng(seed)
    return {
        "segment": np.zeros(n, np.int64), "age_years": rng.uniform(20, 70, n), "income_usd": rng.lognormal(11, 0.5, n),
        "credit_score": rng.integers(500, 850, n), "holdings_count": rng.integers(0, 4, n),
        "engagement_30d": rng.integers(0, 10, n), "spend_30d_usd": rng.uniform(0, 2_000, n),
    }
