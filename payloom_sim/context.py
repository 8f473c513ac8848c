"""Build the latent context of attempts (what approval.py needs) from compact per-attempt facts.

The attempt generator and `truth.load_attempt_context` both go through `build_context`, so
the probabilities recomputed from `_truth/attempt_context` equal the ones outcomes were drawn
from. Facts are integer codes (positions in the vocabularies and in the world's arrays) plus
amounts and flags; the world supplies issuer parameters, the gateways' segment fit,
degradation and error rates at that day and hour, and issuer outages.

>>> from payloom_sim.world import build_world
>>> world = build_world(seed=1, days=5)
>>> facts = example_facts(world, 3)
>>> context = build_context(world, facts)
>>> context["gateway_risk_logit"].shape, context["is_issuer_outage"].dtype
((3, 3), dtype('bool'))
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from payloom_sim.constants import CARD_TYPES, COUNTRIES, MCC_RISK_LOGIT, TRANSACTION_TYPES
from payloom_sim.world import World

__all__ = ["FACT_FIELDS", "build_context", "example_facts"]

#: Compact per-attempt facts (written to _truth/attempt_context) from which the context is built.
FACT_FIELDS: tuple[str, ...] = (
    "issuer", "network", "issuer_country", "card_type", "transaction_type", "mcc", "day", "hour", "day_of_month",
    "amount_usd", "available_usd", "is_expired", "is_stolen", "is_card_not_present", "is_cross_border",
)
_PREPAID = CARD_TYPES.index("prepaid")


def build_context(world: World, facts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The context approval.py evaluates (every CONTEXT_FIELDS entry), from FACT_FIELDS arrays."""
    issuer = np.asarray(facts["issuer"])
    day = np.clip(np.asarray(facts["day"], dtype=np.int32), 0, world.days - 1)
    hour = np.asarray(facts["hour"], dtype=np.int32)
    transaction_type = np.asarray(facts["transaction_type"])
    cell = (np.asarray(facts["network"], dtype=np.int32) * len(COUNTRIES) + facts["issuer_country"]) * len(TRANSACTION_TYPES) + transaction_type
    risk = np.take(world.gateway_risk_by_cell, cell, axis=0)
    risk += np.take(world.gateway_degradation_by_day, day, axis=0)
    day_hour = day * 24 + hour
    context = {
        "amount_usd": np.asarray(facts["amount_usd"], dtype=np.float64),
        "available_usd": np.asarray(facts["available_usd"], dtype=np.float64),
        "is_expired": np.asarray(facts["is_expired"], dtype=bool),
        "is_stolen": np.asarray(facts["is_stolen"], dtype=bool),
        "is_card_not_present": np.asarray(facts["is_card_not_present"], dtype=bool),
        "is_recurring": transaction_type != 0,
        "is_cross_border": np.asarray(facts["is_cross_border"], dtype=bool),
        "is_prepaid": np.asarray(facts["card_type"]) == _PREPAID,
        "is_issuer_outage": world.issuer_outage.reshape(len(world.issuer_ids), -1)[issuer, day_hour],
        "hour": hour,
        "day_of_month": np.asarray(facts["day_of_month"]),
        "mcc_risk_logit": MCC_RISK_LOGIT[np.asarray(facts["mcc"])],
        "issuer_risk_logit": world.issuer_risk_logit[issuer],
        "issuer_supports_3ds": world.issuer_supports_3ds[issuer],
        "issuer_3ds_threshold_usd": world.issuer_3ds_threshold_usd[issuer],
        "issuer_network_token_lift": world.issuer_network_token_lift[issuer],
        "issuer_iso_format_lift": world.issuer_iso_format_lift[issuer],
        "issuer_retry_lift": world.issuer_retry_lift[issuer],
        "gateway_risk_logit": risk,
        "gateway_technical": np.take(world.gateway_technical_by_hour, day_hour, axis=0),
    }
    return context


def example_facts(world: World, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random but valid facts for `world` (for examples and tests)."""
    rng = np.random.default_rng(seed)
    bins = rng.integers(0, len(world.bin_codes), n)
    issuer = world.bin_issuer[bins]
    return {
        "issuer": issuer, "network": world.bin_network[bins], "issuer_country": world.issuer_country[issuer],
        "card_type": world.bin_card_type[bins], "transaction_type": rng.integers(0, 3, n),
        "mcc": rng.integers(0, len(MCC_RISK_LOGIT), n), "day": rng.integers(0, world.days, n),
        "hour": rng.integers(0, 24, n), "day_of_month": rng.integers(1, 29, n), "amount_usd": rng.uniform(5, 500, n),
        "available_usd": rng.uniform(50, 3_000, n), "is_expired": np.zeros(n, bool), "is_stolen": np.zeros(n, bool),
        "is_card_not_present": rng.random(n) < 0.5, "is_cross_border": rng.random(n) < 0.1,
    }
