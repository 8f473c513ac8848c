"""The fixed parts of a simulated payments world: issuers, BINs, merchants, gateways, outages.

Everything is drawn once from the seed (`build_world(seed, days)` is deterministic), so the
truth loaders rebuild the exact world from the manifest. Vocabularies live in
`payloom_sim.constants` and are re-exported here.

>>> world = build_world(seed=1, days=30)
>>> world.gateways
('gw_alpha', 'gw_beta', 'gw_gamma')
>>> len(world.bin_codes) == len(world.bin_issuer), world.gateway_technical.shape
(True, (3, 30, 24))
>>> sorted(set(world.bin_codes.astype(str).tolist()))[0][0] in "3456"
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from payloom_sim.constants import (  # noqa: F401  (re-exported vocabularies)
    CARD_TYPES, COUNTRIES, COUNTRY_CURRENCY, COUNTRY_WEIGHTS, CURRENCIES, DECLINE_CODES, GATEWAYS,
    MCC_CODES, MCC_WEIGHT, MERCHANT_CATEGORIES, NETWORKS, OPTIMIZATION_SETS, OPTIMIZATIONS, PRODUCTS,
    SEGMENTS, TRANSACTION_TYPES,
)

__all__ = ["World", "build_world", "CURRENCIES", "GATEWAYS", "OPTIMIZATIONS", "OPTIMIZATION_SETS", "PRODUCTS", "N_ISSUERS", "N_BINS", "N_MERCHANTS"]

N_ISSUERS, N_BINS, N_MERCHANTS = 32, 320, 5000
_EU = np.array([COUNTRIES.index(c) for c in ("GB", "DE", "FR", "NL")])
_LATAM_ASIA = np.array([COUNTRIES.index(c) for c in ("BR", "IN", "MX")])


@dataclass(frozen=True)
class World:
    """Issuers, BINs, gateways and merchants as parallel numpy arrays indexed by position."""

    seed: int
    days: int
    # issuers
    issuer_ids: np.ndarray               # str
    issuer_country: np.ndarray           # index into COUNTRIES
    issuer_risk_logit: np.ndarray        # base do_not_honor logit
    issuer_supports_3ds: np.ndarray      # bool
    issuer_3ds_threshold_usd: np.ndarray  # CNP above this needs 3DS (inf: never)
    issuer_network_token_lift: np.ndarray  # logit reduction of do_not_honor with a network token
    issuer_iso_format_lift: np.ndarray     # logit reduction with ISO-formatted messages (<0: hurts)
    issuer_retry_lift: np.ndarray          # share of soft declines that smart retry timing avoids
    issuer_outage: np.ndarray            # (issuers, days, 24) bool: the issuer is down that hour
    # BINs
    bin_codes: np.ndarray                # str, 6 digits
    bin_issuer: np.ndarray
    bin_network: np.ndarray              # index into NETWORKS
    bin_card_type: np.ndarray            # index into CARD_TYPES
    # gateways
    gateways: tuple[str, ...]
    gateway_risk_logit: np.ndarray       # (gateways, networks, countries, transaction types): added to do_not_honor
    gateway_degradation: np.ndarray      # (gateways, days): extra do_not_honor logit during degradation episodes
    gateway_technical: np.ndarray        # (gateways, days, 24): technical error probability
    # merchants
    merchant_ids: np.ndarray             # str
    merchant_mcc: np.ndarray             # index into MCC_CODES
    merchant_country: np.ndarray         # index into COUNTRIES
    merchant_weight: np.ndarray          # popularity (sums to 1)

    @property
    def mcc_codes(self) -> tuple[str, ...]:
        return MCC_CODES

    @cached_property
    def gateway_risk_by_cell(self) -> np.ndarray:
        """gateway_risk_logit as (network * countries + country) * types + type -> (gateways,) rows."""
        return np.ascontiguousarray(self.gateway_risk_logit.reshape(len(self.gateways), -1).T)

    @cached_property
    def gateway_degradation_by_day(self) -> np.ndarray:
        """gateway_degradation as day -> (gateways,) rows."""
        return np.ascontiguousarray(self.gateway_degradation.T)

    @cached_property
    def gateway_technical_by_hour(self) -> np.ndarray:
        """gateway_technical as day * 24 + hour -> (gateways,) rows."""
        return np.ascontiguousarray(self.gateway_technical.reshape(len(self.gateways), -1).T)


def _bin_codes(network: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unique 6-digit BINs with the network's leading digits (visa 4, mastercard 51-55, amex 34/37, discover 6011/65)."""
    prefixes = {0: ["4"], 1: ["51", "52", "53", "54", "55"], 2: ["34", "37"], 3: ["6011", "65"]}
    codes: list[str] = []
    seen: set[str] = set()
    for net in network.tolist():
        while True:
            prefix = prefixes[net][rng.integers(len(prefixes[net]))]
            code = prefix + "".join(str(d) for d in rng.integers(0, 10, 6 - len(prefix)))
            if code not in seen:
                seen.add(code)
                codes.append(code)
                break
    return np.array(codes)


def _issuers(rng: np.random.Generator, days: int) -> dict[str, np.ndarray]:
    country = rng.choice(len(COUNTRIES), size=N_ISSUERS, p=COUNTRY_WEIGHTS)
    country[: 2 * len(COUNTRIES)] = np.tile(np.arange(len(COUNTRIES)), 2)  # every country has 2+ issuers
    country = np.sort(country)
    supports = rng.random(N_ISSUERS) < 0.78
    threshold = np.where(rng.random(N_ISSUERS) < 0.45, rng.choice([50.0, 100.0, 250.0], N_ISSUERS), np.inf)
    threshold = np.where(np.isin(country, _EU), rng.choice([50.0, 100.0, 150.0], N_ISSUERS), threshold)  # strong customer authentication
    supports = supports | np.isin(country, _EU)
    threshold = np.where(supports, threshold, np.inf)
    outage = np.zeros((N_ISSUERS, days, 24), dtype=bool)
    starts = np.argwhere(rng.random((N_ISSUERS, days)) < 0.025)
    for (issuer, day), hour, length in zip(starts, rng.integers(0, 24, len(starts)), rng.integers(1, 4, len(starts))):
        outage[issuer, day, hour : hour + length] = True
    return {
        "issuer_country": country,
        "issuer_risk_logit": rng.normal(-3.6, 0.45, N_ISSUERS),
        "issuer_supports_3ds": supports,
        "issuer_3ds_threshold_usd": threshold,
        "issuer_network_token_lift": rng.normal(0.3, 0.35, N_ISSUERS),
        "issuer_iso_format_lift": np.where(rng.random(N_ISSUERS) < 0.3, rng.uniform(0.4, 0.9, N_ISSUERS), rng.normal(-0.08, 0.05, N_ISSUERS)),
        "issuer_retry_lift": rng.uniform(0.0, 0.6, N_ISSUERS),
        "issuer_outage": outage,
    }


def _bins(rng: np.random.Generator, issuer_country: np.ndarray) -> dict[str, np.ndarray]:
    card_type = rng.choice(len(CARD_TYPES), N_BINS, p=[0.5, 0.42, 0.08])
    issuer = rng.integers(0, N_ISSUERS, N_BINS)
    # Every (country, card type) has a BIN, so any customer can get any card type.
    slots = [(c, t) for c in range(len(COUNTRIES)) for t in range(len(CARD_TYPES))]
    for position, (c, t) in enumerate(slots):
        issuer[position] = rng.choice(np.flatnonzero(issuer_country == c))
        card_type[position] = t
    local = np.isin(issuer_country[issuer], _LATAM_ASIA)
    network = np.where(rng.random(N_BINS) < np.where(local, 0.55, 0.5), 0, np.where(rng.random(N_BINS) < 0.78, 1, 2))
    network[(network == 2) & (card_type != 0)] = 1  # amex issues credit cards only
    us = issuer_country[issuer] == COUNTRIES.index("US")
    network[us & (card_type == 0) & (rng.random(N_BINS) < 0.08)] = 3  # discover: US credit
    return {"bin_issuer": issuer, "bin_network": network, "bin_card_type": card_type, "bin_codes": _bin_codes(network, rng)}


def _gateways(rng: np.random.Generator, days: int) -> dict[str, np.ndarray]:
    shape = (len(GATEWAYS), len(NETWORKS), len(COUNTRIES), len(TRANSACTION_TYPES))
    risk = rng.normal(0.0, 0.3, shape)
    risk[2][:, _LATAM_ASIA] -= 0.45   # gw_gamma acquires locally in BR / IN / MX
    risk[2][:, _EU] += 0.2
    risk[1][..., 1:] -= 0.3            # gw_beta is good at stored-credential (recurring) traffic
    risk[0][:, _EU] -= 0.25            # gw_alpha is strong in Europe
    # The 40/60 example: visa / US is split 40/60 by the logging policy, and the 40% gateway is the better one.
    risk[0, 0, COUNTRIES.index("US")] = [-0.45, -0.4, -0.5]
    risk[1, 0, COUNTRIES.index("US")] = [0.35, 0.15, 0.2]
    degradation = np.zeros((len(GATEWAYS), days))
    for gateway in range(len(GATEWAYS)):
        for _ in range(int(rng.integers(1, 4))):
            length = int(rng.integers(2, 8))
            first = int(rng.integers(0, max(days - length, 0) + 1))
            degradation[gateway, first : first + length] = max(degradation[gateway, first], rng.uniform(0.9, 1.5))
    technical = np.broadcast_to(np.array([0.006, 0.004, 0.009])[:, None, None], (len(GATEWAYS), days, 24)).copy()
    technical += 0.06 * degradation[:, :, None]
    outages = np.argwhere(rng.random((len(GATEWAYS), days)) < 0.05)
    for (gateway, day), hour in zip(outages, rng.integers(0, 23, len(outages))):
        technical[gateway, day, hour : hour + int(rng.integers(1, 3))] = 0.6
    return {"gateway_risk_logit": risk, "gateway_degradation": degradation, "gateway_technical": np.minimum(technical, 0.9)}


def _merchants(rng: np.random.Generator) -> dict[str, np.ndarray]:
    mcc = rng.choice(len(MCC_CODES), N_MERCHANTS, p=MCC_WEIGHT / MCC_WEIGHT.sum())
    mcc[: len(MCC_CODES)] = np.arange(len(MCC_CODES))
    country = rng.choice(len(COUNTRIES), N_MERCHANTS, p=COUNTRY_WEIGHTS)
    # Every (country, MCC) has a merchant, so any payment can find a domestic one.
    country[: len(MCC_CODES) * len(COUNTRIES)] = np.repeat(np.arange(len(COUNTRIES)), len(MCC_CODES))
    mcc[: len(MCC_CODES) * len(COUNTRIES)] = np.tile(np.arange(len(MCC_CODES)), len(COUNTRIES))
    weight = rng.lognormal(0.0, 1.1, N_MERCHANTS)
    return {
        "merchant_ids": np.array([f"mer_{i:05d}" for i in range(N_MERCHANTS)]),
        "merchant_mcc": mcc, "merchant_country": country, "merchant_weight": weight / weight.sum(),
    }


def build_world(*, seed: int, days: int) -> World:
    """Draw the world of a simulation; the same (seed, days) always gives the same world."""
    rng = np.random.default_rng([seed, 1])
    issuers = _issuers(rng, days)
    return World(
        seed=seed, days=days,
        issuer_ids=np.array([f"iss_{COUNTRIES[c].lower()}_{i:02d}" for i, c in enumerate(issuers["issuer_country"])]),
        **issuers, **_bins(rng, issuers["issuer_country"]), gateways=GATEWAYS,
        **_gateways(rng, days), **_merchants(rng),
    )
