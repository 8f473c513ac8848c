"""The issuer's decision: a chain of checks, the first failing one naming the decline code.

Checks, in order (DECLINE_CODES):

1. hard_decline: the card has expired (a network token carries the reissued card's
   credentials, so it mostly survives expiry) or is in a fraudster's hands (reported stolen).
2. technical: the gateway's error rate at that hour (higher during its degradation episodes
   and short outages) and issuer outages; smart retry timing and ISO formatting (at issuers
   whose parsers like it) absorb part of it.
3. insufficient_funds: a logistic around amount / available balance = 1, slightly higher late
   in the month; smart retry timing avoids an issuer-dependent share.
4. authentication_required: one-off card-not-present above the issuer's 3DS threshold without 3DS;
   3DS at an issuer that does not support it fails often; 3DS elsewhere costs a little friction.
5. do_not_honor: a risk score by issuer, MCC, card-not-present, amount, hour of day (nights,
   especially card-not-present on risky MCCs), cross-border, prepaid, theft, the gateway's
   segment fit and degradation, and the optimisations' issuer-specific lifts.

P(approve) is the product of passing every check. Every function takes a *context*: a mapping
of per-attempt arrays named in CONTEXT_FIELDS (`gateway_*` ones have one column per gateway),
so any (gateway, optimisation) can be evaluated for any attempt.

>>> context = example_context(3)
>>> p = approval_probability(context, "gw_alpha", "none")
>>> p.shape, bool(((p > 0) & (p < 1)).all())
((3,), True)
>>> codes = decline_code_probabilities(context, "gw_alpha", "3ds")
>>> bool(np.allclose(sum(codes.values()) + approval_probability(context, "gw_alpha", "3ds"), 1.0))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from payloom_sim.actions import gateway_codes, optimization_codes
from payloom_sim.constants import DECLINE_CODES, GATEWAYS, OPTIMIZATION_FLAGS, OPTIMIZATIONS

__all__ = [
    "CONTEXT_FIELDS", "stage_probabilities", "stage_list", "passed_checks", "insufficient_funds_stage",
    "approval_probability", "decline_code_probabilities", "outcome_probabilities", "example_context",
]

#: Per-attempt latent context the decision depends on (besides the action).
CONTEXT_FIELDS: tuple[str, ...] = (
    "amount_usd", "available_usd", "is_expired", "is_stolen", "is_card_not_present", "is_recurring",
    "is_cross_border", "is_prepaid", "is_issuer_outage", "hour", "day_of_month", "mcc_risk_logit",
    "issuer_risk_logit", "issuer_supports_3ds", "issuer_3ds_threshold_usd", "issuer_network_token_lift",
    "issuer_iso_format_lift", "issuer_retry_lift", "gateway_risk_logit", "gateway_technical",
)
_HOUR_RISK = np.array([0.45] * 6 + [0.0] * 16 + [0.15] * 2)
_FLAG = {name: OPTIMIZATION_FLAGS[:, position] for position, name in enumerate(OPTIMIZATIONS)}


def _per_gateway(values: np.ndarray, g: np.ndarray) -> np.ndarray:
    values = np.asarray(values).reshape(-1, len(GATEWAYS))
    if g.ndim == 0:
        return values[:, int(g)]
    return np.take_along_axis(values, g.reshape(-1, 1), axis=1)[:, 0]


def _flags(optimization: Any) -> tuple[np.ndarray, ...]:
    o = optimization_codes(optimization)
    return tuple(_FLAG[name][o] for name in OPTIMIZATIONS)


def insufficient_funds_stage(context: Mapping[str, Any], optimization: Any) -> np.ndarray:
    """P(insufficient_funds | reaching that check): a logistic around amount / available = 1,
    a little higher late in the month, reduced by smart retry timing at issuer-specific rates."""
    has_retry = _flags(optimization)[3]
    x = np.asarray(context["amount_usd"], dtype=np.float64) / np.maximum(np.asarray(context["available_usd"], dtype=np.float64), 0.01)
    x -= 1.0
    x *= -7.0
    x -= 0.025 * (np.asarray(context["day_of_month"]) - 15.0)
    np.exp(x, out=x)
    x += 1.0
    np.divide(0.96, x, out=x)
    x += 0.002
    x *= 1.0 - np.asarray(context["issuer_retry_lift"]) * has_retry
    return x


def stage_list(context: Mapping[str, Any], gateway: Any, optimization: Any) -> list[np.ndarray]:
    """The five stage probabilities (DECLINE_CODES order) as separate arrays; see stage_probabilities."""
    g = gateway_codes(gateway)
    has_3ds, has_iso, has_token, has_retry = _flags(optimization)
    c = {name: np.asarray(context[name]) for name in CONTEXT_FIELDS}
    cnp = c["is_card_not_present"].astype(bool)
    amount = c["amount_usd"].astype(np.float64)
    n = len(amount)
    supports = c["issuer_supports_3ds"].astype(bool)
    recurring = c["is_recurring"].astype(bool)
    iso_lift = c["issuer_iso_format_lift"] * has_iso

    hard = np.full(n, 0.0015)
    special = np.flatnonzero(c["is_expired"] | c["is_stolen"])
    if len(special):
        expired = 0.985 * c["is_expired"][special] * (1.0 - 0.75 * (has_token if np.ndim(has_token) == 0 else has_token[special]))
        hard[special] = 1.0 - (1.0 - expired) * (1.0 - 0.9 * c["is_stolen"][special]) * (1.0 - 0.0015)
    technical = 1.0 - _per_gateway(context["gateway_technical"], g)
    technical *= 1.0 - 0.65 * c["is_issuer_outage"]
    technical = 1.0 - 0.997 * technical
    technical *= (1.0 - 0.5 * has_retry) * (1.0 - 0.4 * (iso_lift > 0.3))
    insufficient = insufficient_funds_stage(context, optimization)
    with_3ds = has_3ds & cnp
    required = cnp & ~recurring & (amount > c["issuer_3ds_threshold_usd"])  # merchant-initiated payments are exempt
    authentication = np.where(with_3ds, np.where(supports, 0.04, 0.30), np.where(required, 0.8, 0.002))
    risk = _per_gateway(context["gateway_risk_logit"], g) + c["issuer_risk_logit"]
    risk += c["mcc_risk_logit"]
    risk += _HOUR_RISK[c["hour"]]
    risk += 0.35 * np.log1p(amount / 100.0)
    risk += 0.5 * cnp + 0.5 * c["is_cross_border"] + 0.4 * c["is_prepaid"] + 2.5 * c["is_stolen"]
    risk += 0.6 * ((c["hour"] < 6) & cnp & (c["mcc_risk_logit"] > 0))
    risk -= c["issuer_network_token_lift"] * has_token * (1.0 + 0.8 * recurring)
    risk -= iso_lift
    risk -= 0.5 * (with_3ds & supports) - 0.15 * has_retry
    np.negative(risk, out=risk)
    np.exp(risk, out=risk)
    risk += 1.0
    do_not_honor = np.divide(1.0, risk, out=risk)
    return [np.broadcast_to(stage, (n,)) for stage in (hard, technical, insufficient, authentication, do_not_honor)]


def stage_probabilities(context: Mapping[str, Any], gateway: Any, optimization: Any) -> np.ndarray:
    """P(failing each check | reaching it), shape (attempts, 5), columns in DECLINE_CODES order.

    gateway / optimization: names or codes, a scalar for every attempt or one per attempt.
    """
    return np.stack(stage_list(context, gateway, optimization), axis=1)


def passed_checks(stages: list[np.ndarray]) -> list[np.ndarray]:
    """P(passing checks 0..k), for k = 0..4; the last is P(approve)."""
    passed, running = [], None
    for stage in stages:
        running = (1.0 - stage) if running is None else running * (1.0 - stage)
        passed.append(running)
    return passed


def outcome_probabilities(stages: np.ndarray) -> np.ndarray:
    """From stage_probabilities: P(each decline code) then P(approve), shape (attempts, 6), rows sum to 1."""
    passed = np.cumprod(1.0 - stages, axis=1)
    out = np.empty((len(stages), stages.shape[1] + 1))
    out[:, 0] = stages[:, 0]
    out[:, 1:-1] = passed[:, :-1] * stages[:, 1:]
    out[:, -1] = passed[:, -1]
    return out


def approval_probability(context: Mapping[str, Any], gateway: Any, optimization: Any) -> np.ndarray:
    """P(approve | context, gateway, optimisation), one value per attempt of the context."""
    return passed_checks(stage_list(context, gateway, optimization))[-1]


def decline_code_probabilities(context: Mapping[str, Any], gateway: Any, optimization: Any) -> dict[str, np.ndarray]:
    """P(declined with each code) per attempt: first failing check; with P(approve) they sum to 1."""
    outcomes = outcome_probabilities(stage_probabilities(context, gateway, optimization))
    return {code: outcomes[:, k] for k, code in enumerate(DECLINE_CODES)}


def example_context(n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A small valid context with plausible values (for examples and tests)."""
    rng = np.random.default_rng(seed)
    return {
        "amount_usd": rng.uniform(5, 500, n), "available_usd": rng.uniform(100, 3000, n),
        "is_expired": np.zeros(n, bool), "is_stolen": np.zeros(n, bool), "is_card_not_present": rng.random(n) < 0.5,
        "is_recurring": rng.random(n) < 0.2, "is_cross_border": rng.random(n) < 0.1, "is_prepaid": rng.random(n) < 0.1,
        "is_issuer_outage": np.zeros(n, bool), "hour": rng.integers(0, 24, n), "day_of_month": rng.integers(1, 29, n),
        "mcc_risk_logit": rng.normal(0, 0.5, n), "issuer_risk_logit": rng.normal(-3.6, 0.4, n),
        "issuer_supports_3ds": rng.random(n) < 0.8, "issuer_3ds_threshold_usd": np.full(n, 100.0),
        "issuer_network_token_lift": rng.normal(0.3, 0.3, n), "issuer_iso_format_lift": rng.normal(0.0, 0.3, n),
        "issuer_retry_lift": rng.uniform(0, 0.6, n), "gateway_risk_logit": rng.normal(0, 0.3, (n, len(GATEWAYS))),
        "gateway_technical": np.full((n, len(GATEWAYS)), 0.006),
    }
