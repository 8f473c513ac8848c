"""The historical logging policy: rule-based gateway splits and random optimisations.

Gateways are chosen by (network, issuer country) rules, some random splits, some deterministic
(propensity 1: amex always goes to gw_gamma, discover to gw_alpha). The optimisation set is
drawn uniformly from the sets eligible for the network and channel (no network tokens on amex,
no ISO formatting on discover, no 3DS on card-present). A logged action's propensity is
P(gateway) * P(optimisation); MANUAL_ROUTING_SHARE of attempts are routed by hand (propensity
unknown, NULL in the data).

>>> gateway_probabilities(network=np.array([0]), country=np.array([0])).round(2).tolist()  # visa / US
[[0.4, 0.6, 0.0]]
>>> p = optimization_probabilities(network=np.array([2]), card_not_present=np.array([True]))
>>> [OPTIMIZATION_SETS[k] for k in np.flatnonzero(p[0])]
['none', '3ds', 'iso_format', 'retry', '3ds+iso_format']
"""

from __future__ import annotations

import numpy as np

from payloom_sim.constants import COUNTRIES, GATEWAYS, NETWORKS, OPTIMIZATION_FLAGS, OPTIMIZATION_SETS, OPTIMIZATIONS

__all__ = [
    "gateway_probabilities", "optimization_probabilities", "draw_actions", "MANUAL_ROUTING_SHARE",
    "LOGGED_OPTIMIZATION_SETS", "GATEWAY_TABLE",
]

#: Share of attempts routed by hand: their propensity is unknown (NULL in the data).
MANUAL_ROUTING_SHARE = 0.01
#: The optimisation sets the logging policy tries.
LOGGED_OPTIMIZATION_SETS: tuple[str, ...] = (
    "none", "3ds", "iso_format", "network_token", "retry", "3ds+iso_format", "3ds+network_token", "network_token+retry",
)


def _gateway_table() -> np.ndarray:
    table = np.zeros((len(NETWORKS), len(COUNTRIES), len(GATEWAYS)))
    table[:, :] = [1 / 3, 1 / 3, 1 / 3]
    europe = [COUNTRIES.index(c) for c in ("GB", "DE", "FR", "NL")]
    local = [COUNTRIES.index(c) for c in ("BR", "IN", "MX")]
    visa, mastercard = NETWORKS.index("visa"), NETWORKS.index("mastercard")
    table[visa, COUNTRIES.index("US")] = [0.4, 0.6, 0.0]
    table[visa, europe] = [0.5, 0.25, 0.25]
    table[mastercard, :] = [0.0, 0.5, 0.5]
    table[mastercard, COUNTRIES.index("US")] = [0.3, 0.7, 0.0]
    for network in (visa, mastercard):
        table[network, local] = [0.2, 0.2, 0.6]
    table[NETWORKS.index("amex")] = [0.0, 0.0, 1.0]
    table[NETWORKS.index("discover")] = [1.0, 0.0, 0.0]
    return table


#: P(gateway | network, issuer country), shape (networks, countries, gateways).
GATEWAY_TABLE = _gateway_table()
_LOGGED = np.array([name in LOGGED_OPTIMIZATION_SETS for name in OPTIMIZATION_SETS])
_FLAGS = {name: OPTIMIZATION_FLAGS[:, k] for k, name in enumerate(OPTIMIZATIONS)}
#: (network, card_not_present) -> eligible optimisation sets
_ELIGIBLE = np.zeros((len(NETWORKS), 2, len(OPTIMIZATION_SETS)), dtype=bool)
for _network in range(len(NETWORKS)):
    for _cnp in (0, 1):
        allowed = _LOGGED.copy()
        if NETWORKS[_network] == "amex":
            allowed &= ~_FLAGS["network_token"]
        if NETWORKS[_network] == "discover":
            allowed &= ~_FLAGS["iso_format"]
        if not _cnp:
            allowed &= ~_FLAGS["3ds"]
        _ELIGIBLE[_network, _cnp] = allowed
_OPTIMIZATION_P = _ELIGIBLE / _ELIGIBLE.sum(axis=2, keepdims=True)
#: Uniform draws among the eligible sets: group (network * 2 + cnp) -> count and padded list of codes.
_ELIGIBLE_COUNT = _ELIGIBLE.sum(axis=2).ravel()
_ELIGIBLE_CODES = np.zeros((len(_ELIGIBLE_COUNT), len(OPTIMIZATION_SETS)), dtype=np.int8)
for _group, _row in enumerate(_ELIGIBLE.reshape(len(_ELIGIBLE_COUNT), -1)):
    _ELIGIBLE_CODES[_group, : _row.sum()] = np.flatnonzero(_row)
_GATEWAY_CDF = np.cumsum(GATEWAY_TABLE, axis=2).reshape(-1, len(GATEWAYS))


def gateway_probabilities(*, network: np.ndarray, country: np.ndarray) -> np.ndarray:
    """P(gateway | network, issuer country) under the logging policy, shape (n, gateways)."""
    return GATEWAY_TABLE[np.asarray(network), np.asarray(country)]


def optimization_probabilities(*, network: np.ndarray, card_not_present: np.ndarray) -> np.ndarray:
    """P(optimisation set | network, channel), shape (n, len(OPTIMIZATION_SETS))."""
    return _OPTIMIZATION_P[np.asarray(network), np.asarray(card_not_present).astype(np.int64)]


def draw_actions(network: np.ndarray, country: np.ndarray, card_not_present: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (gateway code, optimisation-set code, propensity) per attempt; propensity NaN when routed by hand."""
    n = len(network)
    cell = np.asarray(network, dtype=np.int64) * len(COUNTRIES) + country
    u = rng.random(n)
    gateway = (u >= _GATEWAY_CDF[cell, 0]).astype(np.int8)
    for k in range(1, len(GATEWAYS) - 1):
        gateway += u >= _GATEWAY_CDF[cell, k]
    group = np.asarray(network, dtype=np.int64) * 2 + np.asarray(card_not_present, dtype=np.int64)
    count = _ELIGIBLE_COUNT[group]
    optimization = _ELIGIBLE_CODES[group, (rng.random(n) * count).astype(np.int64)]
    propensity = GATEWAY_TABLE.reshape(-1, len(GATEWAYS))[cell, gateway] / count
    manual = rng.random(n) < MANUAL_ROUTING_SHARE
    if manual.any():
        gateway[manual] = rng.integers(0, len(GATEWAYS), int(manual.sum()))
        optimization[manual] = 0
        propensity[manual] = np.nan
    return gateway, optimization, propensity
