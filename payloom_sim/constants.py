"""Fixed vocabularies of the simulated world: countries, currencies, networks, MCCs, actions.

Everything the raw tables may contain as a categorical value is listed here, so that
downstream seeds (currencies, products) and tests can import the exact sets.

>>> CURRENCIES
('USD', 'GBP', 'EUR', 'BRL', 'INR', 'MXN')
>>> OPTIMIZATION_SETS[:3], len(OPTIMIZATION_SETS)
(('none', '3ds', 'iso_format'), 16)
>>> usd_per_unit("EUR", "2025-05-02")
1.13
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = [
    "COUNTRIES", "COUNTRY_CURRENCY", "CURRENCIES", "FX_USD_PER_UNIT", "usd_per_unit", "NETWORKS",
    "CARD_TYPES", "TRANSACTION_TYPES", "GATEWAYS", "OPTIMIZATIONS", "OPTIMIZATION_SETS",
    "OPTIMIZATION_FLAGS", "DECLINE_CODES", "MERCHANT_CATEGORIES", "MCC_CODES", "PRODUCT_FAMILIES",
    "SEGMENTS", "PRODUCTS", "CHANNELS", "INTERACTION_KINDS",
]

COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "NL", "BR", "IN", "MX")
COUNTRY_WEIGHTS = np.array([0.38, 0.14, 0.11, 0.08, 0.05, 0.11, 0.08, 0.05])
COUNTRY_CURRENCY: dict[str, str] = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "BR": "BRL", "IN": "INR", "MX": "MXN",
}
#: Every currency the clean rows use (ISO 4217, all with 2 minor digits).
CURRENCIES: tuple[str, ...] = ("USD", "GBP", "EUR", "BRL", "INR", "MXN")
#: USD per unit, valid from a date on: the same schedule as dbt_project/seeds/fx_rates.csv, so
#: amounts converted back to USD downstream equal the simulator's USD amounts (up to rounding).
FX_USD_PER_UNIT: dict[str, tuple[tuple[str, float], ...]] = {
    "USD": (("1970-01-01", 1.0),),
    "EUR": (("1970-01-01", 1.10), ("2025-01-01", 1.04), ("2025-04-01", 1.13), ("2025-07-01", 1.17), ("2026-01-01", 1.16)),
    "GBP": (("1970-01-01", 1.30), ("2025-01-01", 1.25), ("2025-04-01", 1.33), ("2025-07-01", 1.35), ("2026-01-01", 1.34)),
    "BRL": (("1970-01-01", 0.20), ("2025-01-01", 0.165), ("2025-07-01", 0.18), ("2026-01-01", 0.185)),
    "INR": (("1970-01-01", 0.0125), ("2025-01-01", 0.0117), ("2025-07-01", 0.0116), ("2026-01-01", 0.0112)),
    "MXN": (("1970-01-01", 0.055), ("2025-01-01", 0.049), ("2025-07-01", 0.053)),
}


def usd_per_unit(currency: str, day: str | np.datetime64) -> float:
    """US dollars per unit of `currency` on `day` (the latest rate valid on or before it)."""
    when = np.datetime64(day, "D")
    rate = FX_USD_PER_UNIT[currency][0][1]
    for valid_from, value in FX_USD_PER_UNIT[currency]:
        if np.datetime64(valid_from, "D") <= when:
            rate = value
    return rate


NETWORKS: tuple[str, ...] = ("visa", "mastercard", "amex", "discover")
CARD_TYPES: tuple[str, ...] = ("credit", "debit", "prepaid")
TRANSACTION_TYPES: tuple[str, ...] = ("one_off", "recurring", "subscription_renewal")
GATEWAYS: tuple[str, ...] = ("gw_alpha", "gw_beta", "gw_gamma")
OPTIMIZATIONS: tuple[str, ...] = ("3ds", "iso_format", "network_token", "retry")


def _all_optimization_sets() -> tuple[str, ...]:
    names = ["none"]
    for size in range(1, len(OPTIMIZATIONS) + 1):
        names += ["+".join(sorted(subset)) for subset in combinations(OPTIMIZATIONS, size)]
    return tuple(names)


#: Every optimisation value the contract allows: 'none' or a sorted, '+'-joined subset.
OPTIMIZATION_SETS: tuple[str, ...] = _all_optimization_sets()
#: (set, optimisation) -> applied?, in OPTIMIZATION_SETS x OPTIMIZATIONS order.
OPTIMIZATION_FLAGS = np.array([[name in value.split("+") for name in OPTIMIZATIONS] for value in OPTIMIZATION_SETS])
#: In the order the issuer checks them: the first failing check names the decline.
DECLINE_CODES: tuple[str, ...] = ("hard_decline", "technical", "insufficient_funds", "authentication_required", "do_not_honor")

#: MCC -> (product family, risk logit, card-not-present share, mean amount in USD,
#: transaction type shares (one_off, recurring, subscription_renewal), merchants weight)
MERCHANT_CATEGORIES: dict[str, tuple[str, float, float, float, tuple[float, float, float], float]] = {
    "5411": ("groceries", -0.6, 0.08, 55.0, (0.97, 0.03, 0.0), 0.16),
    "5812": ("restaurants", -0.4, 0.15, 42.0, (1.0, 0.0, 0.0), 0.13),
    "5814": ("fast_food", -0.5, 0.20, 14.0, (1.0, 0.0, 0.0), 0.08),
    "5732": ("electronics", 0.6, 0.60, 320.0, (0.95, 0.05, 0.0), 0.05),
    "7995": ("gambling", 1.2, 0.95, 110.0, (0.85, 0.15, 0.0), 0.03),
    "4899": ("streaming", -0.4, 1.00, 16.0, (0.05, 0.15, 0.80), 0.06),
    "5968": ("subscription_boxes", 0.4, 1.00, 38.0, (0.15, 0.15, 0.70), 0.03),
    "5999": ("miscellaneous_retail", 0.3, 0.50, 70.0, (0.90, 0.10, 0.0), 0.08),
    "4111": ("transport", -0.6, 0.45, 20.0, (0.85, 0.15, 0.0), 0.07),
    "4121": ("rideshare", -0.2, 0.90, 24.0, (1.0, 0.0, 0.0), 0.05),
    "5311": ("department_stores", -0.2, 0.30, 95.0, (1.0, 0.0, 0.0), 0.06),
    "7011": ("lodging", 0.2, 0.75, 380.0, (1.0, 0.0, 0.0), 0.03),
    "4814": ("telecom", -0.3, 0.90, 60.0, (0.25, 0.65, 0.10), 0.05),
    "5691": ("apparel", 0.0, 0.55, 85.0, (1.0, 0.0, 0.0), 0.07),
    "5942": ("books", -0.3, 0.80, 28.0, (0.75, 0.0, 0.25), 0.04),
}
MCC_CODES: tuple[str, ...] = tuple(MERCHANT_CATEGORIES)
PRODUCT_FAMILIES: tuple[str, ...] = tuple(spec[0] for spec in MERCHANT_CATEGORIES.values())
MCC_RISK_LOGIT = np.array([spec[1] for spec in MERCHANT_CATEGORIES.values()])
MCC_CNP_SHARE = np.array([spec[2] for spec in MERCHANT_CATEGORIES.values()])
MCC_MEAN_USD = np.array([spec[3] for spec in MERCHANT_CATEGORIES.values()])
MCC_TYPE_SHARES = np.array([spec[4] for spec in MERCHANT_CATEGORIES.values()])
MCC_WEIGHT = np.array([spec[5] for spec in MERCHANT_CATEGORIES.values()])
#: Where fraudsters spend (resellable goods, gambling, digital goods).
RISKY_MCCS: tuple[str, ...] = ("5732", "7995", "5999", "5968", "7011")
#: Where expired cards keep being charged (stored credentials).
SUBSCRIPTION_MCCS: tuple[str, ...] = ("4899", "5968", "4814")

SEGMENTS: tuple[str, ...] = ("consumer", "small_business", "enterprise")
#: product -> (who can hold it: any / consumer / business, mean deal size in USD for a
#: typical customer, contact cost in USD). Same names as dbt_project/seeds/products.csv.
PRODUCTS: dict[str, tuple[str, float, float]] = {
    "savings": ("any", 60.0, 1.5),
    "checking": ("any", 40.0, 1.5),
    "credit_card": ("consumer", 180.0, 4.0),
    "loan": ("consumer", 900.0, 12.0),
    "mortgage": ("consumer", 4500.0, 60.0),
    "investment": ("consumer", 1200.0, 25.0),
    "insurance": ("consumer", 300.0, 8.0),
    "working_capital": ("business", 6000.0, 80.0),
    "merchant_cash_advance": ("business", 2500.0, 40.0),
    "business_credit_card": ("business", 700.0, 15.0),
}
PRODUCT_NAMES: tuple[str, ...] = tuple(PRODUCTS)
CHANNELS: tuple[str, ...] = ("web", "app", "support", "email", "branch")
INTERACTION_KINDS: tuple[str, ...] = ("visit", "login", "inquiry", "complaint", "statement_view")
OCCUPATIONS_CONSUMER: tuple[str, ...] = ("engineer", "teacher", "nurse", "retail_worker", "manager", "student", "retired", "self_employed", "driver", "clerk")
OCCUPATIONS_BUSINESS: tuple[str, ...] = ("retail", "hospitality", "software", "logistics", "manufacturing", "professional_services")
