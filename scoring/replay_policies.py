"""The four policies of the closed-loop replay, each deciding (gateway, optimisation) per payment.

Every policy returns `PolicyDecisions` for a block of payments: its probability of every action
(0 outside the eligible set), the chosen action, and (for the bandit) its predicted P(approve)
per action. Draws use per-payment uniforms shared by all policies (common random numbers):

- `static` (the simulator's logging policy without the 1% routed by hand): gateway from the
  (network, issuer country) split by u_gateway (visa / US: 40% gw_alpha, 60% gw_beta), an
  optimisation set uniformly among the eligible ones by u_optimization.
- `ipw_routing`: the gateway with the highest IPW routing score (`scoring.ipw_routing`, the
  XGBoost model) among the eligible ones, except with probability `epsilon` (u_explore) a
  uniformly drawn eligible gateway (u_gateway), so that its own log keeps every gateway in
  support for retraining; the optimisation is the static policy's draw (same u_optimization).
  Its features and IPW weights: `RoutingSettings` (segment keys, weights post-stratified by segment).
  Gateway propensity (1 - epsilon) 1[best] + epsilon / |eligible|, times P(optimisation).
- `bandit`: the contextual bandit over the joint (gateway, optimisation) actions: the oracle
  (`scoring.bandit_oracle.train_oracle`, XGBoost, context features + gateway one-hot + action
  encodings) predicts P(approve) per eligible action, `scoring.bandit_policy.BanditPolicy` gives
  alpha to the best and a softmax over the rest, and draws with its md5 uniform of the decision id.
- `oracle`: the eligible action with the highest true P(approve) (propensity 1).

>>> from scoring.replay_world import load_replay_world
>>> world = load_replay_world(days=1, warmup_days=1, payments_per_day=400, seed=2)
>>> rows = world.rows(0, 0)
>>> u = np.random.default_rng(0).random((len(rows), 5))
>>> static = decide_static(world, rows, u)
>>> best = decide_oracle(world, rows)
>>> bool((world.truth[rows, best.chosen] >= world.truth[rows, static.chosen]).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost

from payloom_sim.constants import COUNTRIES, GATEWAYS, NETWORKS, OPTIMIZATION_SETS, TRANSACTION_TYPES
from scoring.bandit_oracle import action_encodings, train_oracle
from scoring.bandit_policy import BanditPolicy
from scoring.errors import RoutingError
from scoring.ipw_routing import RoutingModels, train_routing_models
from scoring.replay_world import (ACTION_GATEWAY, ACTION_OPTIMIZATION, ACTIONS, CONTEXT_FEATURES, SEGMENT_FEATURES, ReplayWorld,
                                  segments)
from scoring.routing_log import RoutingLog

__all__ = ["PolicyDecisions", "decide_static", "decide_ipw_routing", "decide_bandit", "decide_oracle",
           "train_ipw_routing", "train_bandit_oracle", "RoutingSettings", "U_GATEWAY", "U_OPTIMIZATION", "U_EXPLORE", "U_OUTCOME", "U_HOLDOUT"]

#: Columns of the per-payment uniforms (U_HOLDOUT: the replay's off-policy holdout).
U_GATEWAY, U_OPTIMIZATION, U_EXPLORE, U_OUTCOME, U_HOLDOUT = 0, 1, 2, 3, 4
_G, _O = len(GATEWAYS), len(ACTIONS) // len(GATEWAYS)
_SEGMENTS = len(NETWORKS) * len(COUNTRIES) * len(TRANSACTION_TYPES)
_BY_NAME = np.argsort(np.array(ACTIONS))          # actions in ascending name order (the bandit policy's order)
_OPTIMIZATION_NAMES = np.array(OPTIMIZATION_SETS, dtype=object)[ACTION_OPTIMIZATION]


@dataclass(frozen=True)
class PolicyDecisions:
    """One block of decisions: probabilities (n, actions), chosen action index, predicted P(approve) or None."""

    probabilities: np.ndarray
    chosen: np.ndarray
    predicted: np.ndarray | None = None

    @property
    def propensity(self) -> np.ndarray:
        return self.probabilities[np.arange(len(self.chosen)), self.chosen]

    @property
    def gateway(self) -> np.ndarray:
        return ACTION_GATEWAY[self.chosen]

    def gateway_propensity(self) -> np.ndarray:
        """P(chosen gateway) under the policy (the routing log's propensity)."""
        by_gateway = self.probabilities.reshape(len(self.chosen), _G, _O).sum(axis=2)
        return by_gateway[np.arange(len(self.chosen)), self.gateway]


def _draw(cdf_probabilities: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the first column whose cumulative probability exceeds u (rows of probabilities)."""
    cumulative = np.cumsum(cdf_probabilities, axis=1)
    return np.minimum((u[:, None] * cumulative[:, -1:] >= cumulative).sum(axis=1), cdf_probabilities.shape[1] - 1)


def _gateway_and_optimization(world: ReplayWorld, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The static policy's P(gateway) (n, G) and P(optimisation) (n, O)."""
    static = world.static[rows].reshape(len(rows), _G, _O)
    return static.sum(axis=2), static.sum(axis=1)


def decide_static(world: ReplayWorld, rows: np.ndarray, uniforms: np.ndarray) -> PolicyDecisions:
    """The logging policy (module docstring)."""
    gateway_p, optimization_p = _gateway_and_optimization(world, rows)
    # A gateway the split never uses has probability 0: _draw never lands on it.
    gateway = _draw(gateway_p, uniforms[:, U_GATEWAY])
    optimization = _draw(optimization_p, uniforms[:, U_OPTIMIZATION])
    return PolicyDecisions(world.static[rows], gateway * _O + optimization)


def decide_ipw_routing(world: ReplayWorld, rows: np.ndarray, uniforms: np.ndarray, model: RoutingModels, *,
                       epsilon: float, settings: RoutingSettings, gateway_scale: np.ndarray | None = None) -> PolicyDecisions:
    """Epsilon-greedy routing by the IPW model, the static policy's optimisation (module docstring).

    The returned (and logged) predictions are the model's P(approve) per action's gateway: K times
    its class score (the bootstrap gives every gateway the same share, so class k is about
    P(approved on k) / K). `gateway_scale` (optional, one factor per gateway: `scoring.action_health`)
    multiplies them before the argmax."""
    gateway_p, optimization_p = _gateway_and_optimization(world, rows)
    eligible = gateway_p > 0
    predicted = _G * routing_scores(model, world.features[rows], settings)[:, :_G]
    scores = predicted if gateway_scale is None else predicted * np.asarray(gateway_scale, dtype=np.float64)[None, :]
    best = np.where(eligible, scores, -np.inf).argmax(axis=1)
    uniform = eligible / eligible.sum(axis=1, keepdims=True)
    routing = (1 - epsilon) * np.eye(_G)[best] + epsilon * uniform
    explore = uniforms[:, U_EXPLORE] < epsilon
    gateway = np.where(explore, _draw(uniform, uniforms[:, U_GATEWAY]), best)
    optimization = _draw(optimization_p, uniforms[:, U_OPTIMIZATION])
    probabilities = routing[:, ACTION_GATEWAY] * optimization_p[:, np.arange(len(ACTIONS)) % _O]
    return PolicyDecisions(probabilities, gateway * _O + optimization, predicted[:, ACTION_GATEWAY])


def _bandit_features(features: np.ndarray, gateway: np.ndarray) -> np.ndarray:
    return np.column_stack([features, np.eye(_G)[gateway]])


def _bandit_predict(world: ReplayWorld, rows: np.ndarray, action: np.ndarray, booster) -> np.ndarray:
    """The oracle's P(approve) of `action[i]` for payment `rows[i]`."""
    context = _bandit_features(world.features[rows], ACTION_GATEWAY[action])
    matrix = xgboost.DMatrix(np.column_stack([context, action_encodings(_OPTIMIZATION_NAMES[action])]), missing=np.nan)
    return booster.predict(matrix).astype(np.float64)


def decide_bandit(world: ReplayWorld, rows: np.ndarray, decision_ids: np.ndarray, booster, policy: BanditPolicy, *,
                  gateway_scale: np.ndarray | None = None) -> PolicyDecisions:
    """The bandit's decisions: oracle predictions per eligible action, alpha-greedy + softmax, md5 draw.

    `gateway_scale` (optional, one factor per gateway: `scoring.action_health`) multiplies the
    predictions of every action on that gateway before the policy picks; the probabilities are the
    adjusted policy's, the predictions returned (and logged) the oracle's own."""
    eligible = world.eligible[rows][:, _BY_NAME]
    row, position = np.nonzero(eligible)                       # row-major: each row's actions in name order
    action = _BY_NAME[position]
    predicted = np.zeros((len(rows), len(ACTIONS)))
    predicted[row, action] = predicted_flat = _bandit_predict(world, rows[row], action, booster)
    if gateway_scale is not None:
        predicted_flat = predicted_flat * np.asarray(gateway_scale, dtype=np.float64)[ACTION_GATEWAY[action]]
    probabilities = np.zeros_like(predicted)
    chosen = np.empty(len(rows), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(eligible.sum(axis=1))])
    for i in range(len(rows)):
        actions = action[bounds[i]:bounds[i + 1]]
        p = policy.probabilities(predicted_flat[bounds[i]:bounds[i + 1]])
        probabilities[i, actions] = p
        chosen[i] = actions[policy.draw(p, policy.uniform(str(decision_ids[i])))]
    return PolicyDecisions(probabilities, chosen, predicted)


def decide_oracle(world: ReplayWorld, rows: np.ndarray) -> PolicyDecisions:
    """The eligible action with the highest true P(approve)."""
    truth = np.where(world.eligible[rows], world.truth[rows], -1.0)
    chosen = truth.argmax(axis=1)
    return PolicyDecisions(np.eye(len(ACTIONS))[chosen], chosen)


@dataclass(frozen=True)
class RoutingSettings:
    """How the replay trains IPW routing (defaults: the best measured, docs/closed_loop_replay.md).

    - `features`: a subset of CONTEXT_FEATURES; default the segment keys (network, issuer country,
      transaction type one-hots): given every context feature, the K+1-class model spends its splits
      on what drives approval in general, not on the gateway differences;
    - `stratify`: post-stratify the IPW weights by segment (`replay_world.segments`): each gateway's
      weights in a segment sum to the segment's rows (`scoring.routing_log.ipw_weights`);
    - `estimated_propensity`: with `stratify`, propensities estimated per segment (the gateway's
      share of the segment's logged rows) instead of the logged ones: an epsilon-greedy policy's
      own log has a few explored rows with weight ~20, and a lucky run of them flipped whole segments;
    - `samples_per_gateway` (J), the XGBoost model's depth, rounds and learning rate.
    """

    features: tuple[str, ...] = SEGMENT_FEATURES
    stratify: bool = True
    estimated_propensity: bool = True
    segment_one_hot: bool = False
    model: str = "xgboost"
    l2: float = 1.0
    samples_per_gateway: int = 10
    max_depth: int = 4
    num_boost_round: int = 60
    eta: float = 0.3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(CONTEXT_FEATURES))
        if self.model not in ("xgboost", "softmax"):
            raise RoutingError(f"model must be 'xgboost' or 'softmax' (the K+1-class softmax regression), got {self.model!r}")
        if self.estimated_propensity and not self.stratify:
            raise RoutingError("estimated_propensity estimates each gateway's share per segment; set stratify=True as well")
        if unknown or not self.features:
            raise RoutingError(f"routing features {unknown or '(none)'} are not context features; choose a non-empty subset of "
                               "scoring.replay_world.CONTEXT_FEATURES")


def routing_features(features: np.ndarray, settings: RoutingSettings) -> tuple[tuple[str, ...], np.ndarray]:
    """IPW routing's feature names and matrix from CONTEXT_FEATURES rows: the chosen columns, then
    (with `segment_one_hot`) one indicator per routing segment, `segment_<code>`."""
    columns = [CONTEXT_FEATURES.index(name) for name in settings.features]
    if not settings.segment_one_hot:
        return settings.features, features[:, columns]
    indicators = (segments(features)[:, None] == np.arange(_SEGMENTS)[None, :]).astype(np.float64)
    return (*settings.features, *(f"segment_{code}" for code in range(_SEGMENTS))), np.column_stack([features[:, columns], indicators])


def routing_scores(model: RoutingModels, features: np.ndarray, settings: RoutingSettings) -> np.ndarray:
    """(n, K+1) class scores of the model `settings` name on CONTEXT_FEATURES rows."""
    _, matrix = routing_features(features, settings)
    return model.softmax_scores(matrix) if settings.model == "softmax" else model.booster_scores(matrix)


def train_ipw_routing(world: ReplayWorld, rows: np.ndarray, gateway: np.ndarray, gateway_propensity: np.ndarray,
                      approved: np.ndarray, *, random_state: int, settings: RoutingSettings = RoutingSettings()) -> RoutingModels:
    """The IPW routing model on logged rows (their gateway and its propensity), as `settings` say
    (the softmax regression is fitted only when `settings.model` is 'softmax')."""
    context = world.features[rows]
    names, matrix = routing_features(context, settings)
    log = RoutingLog(names, GATEWAYS, matrix, np.asarray(gateway), np.asarray(approved, dtype=bool),
                     np.asarray(gateway_propensity, dtype=np.float64))
    return train_routing_models(log, samples_per_gateway=settings.samples_per_gateway, nthread=1, random_state=random_state,
                                num_boost_round=settings.num_boost_round, softmax=settings.model == "softmax", l2=settings.l2,
                                strata=segments(context) if settings.stratify else None,
                                estimated_propensity=settings.estimated_propensity,
                                xgboost_params={"max_depth": settings.max_depth, "eta": settings.eta})


def train_bandit_oracle(world: ReplayWorld, rows: np.ndarray, chosen: np.ndarray, propensity: np.ndarray, approved: np.ndarray, *,
                        num_boost_round: int, max_weight: float, random_state: int):
    """The bandit's oracle on logged rows, each weighted 1 / (its logged action's propensity), capped."""
    context = _bandit_features(world.features[rows], ACTION_GATEWAY[chosen])
    return train_oracle(context, _OPTIMIZATION_NAMES[chosen], approved, propensity, max_weight=max_weight,
                        num_boost_round=num_boost_round, max_depth=5, nthread=1, random_state=random_state)
