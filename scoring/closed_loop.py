"""Closed-loop replay on the simulator: policies compared side by side on the same simulated days.

`run_closed_loop(days=28, payments_per_day=3000, seed=7)` replays `days` days of simulated
payments (`scoring.replay_world`: the same payments for every policy, a gateway degradation
from the drift schedule) through four policies (`scoring.replay_policies`): the static rules
(the simulator's logging policy, 40/60 split and random optimisations), IPW routing, the
contextual bandit over (gateway, optimisation) and the oracle; plus a reference row,
`routing_oracle`: the best gateway for the optimisation the static policy drew.

The loop:

1. warm-up (`warmup_days`, before day 0): the static policy makes the initial log;
2. on day d, when d % `retrain_every` == 0: IPW routing and the bandit's oracle are retrained
   on the logged decisions of days d - `window_days` .. d - 1 (the initial log for days < 0,
   each policy's own decisions after that), weighted by inverse logged propensities; a
   retraining k >= 1 also evaluates the bandit's new policy off-policy (`scoring.replay_ope`);
3. every policy decides day d's payments; outcomes are drawn from the simulator's true
   P(approve | context, gateway, optimisation) with one uniform per payment shared by all
   policies (common random numbers); static, IPW routing and the bandit write their decisions
   and rewards to the decision log (`scoring.replay_decision_log`).

Per day and policy it records the expected approval (mean true P(approve) of the chosen
actions: the noise-free measure every comparison uses), the observed approval rate and the
policy value (mean of sum_a pi(a | x) P(approve | x, a)). `scoring.replay_report` turns the
result into the table, the chart and the quality targets.

>>> result = run_closed_loop(days=2, payments_per_day=300, seed=1, warmup_days=2, retrain_every=1,
...                          drift=(), num_boost_round=5)
>>> sorted(result.daily["policy"].unique()) == sorted(POLICIES)
True
>>> result.connection.execute("select count(distinct policy_name) from decisions.decision_log").fetchall()[0][0]
3
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from scoring.bandit_policy import BanditPolicy
from scoring.decision_log import create_decision_log
from scoring.errors import RoutingError
from scoring.replay_decision_log import decision_ids, log_decisions
from scoring.replay_ope import OpeCheck, evaluate_next_policy
from scoring.replay_policies import (U_HOLDOUT, U_OUTCOME, PolicyDecisions, RoutingSettings, bandit_predicted_chosen, decide_bandit, decide_ipw_routing,
                                     decide_oracle, decide_static, train_bandit_oracle, train_ipw_routing)
from scoring.replay_world import ACTION_GATEWAY, ACTIONS, DriftEpisode, ReplayWorld, load_replay_world

__all__ = ["ClosedLoopResult", "run_closed_loop", "GatewayHealth", "POLICIES", "LOGGED_POLICIES"]

#: Policies in report order; routing_oracle is a reference for IPW routing.
POLICIES = ("static", "ipw_routing", "bandit", "oracle", "routing_oracle")
#: The payloom policies whose decisions go to the decision log.
LOGGED_POLICIES = ("static", "ipw_routing", "bandit")
_O = len(ACTIONS) // 3


@dataclass
class _History:
    """What one learning policy logged, per payment of the world (its training data)."""

    chosen: np.ndarray
    propensity: np.ndarray
    gateway_propensity: np.ndarray
    approved: np.ndarray

    def record(self, rows: np.ndarray, decisions: PolicyDecisions, approved: np.ndarray) -> None:
        self.chosen[rows], self.propensity[rows] = decisions.chosen, decisions.propensity
        self.gateway_propensity[rows], self.approved[rows] = decisions.gateway_propensity(), approved


@dataclass(frozen=True)
class GatewayHealth:
    """The bandit's optional gateway-health recalibration (an experiment; `run_closed_loop(gateway_health=...)`).

    Before the bandit decides, for each gateway g: from its own logged decisions in the window (the
    previous `window_days` replay days, or with `window_payments` its last N decisions, refreshed
    every `block` payments within the day) r_g = (approved on g + k) / (predicted on g + k), clipped
    to [low, high], where `predicted` sums the oracle's P(approve) of the chosen actions on g:
    re-predicted by the model now in use (`reference="current"`) or as predicted when decided
    (`"logged"`). The predictions of every action on g are multiplied by r_g before the policy picks;
    the logged probabilities are those of the adjusted policy. Warm-up (static) decisions are not
    the bandit's own and are not used: r_g = 1 on day 0."""

    k: float = 30.0
    low: float = 0.5
    high: float = 1.2
    window_days: int = 1
    window_payments: int | None = None
    block: int = 100
    reference: str = "current"

    def __post_init__(self) -> None:
        if self.reference not in ("current", "logged"):
            raise RoutingError(f"GatewayHealth.reference must be 'current' or 'logged', got {self.reference!r}")
        if not (self.k >= 0 and 0 < self.low <= 1 <= self.high and self.window_days >= 1 and self.block >= 1):
            raise RoutingError(f"invalid {self}: expected k >= 0, 0 < low <= 1 <= high, window_days >= 1 and block >= 1")
        if self.window_payments is not None and self.window_payments < 1:
            raise RoutingError(f"GatewayHealth.window_payments must be at least 1 (or None for whole days), got {self.window_payments}")

    def scale(self, gateway: np.ndarray, approved: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """r_g per gateway from the window's chosen gateways, outcomes and predictions.

        >>> GatewayHealth(k=20).scale(np.array([0] * 100 + [1] * 10), np.array([True] * 60 + [False] * 40 + [True] * 10),
        ...                           np.full(110, 0.9)).round(3).tolist()      # gw_alpha 60 of 90 expected; 10 rows on gw_beta; none on gw_gamma
        [0.727, 1.034, 1.0]
        """
        observed = np.bincount(gateway, weights=approved.astype(np.float64), minlength=3)
        expected = np.bincount(gateway, weights=predicted, minlength=3)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(observed + expected + self.k > 0, (observed + self.k) / (expected + self.k), 1.0)
        return np.clip(np.nan_to_num(ratio, nan=1.0), self.low, self.high)


@dataclass
class ClosedLoopResult:
    """Per day and policy: payments, expected approval, observed approval, policy value; the OPE
    checks; the decision log's connection; and the settings."""

    world: ReplayWorld
    daily: pd.DataFrame
    ope: list[OpeCheck]
    connection: duckdb.DuckDBPyConnection
    settings: dict
    seconds: dict[str, float] = field(default_factory=dict)
    #: with gateway health: per day, the factors r_g at the day's first block (gateway order of ACTION_GATEWAY)
    gateway_scales: list[list[float]] = field(default_factory=list)


def _routing_oracle(world: ReplayWorld, rows: np.ndarray, static: PolicyDecisions) -> PolicyDecisions:
    """The best eligible gateway for the optimisation the static policy drew."""
    n = len(rows)
    optimization = static.chosen % _O
    candidates = np.arange(3) * _O + optimization[:, None]
    truth = np.where(world.eligible[rows][np.arange(n)[:, None], candidates], world.truth[rows][np.arange(n)[:, None], candidates], -1.0)
    chosen = candidates[np.arange(n), truth.argmax(axis=1)]
    return PolicyDecisions(np.eye(len(ACTIONS))[chosen], chosen)


def _decide_bandit_with_health(world: ReplayWorld, rows: np.ndarray, u: np.ndarray, booster, policy: BanditPolicy, health: GatewayHealth,
                               history: _History, predicted_logged: np.ndarray, day: int) -> tuple[PolicyDecisions, list[float]]:
    """The bandit's decisions of one day with the gateway-health factors (GatewayHealth)."""
    ids = decision_ids("bandit", world.payment_id[rows])
    step = len(rows) if health.window_payments is None else health.block
    blocks, first_scale = [], None
    for start in range(0, len(rows), step):
        block = rows[start:start + step]
        if health.window_payments is None:
            window = world.rows(max(0, day - health.window_days), day - 1)
        else:
            window = np.flatnonzero((world.day >= 0) & (np.arange(len(world.day)) < block[0]))[-health.window_payments:]
        chosen = history.chosen[window]
        reference = (bandit_predicted_chosen(world, window, chosen, booster) if health.reference == "current"
                     else predicted_logged[window])
        scale = health.scale(ACTION_GATEWAY[chosen], history.approved[window], reference)
        first_scale = first_scale if first_scale is not None else [float(v) for v in scale]
        decisions = decide_bandit(world, block, ids[start:start + step], booster, policy, gateway_scale=scale)
        approved = u[start:start + step, U_OUTCOME] < world.truth[block, decisions.chosen]
        history.record(block, decisions, approved)         # seen by the next block; the loop records the same again
        predicted_logged[block] = decisions.predicted[np.arange(len(block)), decisions.chosen] / scale[ACTION_GATEWAY[decisions.chosen]]
        blocks.append(decisions)
    return PolicyDecisions(np.concatenate([b.probabilities for b in blocks]), np.concatenate([b.chosen for b in blocks]),
                           np.concatenate([b.predicted for b in blocks])), first_scale


def run_closed_loop(*, days: int = 28, payments_per_day: int = 3_000, seed: int = 7, warmup_days: int = 7,
                    retrain_every: int = 2, window_days: int | None = 7, drift: tuple[DriftEpisode, ...] | None = None,
                    epsilon: float = 0.1, alpha: float = 0.9, temperature: float = 0.05, max_weight: float = 50.0,
                    num_boost_round: int = 40, ope_holdout: float = 0.5, database: str = ":memory:",
                    gateway_spread: float = 1.0, routing_settings: RoutingSettings = RoutingSettings(),
                    gateway_health: GatewayHealth | None = None) -> ClosedLoopResult:
    """Replay and compare the policies (module docstring). `window_days=None` retrains on everything
    logged so far; `database` is the DuckDB file of the decision log (default in memory);
    `num_boost_round` is the bandit oracle's, IPW routing's model is set by `routing_settings`;
    `gateway_spread` scales the differences between gateways (`scoring.replay_world`); `gateway_health`
    (default None: off) recalibrates the bandit's predictions per gateway (`GatewayHealth`)."""
    began = time.perf_counter()
    world = load_replay_world(days=days, payments_per_day=payments_per_day, seed=seed, warmup_days=warmup_days, drift=drift,
                              gateway_spread=gateway_spread)
    seconds = {"simulate": time.perf_counter() - began, "train": 0.0, "decide": 0.0, "log": 0.0, "ope": 0.0}
    connection = duckdb.connect(database)
    create_decision_log(connection)
    uniforms = np.random.default_rng([seed, 7]).random((len(world.day), 5))
    warmup = world.rows(-warmup_days, -1)
    initial = decide_static(world, warmup, uniforms[warmup])
    initial_approved = uniforms[warmup, U_OUTCOME] < world.truth[warmup, initial.chosen]
    log_decisions(connection, "static", "rules", world.payment_id[warmup], world.decided_at[warmup], world.eligible[warmup],
                  initial, initial_approved)
    n = len(world.day)
    histories = {name: _History(np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n, bool)) for name in ("ipw_routing", "bandit")}
    for history in histories.values():
        history.record(warmup, initial, initial_approved)
    bandit_policy = BanditPolicy(alpha=alpha, temperature=temperature, seed=seed)
    records, checks, gateway_scales = [], [], []
    predicted_logged = np.zeros(n)                       # the bandit oracle's unadjusted P(approve) of each chosen action
    routing = oracle_model = None
    for day in range(days):
        version = day // retrain_every
        if day % retrain_every == 0:
            clock = time.perf_counter()
            train = world.rows(-warmup_days if window_days is None else day - window_days, day - 1)
            held_out = world.rows(day - retrain_every, day - 1)
            held_out = held_out[uniforms[held_out, U_HOLDOUT] < ope_holdout] if version >= 1 else held_out[:0]
            h = histories["ipw_routing"]
            kept = np.setdiff1d(train, held_out, assume_unique=True)
            routing = train_ipw_routing(world, kept, ACTION_GATEWAY[h.chosen[kept]], h.gateway_propensity[kept], h.approved[kept],
                                        random_state=seed + day, settings=routing_settings)
            h = histories["bandit"]
            oracle_model = train_bandit_oracle(world, train, h.chosen[train], h.propensity[train], h.approved[train],
                                               num_boost_round=num_boost_round, max_weight=max_weight, random_state=seed + day)
            seconds["train"] += time.perf_counter() - clock
            if version >= 1:
                clock = time.perf_counter()
                target = decide_ipw_routing(world, held_out, uniforms[held_out], routing, epsilon=epsilon, settings=routing_settings)
                checks.append(evaluate_next_policy(connection, world, held_out, retraining=version, day=day,
                                                   previous_version=f"v{version - 1}", target=target))
                seconds["ope"] += time.perf_counter() - clock
        rows = world.rows(day, day)
        u = uniforms[rows]
        clock = time.perf_counter()
        static = decide_static(world, rows, u)
        decided = {
            "static": static,
            "ipw_routing": decide_ipw_routing(world, rows, u, routing, epsilon=epsilon, settings=routing_settings),
            "bandit": (decide_bandit(world, rows, decision_ids("bandit", world.payment_id[rows]), oracle_model, bandit_policy)
                       if gateway_health is None else None),
            "oracle": decide_oracle(world, rows),
            "routing_oracle": _routing_oracle(world, rows, static),
        }
        if gateway_health is not None:
            decided["bandit"], scale = _decide_bandit_with_health(world, rows, u, oracle_model, bandit_policy, gateway_health,
                                                                  histories["bandit"], predicted_logged, day)
            gateway_scales.append(scale)
        seconds["decide"] += time.perf_counter() - clock
        truth = world.truth[rows]
        for name, decisions in decided.items():
            chosen_truth = truth[np.arange(len(rows)), decisions.chosen]
            approved = u[:, U_OUTCOME] < chosen_truth
            records.append({"policy": name, "day": day, "version": version, "payments": len(rows),
                            "expected_approval": float(chosen_truth.mean()), "approval_rate": float(approved.mean()),
                            "policy_value": float((decisions.probabilities * truth).sum(axis=1).mean())})
            if name in histories:
                histories[name].record(rows, decisions, approved)
            if name in LOGGED_POLICIES:
                clock = time.perf_counter()
                log_decisions(connection, name, "rules" if name == "static" else f"v{version}", world.payment_id[rows],
                              world.decided_at[rows], world.eligible[rows], decisions, approved)
                seconds["log"] += time.perf_counter() - clock
        for check in checks:
            if check.truth_next_period is None and check.day + retrain_every - 1 == day:
                period = [r for r in records if r["policy"] == "ipw_routing" and check.day <= r["day"] <= day]
                check.truth_next_period = float(sum(r["policy_value"] * r["payments"] for r in period) / sum(r["payments"] for r in period))
    settings = {"days": days, "payments_per_day": payments_per_day, "seed": seed, "warmup_days": warmup_days,
                "retrain_every": retrain_every, "window_days": window_days, "epsilon": epsilon, "alpha": alpha,
                "temperature": temperature, "max_weight": max_weight, "num_boost_round": num_boost_round,
                "gateway_spread": gateway_spread, "routing": vars(routing_settings),
                "gateway_health": None if gateway_health is None else vars(gateway_health),
                "drift": [vars(episode) for episode in world.drift]}
    seconds["total"] = time.perf_counter() - began
    return ClosedLoopResult(world, pd.DataFrame.from_records(records), checks, connection, settings, seconds, gateway_scales)
