"""The fixed parts of a simulated payments world: countries, issuers, BINs, gateways, merchants.

Everything here is drawn once from the seed, so a world can be rebuilt from its manifest.

>>> world = build_world(seed=1, days=30)
>>> world.gateways
('gw_alpha', 'gw_beta', 'gw_gamma')
>>> len(world.bin_codes) == len(world.bin_issuer)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "World", "build_world", "COUNTRIES", "CURRENCIES", "NETWORKS", "CARD_TYPES", "TRANSACTION_TYPES",
    "GATEWAYS", "OPTIMIZATIONS", "OPTIMIZATION_COMBOS", "MERCHANT_CATEGORIES", "DECLINE_CODES",
]

COUNTRIES = ("US", "GB", "DE", "FR", "NL", "BR", "IN", "MX")
COUNTRY_CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "BR": "BRL", "IN": "INR", "MX": "MXN"}
CURRENCIES = ("USD", "GBP", "EUR", "BRL", "INR", "MXN")
#: US dollars per unit, close to the dbt fx_rates seed (2025): used to draw amounts in local currency.
USD_PER_UNIT = {"USD": 1.0, "GBP": 1.3, "EUR": 1.1, "BRL": 0.17, "INR": 0.0117, "MXN": 0.051}
NETWORKS = ("visa", "mastercard", "amex", "discover")
CARD_TYPES = ("credit", "debit", "prepaid")
TRANSACTION_TYPES = ("one_off", "recurring", "subscription_renewal")
GATEWAYS = ("gw_alpha", "gw_beta", "gw_gamma")
OPTIMIZATIONS = ("3ds", "iso_format", "network_token", "retry")
#: Actions of the optimisation policy: sorted, '+'-joined subsets (or 'none').
OPTIMIZATION_COMBOS = ("none", "3ds", "iso_format", "network_token", "retry", "3ds+network_token", "network_token+retry", "3ds+iso_format")
DECLINE_CODES = ("hard_decline", "technical", "insufficient_funds", "authentication_required", "do_not_honor")
#: MCC -> (product family, risk logit, card-not-present share, mean amount in USD, main transaction type)
MERCHANT_CATEGORIES = {
    "5411": ("groceries", -0.6, 0.10, 60.0, "one_off"),
    "5812": ("restaurants", -0.4, 0.15, 45.0, "one_off"),
    "5732": ("electronics", 0.5, 0.60, 350.0, "one_off"),
    "7995": ("gambling", 1.3, 0.95, 120.0, "one_off"),
    "4899": ("streaming", -0.2, 1.00, 15.0, "subscription_renewal"),
    "5999": ("miscellaneous", 0.2, 0.50, 80.0, "one_off"),
    "4111": ("transport", -0.5, 0.40, 25.0, "one_off"),
    "5311": ("department_stores", -0.2, 0.30, 110.0, "one_off"),
    "7011": ("hotels", 0.3, 0.70, 400.0, "one_off"),
    "4814": ("telecom", -0.3, 0.90, 55.0, "recurring"),
    "5691": ("clothing", 0.0, 0.55, 90.0, "one_off"),
    "5942": ("books", -0.3, 0.80, 30.0, "one_off"),
}


@dataclass(frozen=True)
class World:
    """Issuers, BINs, gateways and merchants, as parallel numpy arrays indexed by position."""

    seed: int
    days: int
    # issuers
    issuer_ids: np.ndarray          # str
    issuer_country: np.ndarray      # index into COUNTRIES
    issuer_base_logit: np.ndarray   # do_not_honor base
    issuer_supports_3ds: np.ndarray  # bool
    issuer_3ds_threshold_usd: np.ndarray  # 3DS required above this amount (inf: never)
    issuer_network_token_lift: np.ndarray
    issuer_iso_format_lift: np.ndarray
    issuer_outage_days: np.ndarray  # (issuers, days) bool: an outage hour band that day
    issuer_outage_hour: np.ndarray  # (issuers, days) int hour of the outage
    # BINs
    bin_codes: np.ndarray           # str, 6 digits
    bin_issuer: np.ndarray
    bin_network: np.ndarray         # index into NETWORKS
    bin_card_type: np.ndarray       # index into CARD_TYPES
    # gateways
    gateways: tuple[str, ...]
    gateway_segment_logit: np.ndarray   # (gateway, network, country, transaction type): added to do_not_honor logit
    gateway_degradation: np.ndarray     # (gateway, days): extra do_not_honor logit during episodes
    # merchants
    merchant_ids: np.ndarray
    merchant_mcc: np.ndarray        # index into MERCHANT_CATEGORIES
    merchant_weight: np.ndarray     # popularity, sums to 1

    @property
    def mcc_codes(self) -> tuple[str, ...]:
        return tuple(MERCHANT_CATEGORIES)


def build_world(*, seed: int, days: int, issuers: int = 30, bins: int = 300, merchants: int = 4000) -> World:
    """Draw a world; the same arguments always give the same world."""
    rng = np.random.default_rng([seed, 1])
    country_weights = np.array([0.40, 0.15, 0.10, 0.08, 0.05, 0.10, 0.07, 0.05])
    issuer_country = rng.choice(len(COUNTRIES), size=issuers, p=country_weights)
    issuer_country[: len(COUNTRIES)] = np.arange(len(COUNTRIES))  # every country has an issuer
    supports_3ds = rng.random(issuers) < 0.8
    threshold = np.where(rng.random(issuers) < 0.45, rng.choice([100.0, 250.0, 500.0], size=issuers), np.inf)
    threshold = np.where(supports_3ds, threshold, np.inf)
    outage_days = rng.random((issuers, days)) < 0.03
    outage_hour = rng.integers(0, 24, size=(issuers, days))

    bin_issuer = rng.integers(0, issuers, size=bins)
    bin_network = rng.choice(len(NETWORKS), size=bins, p=[0.5, 0.33, 0.11, 0.06])
    bin_card_type = rng.choice(len(CARD_TYPES), size=bins, p=[0.5, 0.42, 0.08])
    prefixes = np.array([4, 5, 3, 6])[bin_network]
    bin_codes = np.array([f"{p}{n:05d}" for p, n in zip(prefixes, rng.choice(100_000, size=bins, replace=False))])

    segment = rng.normal(0.0, 0.35, size=(len(GATEWAYS), len(NETWORKS), len(COUNTRIES), len(TRANSACTION_TYPES)))
    # The LinkedIn example: visa / US is split 40/60 by the logging policy, and the 40% gateway is the better one.
    segment[0, 0, 0, :] = -0.45
    segment[1, 0, 0, :] = 0.35
    degradation = np.zeros((len(GATEWAYS), days))
    for gateway in range(len(GATEWAYS)):
        for _ in range(rng.integers(1, 4)):
            start = rng.integers(0, max(days - 2, 1))
            length = rng.integers(2, 7)
            degradation[gateway, start : start + length] += rng.uniform(0.8, 1.5)

    merchant_mcc = rng.integers(0, len(MERCHANT_CATEGORIES), size=merchants)
    merchant_weight = rng.lognormal(0.0, 1.0, size=merchants)
    return World(
        seed=seed,
        days=days,
        issuer_ids=np.array([f"iss_{i:03d}" for i in range(issuers)]),
        issuer_country=issuer_country,
        issuer_base_logit=rng.normal(-3.0, 0.4, size=issuers),
        issuer_supports_3ds=supports_3ds,
        issuer_3ds_threshold_usd=threshold,
        issuer_network_token_lift=rng.normal(0.35, 0.3, size=issuers),
        issuer_iso_format_lift=np.where(rng.random(issuers) < 0.3, rng.uniform(0.4, 0.9, size=issuers), rng.normal(-0.05, 0.05, size=issuers)),
        issuer_outage_days=outage_days,
        issuer_outage_hour=outage_hour,
        bin_codes=bin_codes,
        bin_issuer=bin_issuer,
        bin_network=bin_network,
        bin_card_type=bin_card_type,
        gateways=GATEWAYS,
        gateway_segment_logit=segment,
        gateway_degradation=degradation,
        merchant_ids=np.array([f"mer_{i:05d}" for i in range(merchants)]),
        merchant_mcc=merchant_mcc,
        merchant_weight=merchant_weight / merchant_weight.sum(),
    )
