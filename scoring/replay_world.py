"""Payment contexts for the closed-loop replay: simulated days, a gateway drift schedule, the truth.

`load_replay_world` simulates `warmup_days + days` days with `payloom_sim` and keeps each
payment's first attempt (retries depend on the simulator's own logged decisions; first
attempts do not). Every policy of the replay sees exactly these payments, in this order.

**Drift.** The simulator degrades gateways through `World.gateway_degradation` (an extra
do_not_honor logit per gateway and day) and `World.gateway_technical` (+ 0.06 technical error
probability per unit of degradation); its own episodes are random (1-3 per gateway). The replay
replaces them by a documented, seeded schedule of `DriftEpisode`s over the replay days (the
warm-up days stay healthy) and rebuilds every context with `payloom_sim.context.build_context`,
so the same mechanism moves the truth; the simulator's short outage hours are kept.

**Gateway effect.** `gateway_spread` scales how far each gateway's do_not_honor logit for a
(network, issuer country, transaction type) lies from that segment's mean over the gateways
(`World.gateway_risk_logit`; 1.0 = the simulator as it is). The segment's average gateway is
unchanged; only the differences between gateways grow. It is a world parameter of the replay,
chosen deliberately (`docs/closed_loop_replay.md`, "Gateway effect"); `payloom_sim` is unchanged.

**Actions** are (gateway, optimisation set) pairs, `ACTIONS[k] = "gw_alpha/3ds"`, gateways
outer, the logging policy's optimisation sets inner. A payment's eligible actions: gateways
the logging policy routes its (network, issuer country) to, times the optimisation sets it
tries for the network and channel (`payloom_sim.policy`). `truth[i, k]` is the simulator's
P(approve) of payment i under action k; `static[i, k]` the logging policy's probability.

>>> world = load_replay_world(days=2, warmup_days=1, payments_per_day=600, seed=3)
>>> world.truth.shape[1] == len(ACTIONS) == 24, bool(np.allclose(world.static.sum(axis=1), 1.0))
(True, True)
>>> bool((world.truth[~world.eligible] == 0).all()), sorted(set(world.day.tolist()))
(True, [-1, 0, 1])
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass

import numpy as np

from payloom_sim import approval_probability, build_world, load_attempt_context, simulate
from payloom_sim.constants import COUNTRIES, GATEWAYS, NETWORKS, OPTIMIZATION_SETS, TRANSACTION_TYPES
from payloom_sim.context import build_context
from payloom_sim.policy import GATEWAY_TABLE, LOGGED_OPTIMIZATION_SETS, optimization_probabilities
from scoring.errors import RoutingError

__all__ = ["ACTIONS", "ACTION_GATEWAY", "ACTION_OPTIMIZATION", "CONTEXT_FEATURES", "DriftEpisode", "ReplayWorld",
           "load_replay_world", "default_drift", "TECHNICAL_PER_DEGRADATION", "spread_gateways",
           "SEGMENT_FEATURES", "segments"]

ACTIONS: tuple[str, ...] = tuple(f"{g}/{o}" for g in GATEWAYS for o in LOGGED_OPTIMIZATION_SETS)
#: Gateway code and optimisation-set code (positions in GATEWAYS / OPTIMIZATION_SETS) of each action.
ACTION_GATEWAY = np.repeat(np.arange(len(GATEWAYS)), len(LOGGED_OPTIMIZATION_SETS))
ACTION_OPTIMIZATION = np.tile([OPTIMIZATION_SETS.index(o) for o in LOGGED_OPTIMIZATION_SETS], len(GATEWAYS))
#: What a policy may look at (observable at decision time; no latent truth such as balances or risk logits).
CONTEXT_FEATURES: tuple[str, ...] = (
    "log_amount_usd", "hour", "day_of_month", "is_card_not_present", "is_cross_border", "is_prepaid", "is_expired",
    "issuer_code", "mcc_code", *(f"is_{n}" for n in NETWORKS), *(f"is_issuer_{c.lower()}" for c in COUNTRIES),
    *(f"is_{t}" for t in TRANSACTION_TYPES),
)
#: The routing segment keys: network, issuer country and transaction type one-hots (IPW routing's features).
SEGMENT_FEATURES: tuple[str, ...] = tuple(name for name in CONTEXT_FEATURES if name.startswith("is_") and name not in
                                          ("is_card_not_present", "is_cross_border", "is_prepaid", "is_expired"))
#: Technical error probability added per unit of degradation (as payloom_sim.world draws it).
TECHNICAL_PER_DEGRADATION = 0.06
_FACTS = {"issuer": "issuer_code", "network": "network_code", "issuer_country": "issuer_country_code",
          "card_type": "card_type_code", "transaction_type": "transaction_type_code", "mcc": "mcc_code"}


@dataclass(frozen=True)
class DriftEpisode:
    """`gateway` degrades by `strength` (do_not_honor logit; technical errors + 0.06 x strength)
    for `length` replay days from replay day `first_day` (0 = the first replay day)."""

    gateway: str
    first_day: int
    length: int
    strength: float = 1.2

    def days(self) -> range:
        return range(self.first_day, self.first_day + self.length)


def default_drift(days: int) -> tuple[DriftEpisode, ...]:
    """gw_alpha (the better gateway for visa / US and in Europe) degrades from day days // 2 for
    max(days // 4, 2) days (fewer when the replay ends sooner).

    >>> default_drift(14), default_drift(2)[0].length
    ((DriftEpisode(gateway='gw_alpha', first_day=7, length=3, strength=1.2),), 1)
    """
    return (DriftEpisode("gw_alpha", days // 2, min(max(days // 4, 2), days - days // 2)),)


@dataclass(frozen=True)
class ReplayWorld:
    """The payments of the replay in time order (day < 0: the warm-up that makes the initial log)."""

    payment_id: np.ndarray      # str: the simulator's attempt id
    decided_at: np.ndarray      # datetime64[us]
    day: np.ndarray             # replay day (negative: warm-up)
    features: np.ndarray        # (n, len(CONTEXT_FEATURES)) float64
    eligible: np.ndarray        # (n, len(ACTIONS)) bool
    truth: np.ndarray           # (n, len(ACTIONS)) true P(approve), 0 where not eligible
    static: np.ndarray          # (n, len(ACTIONS)) the logging policy's probabilities
    degradation: np.ndarray     # (len(GATEWAYS), replay days) the drift schedule
    drift: tuple[DriftEpisode, ...]
    seed: int

    @property
    def days(self) -> int:
        return int(self.degradation.shape[1])

    def rows(self, first_day: int, last_day: int) -> np.ndarray:
        """Row positions of the payments of replay days first_day..last_day (inclusive)."""
        return np.flatnonzero((self.day >= first_day) & (self.day <= last_day))


def _drifted_world(world, warmup_days: int, days: int, drift: tuple[DriftEpisode, ...]):
    """The simulator's world with its degradation episodes replaced by the schedule (outage hours kept)."""
    schedule = np.zeros((len(GATEWAYS), days))
    for episode in drift:
        if episode.gateway not in GATEWAYS:
            raise RoutingError(f"drift episode gateway {episode.gateway!r} is not one of {', '.join(GATEWAYS)}")
        if episode.first_day < 0 or episode.length < 1 or episode.first_day + episode.length > days:
            raise RoutingError(f"drift episode {episode} must lie within replay days 0..{days - 1}; shorten it or replay more days")
        schedule[GATEWAYS.index(episode.gateway), list(episode.days())] += episode.strength
    degradation = np.concatenate([np.zeros((len(GATEWAYS), warmup_days)), schedule], axis=1)
    outage = world.gateway_technical >= 0.5
    technical = world.gateway_technical + TECHNICAL_PER_DEGRADATION * (degradation - world.gateway_degradation)[:, :, None]
    technical = np.where(outage, world.gateway_technical, np.minimum(technical, 0.9))
    return dataclasses.replace(world, gateway_degradation=degradation, gateway_technical=technical), schedule


def spread_gateways(risk_logit: np.ndarray, spread: float) -> np.ndarray:
    """`World.gateway_risk_logit` (gateways first) with every gateway's distance from the mean over
    the gateways of its (network, issuer country, transaction type) multiplied by `spread`.

    >>> spread_gateways(np.array([[0.1], [0.3]]), 2.0).round(2).tolist()
    [[0.0], [0.4]]
    """
    if not np.isfinite(spread) or spread < 0:
        raise RoutingError(f"gateway_spread must be a finite number >= 0 (1.0 = the simulator's gateway effect), got {spread}")
    if spread == 1.0:          # the simulator's own array, bit for bit
        return risk_logit
    mean = risk_logit.mean(axis=0, keepdims=True)
    return mean + spread * (risk_logit - mean)


def segments(features: np.ndarray) -> np.ndarray:
    """(network * countries + issuer country) * types + transaction type per row of `features`
    (CONTEXT_FEATURES columns): the routing segment, within which the logging policy's eligible
    gateways are the same for every payment.

    >>> row = np.zeros((1, len(CONTEXT_FEATURES)))
    >>> row[0, [CONTEXT_FEATURES.index(n) for n in ("is_mastercard", "is_issuer_gb", "is_recurring")]] = 1
    >>> segments(row).tolist()
    [28]
    """
    def code(names: list[str]) -> np.ndarray:
        return features[:, [CONTEXT_FEATURES.index(name) for name in names]].argmax(axis=1)

    network = code([f"is_{n}" for n in NETWORKS])
    country = code([f"is_issuer_{c.lower()}" for c in COUNTRIES])
    kind = code([f"is_{t}" for t in TRANSACTION_TYPES])
    return (network * len(COUNTRIES) + country) * len(TRANSACTION_TYPES) + kind


def _features(context: dict[str, np.ndarray]) -> np.ndarray:
    network, country, kind = context["network_code"], context["issuer_country_code"], context["transaction_type_code"]
    columns = [np.log(np.maximum(context["amount_usd"], 0.01)), context["hour"], context["day_of_month"],
               context["is_card_not_present"], context["is_cross_border"], context["is_prepaid"], context["is_expired"],
               context["issuer_code"], context["mcc_code"],
               *(network == k for k in range(len(NETWORKS))), *(country == k for k in range(len(COUNTRIES))),
               *(kind == k for k in range(len(TRANSACTION_TYPES)))]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])


def load_replay_world(*, days: int, payments_per_day: int, seed: int, warmup_days: int = 7,
                      drift: tuple[DriftEpisode, ...] | None = None, gateway_spread: float = 1.0) -> ReplayWorld:
    """Simulate and prepare the replay's payments (about `payments_per_day` a day; volume follows
    the simulator's day-of-week shape). `drift` defaults to `default_drift(days)`; `gateway_spread`
    scales the differences between gateways (module docstring)."""
    if days < 1 or warmup_days < 1 or payments_per_day < 100:
        raise RoutingError(f"the replay needs days >= 1, warmup_days >= 1 and payments_per_day >= 100; got {days}, {warmup_days}, "
                           f"{payments_per_day}")
    drift = default_drift(days) if drift is None else tuple(drift)
    total_days = warmup_days + days
    attempts = max(int(round(total_days * payments_per_day * 1.05)), 1_000)   # ~5% of attempts are retries
    with tempfile.TemporaryDirectory(prefix="payloom-replay-") as scratch:
        simulate(scratch, attempts=attempts, seed=seed, days=total_days)
        context = load_attempt_context(scratch)
    world = build_world(seed=seed, days=total_days)
    world = dataclasses.replace(world, gateway_risk_logit=spread_gateways(world.gateway_risk_logit, gateway_spread))
    world, schedule = _drifted_world(world, warmup_days, days, drift)
    first = np.flatnonzero(context["attempt_number"] == 0)
    first = first[np.argsort(context["attempted_at"][first], kind="stable")]
    context = {name: values[first] for name, values in context.items() if np.ndim(values) >= 1 and len(values) == len(context["attempt_id"])}
    facts = {fact: context[column] for fact, column in _FACTS.items()}
    facts.update({name: context[name] for name in ("day", "hour", "day_of_month", "amount_usd", "available_usd", "is_expired",
                                                   "is_stolen", "is_card_not_present", "is_cross_border")})
    context.update(build_context(world, facts))
    gateway_ok = GATEWAY_TABLE[context["network_code"], context["issuer_country_code"]] > 0
    optimization_p = optimization_probabilities(network=context["network_code"], card_not_present=context["is_card_not_present"])
    gateway_p = GATEWAY_TABLE[context["network_code"], context["issuer_country_code"]]
    static = gateway_p[:, ACTION_GATEWAY] * optimization_p[:, ACTION_OPTIMIZATION]
    eligible = gateway_ok[:, ACTION_GATEWAY] & (optimization_p[:, ACTION_OPTIMIZATION] > 0)
    truth = np.column_stack([approval_probability(context, int(g), int(o)) for g, o in zip(ACTION_GATEWAY, ACTION_OPTIMIZATION)])
    return ReplayWorld(
        payment_id=context["attempt_id"].astype(str), decided_at=context["attempted_at"].astype("datetime64[us]"),
        day=context["day"].astype(np.int64) - warmup_days, features=_features(context), eligible=eligible,
        truth=np.where(eligible, truth, 0.0), static=static, degradation=schedule, drift=drift, seed=seed,
    )
