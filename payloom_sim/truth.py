"""Ground truth: the exact probabilities the simulator draws its outcomes from.

The issuer's decision is a chain of checks, the first failing one giving the decline code:
hard_decline (expired or reported stolen), technical (issuer outage, gateway errors),
insufficient_funds (amount vs available balance), authentication_required (3DS required above
an amount, or 3DS attempted at an issuer that does not support it), do_not_honor (risk rules by
merchant category, card-not-present, hour, amount, fraud, gateway and optimisations).
P(approve) is the product of passing every check. The attempt generator calls these same
functions, so data and truth cannot drift apart.

>>> from payloom_sim.world import build_world
>>> world = build_world(seed=1, days=10)
>>> context = example_context(n=3)
>>> p = approval_probability(world, context, "gw_alpha", "none")
>>> p.shape, bool(((p > 0) & (p < 1)).all())
((3,), True)
>>> codes = decline_code_probabilities(world, context, "gw_alpha", "3ds")
>>> bool(np.allclose(sum(codes.values()) + approval_probability(world, context, "gw_alpha", "3ds"), 1.0))
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from payloom_sim.world import (
    DECLINE_CODES, GATEWAYS, MERCHANT_CATEGORIES, OPTIMIZATION_COMBOS, World,
)

__all__ = [
    "CONTEXT_FIELDS", "approval_probability", "decline_code_probabilities", "stage_probabilities",
    "example_context", "load_attempt_context", "action_index",
]

#: Latent context of an attempt: everything the issuer's decision depends on besides the action.
CONTEXT_FIELDS = (
    "issuer", "network", "country", "transaction_type", "mcc", "amount_usd", "available_usd",
    "is_expired", "is_stolen", "is_card_not_present", "hour", "day", "is_issuer_outage",
)

_MCC_RISK = np.array([spec[1] for spec in MERCHANT_CATEGORIES.values()])
_COMBO_FLAGS = {name: np.array([name in combo.split("+") for combo in OPTIMIZATION_COMBOS]) for name in ("3ds", "iso_format", "network_token", "retry")}


def action_index(values, names: tuple[str, ...]) -> np.ndarray:
    """Map action names (a scalar or an array of names) to integer positions in `names`."""
    lookup = {name: position for position, name in enumerate(names)}
    if isinstance(values, str):
        if values not in lookup:
            raise ValueError(f"unknown action {values!r}: expected one of {', '.join(names)}")
        return np.array(lookup[values])
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array
    unknown = set(np.unique(array)) - set(lookup)
    if unknown:
        raise ValueError(f"unknown actions {sorted(unknown)}: expected some of {', '.join(names)}")
    return np.vectorize(lookup.__getitem__, otypes=[np.int64])(array)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def stage_probabilities(world: World, context: dict, gateway, optimization) -> np.ndarray:
    """Probability of failing each check given the earlier ones passed; columns in DECLINE_CODES order."""
    g = action_index(gateway, GATEWAYS)
    o = action_index(optimization, OPTIMIZATION_COMBOS)
    has_3ds, has_iso = _COMBO_FLAGS["3ds"][o], _COMBO_FLAGS["iso_format"][o]
    has_token, has_retry = _COMBO_FLAGS["network_token"][o], _COMBO_FLAGS["retry"][o]
    issuer = np.asarray(context["issuer"])
    cnp = np.asarray(context["is_card_not_present"], dtype=bool)
    amount = np.asarray(context["amount_usd"], dtype=float)
    available = np.maximum(np.asarray(context["available_usd"], dtype=float), 1.0)
    hour = np.asarray(context["hour"])
    day = np.clip(np.asarray(context["day"]), 0, world.days - 1)
    transaction_type = np.asarray(context["transaction_type"])
    night = (hour < 6).astype(float)
    degradation = world.gateway_degradation[g, day]
    iso_lift = world.issuer_iso_format_lift[issuer] * has_iso

    hard = np.where(np.asarray(context["is_expired"], dtype=bool), 0.97,
                    np.where(np.asarray(context["is_stolen"], dtype=bool), 0.55, 0.001))
    technical = 1 - (1 - 0.01) * (1 - 0.7 * np.asarray(context["is_issuer_outage"], dtype=float)) * (1 - 0.06 * degradation)
    technical = technical * (1 - 0.5 * np.clip(iso_lift, 0, 1)) * np.where(has_retry, 0.6, 1.0)
    insufficient = 0.003 + 0.95 * _sigmoid(8.0 * (amount / available - 1.0))
    insufficient = insufficient * np.where(has_retry, 0.8, 1.0)
    supports = world.issuer_supports_3ds[issuer]
    required = (amount > world.issuer_3ds_threshold_usd[issuer]) & cnp
    authentication = np.where(required & ~has_3ds, 0.85, np.where(has_3ds & ~supports, 0.35, 0.004))
    risk = (
        world.issuer_base_logit[issuer]
        + _MCC_RISK[np.asarray(context["mcc"])]
        + 0.6 * cnp + 0.5 * night * cnp + 0.25 * night
        + 0.35 * np.log1p(amount / 100.0)
        + 3.0 * np.asarray(context["is_stolen"], dtype=float)
        + world.gateway_segment_logit[g, np.asarray(context["network"]), np.asarray(context["country"]), transaction_type]
        + degradation
        - world.issuer_network_token_lift[issuer] * has_token * (1.0 + 0.6 * (transaction_type != 0))
        - iso_lift
        - 0.4 * (has_3ds & supports & cnp)
    )
    do_not_honor = _sigmoid(risk)
    return np.stack(np.broadcast_arrays(hard, technical, insufficient, authentication, do_not_honor), axis=-1)


def approval_probability(world: World, context: dict, gateway, optimization) -> np.ndarray:
    """P(approve | context, gateway, optimisation), vectorised over contexts (and actions)."""
    return np.prod(1.0 - stage_probabilities(world, context, gateway, optimization), axis=-1)


def decline_code_probabilities(world: World, context: dict, gateway, optimization) -> dict[str, np.ndarray]:
    """P(decline with code) for each code; together with P(approve) they sum to 1."""
    stages = stage_probabilities(world, context, gateway, optimization)
    passed = np.cumprod(1.0 - stages, axis=-1)
    reached = np.concatenate([np.ones_like(passed[..., :1]), passed[..., :-1]], axis=-1)
    return {code: reached[..., k] * stages[..., k] for k, code in enumerate(DECLINE_CODES)}


def example_context(n: int = 4) -> dict:
    """A small, valid context (for examples and tests)."""
    rng = np.random.default_rng(0)
    return {
        "issuer": rng.integers(0, 8, n), "network": rng.integers(0, 4, n), "country": rng.integers(0, 8, n),
        "transaction_type": rng.integers(0, 3, n), "mcc": rng.integers(0, len(MERCHANT_CATEGORIES), n),
        "amount_usd": rng.uniform(5, 500, n), "available_usd": rng.uniform(100, 3000, n),
        "is_expired": np.zeros(n, bool), "is_stolen": np.zeros(n, bool), "is_card_not_present": rng.random(n) < 0.5,
        "hour": rng.integers(0, 24, n), "day": rng.integers(0, 10, n), "is_issuer_outage": np.zeros(n, bool),
    }


def load_attempt_context(out_dir: Path | str, attempt_ids=None) -> dict:
    """Read the latent context written next to the raw data (`<out>/_truth/attempt_context`).

    Returns a dict of numpy arrays with `attempt_id`, `p_approve` (of the logged action) and
    every CONTEXT_FIELDS entry, ready for `approval_probability`.
    """
    table = pq.read_table(Path(out_dir) / "_truth" / "attempt_context")
    if attempt_ids is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.is_in(table["attempt_id"], value_set=__import__("pyarrow").array(list(attempt_ids))))
    return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
