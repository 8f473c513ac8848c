"""The historical logging policy: rule-based gateway splits and random optimisations.

Every logged action carries the probability with which this policy chose it, so later models
can weight by inverse propensity.

>>> probabilities = gateway_probabilities(network=np.array([0]), country=np.array([0]))
>>> probabilities.round(2).tolist()  # visa / US: the 40/60 split
[[0.4, 0.6, 0.0]]
"""

from __future__ import annotations

import numpy as np

from payloom_sim.world import COUNTRIES, GATEWAYS, NETWORKS, OPTIMIZATION_COMBOS

__all__ = ["gateway_probabilities", "optimization_probabilities", "draw_actions", "MANUAL_ROUTING_SHARE"]

#: Share of attempts routed by hand: their propensity is unknown (NULL in the data).
MANUAL_ROUTING_SHARE = 0.01


def _gateway_table() -> np.ndarray:
    table = np.full((len(NETWORKS), len(COUNTRIES), len(GATEWAYS)), 1.0 / len(GATEWAYS))
    table[NETWORKS.index("visa"), COUNTRIES.index("US")] = [0.4, 0.6, 0.0]
    table[NETWORKS.index("mastercard"), :] = [0.0, 0.5, 0.5]
    table[NETWORKS.index("amex"), :] = [0.0, 0.0, 1.0]
    table[NETWORKS.index("discover"), :] = [0.7, 0.3, 0.0]
    return table


_GATEWAY_TABLE = _gateway_table()
_TOKEN_COMBOS = np.array(["network_token" in combo for combo in OPTIMIZATION_COMBOS])


def gateway_probabilities(*, network: np.ndarray, country: np.ndarray) -> np.ndarray:
    """P(gateway | network, issuer country) under the logging policy, shape (n, gateways)."""
    return _GATEWAY_TABLE[network, country]


def optimization_probabilities(*, network: np.ndarray) -> np.ndarray:
    """Uniform over the eligible combinations; amex has no network tokens. Shape (n, combos)."""
    eligible = np.ones((len(network), len(OPTIMIZATION_COMBOS)), dtype=bool)
    eligible[np.asarray(network) == NETWORKS.index("amex")] &= ~_TOKEN_COMBOS
    return eligible / eligible.sum(axis=1, keepdims=True)


def _draw(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = probabilities.cumsum(axis=1)
    draws = (rng.random((len(probabilities), 1)) * cumulative[:, -1:] >= cumulative).sum(axis=1)
    return np.minimum(draws, probabilities.shape[1] - 1)


def draw_actions(network: np.ndarray, country: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (gateway, optimisation, propensity) per attempt; propensity is NaN for manual routing."""
    gateway_p = gateway_probabilities(network=network, country=country)
    optimization_p = optimization_probabilities(network=network)
    gateway = _draw(gateway_p, rng)
    optimization = _draw(optimization_p, rng)
    rows = np.arange(len(network))
    propensity = gateway_p[rows, gateway] * optimization_p[rows, optimization]
    manual = rng.random(len(network)) < MANUAL_ROUTING_SHARE
    gateway = np.where(manual, rng.integers(0, len(GATEWAYS), len(network)), gateway)
    optimization = np.where(manual, 0, optimization)
    propensity = np.where(manual, np.nan, propensity)
    return gateway, optimization, propensity
