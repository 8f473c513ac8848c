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
   retraining k >= 1 also evaluates IPW routing's new policy off-policy (`scoring.replay_ope`);
3. every policy decides day d's payments; outcomes are drawn from the simulator's true
   P(approve | context, gateway, optimisation) with one uniform per payment shared by all
   policies (common random numbers); static, IPW routing and the bandit write their decisions
   and rewards to the decision log (`scoring.replay_decision_log`). The bandit (and, with
   `routing_health`, IPW routing) decides in blocks of `health_block` payments, its predictions
   per gateway multiplied by factors from its own recent outcomes (`REPLAY_HEALTH`,
   `scoring.action_health`).

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

from payloom_sim.constants import GATEWAYS

from scoring.action_health import ActionHealth
from scoring.bandit_policy import BanditPolicy
from scoring.decision_log import create_decision_log
from scoring.errors import RoutingError
from scoring.replay_decision_log import REWARD_DELAY, decision_ids, log_decisions
from scoring.replay_ope import OpeCheck, evaluate_next_policy
from scoring.replay_policies import (U_HOLDOUT, U_OUTCOME, PolicyDecisions, RoutingSettings, decide_bandit, decide_ipw_routing,
                                     decide_oracle, decide_static, train_bandit_oracle, train_ipw_routing)
from scoring.replay_world import ACTION_GATEWAY, ACTIONS, DriftEpisode, ReplayWorld, load_replay_world

__all__ = ["ClosedLoopResult", "run_closed_loop", "REPLAY_HEALTH", "POLICIES", "LOGGED_POLICIES"]

#: Policies in report order; routing_oracle is a reference for IPW routing.
POLICIES = ("static", "ipw_routing", "bandit", "oracle", "routing_oracle")
#: The payloom policies whose decisions go to the decision log.
LOGGED_POLICIES = ("static", "ipw_routing", "bandit")
_O = len(ACTIONS) // 3
_GATEWAY_NAMES = np.array(GATEWAYS, dtype=object)


@dataclass
class _History:
    """What one learning policy logged, per payment of the world (its training data)."""

    chosen: np.ndarray
    propensity: np.ndarray
    gateway_propensity: np.ndarray
    approved: np.ndarray
    predicted: np.ndarray       # the model's own P(approve) of the chosen action (NaN: none)

    def record(self, rows: np.ndarray, decisions: PolicyDecisions, approved: np.ndarray) -> None:
        self.chosen[rows], self.propensity[rows] = decisions.chosen, decisions.propensity
        self.gateway_propensity[rows], self.approved[rows] = decisions.gateway_propensity(), approved
        self.predicted[rows] = np.nan if decisions.predicted is None else decisions.predicted[np.arange(len(rows)), decisions.chosen]


#: The gateway-health recalibration (`scoring.action_health`) of the bandit (default) and, opt-in, IPW
#: routing: per gateway, over the policy's last 1,200 judged decisions, k = 50, r clipped to [0.5, 1.2].
REPLAY_HEALTH = ActionHealth(k=50.0, low=0.5, high=1.2, window=1_200, separator="/")


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
    #: with health: per learning policy, per day, the factors r_g of the day's first block (gateway order)
    gateway_scales: dict[str, list[list[float]]] = field(default_factory=dict)


def _routing_oracle(world: ReplayWorld, rows: np.ndarray, static: PolicyDecisions) -> PolicyDecisions:
    """The best eligible gateway for the optimisation the static policy drew."""
    n = len(rows)
    optimization = static.chosen % _O
    candidates = np.arange(3) * _O + optimization[:, None]
    truth = np.where(world.eligible[rows][np.arange(n)[:, None], candidates], world.truth[rows][np.arange(n)[:, None], candidates], -1.0)
    chosen = candidates[np.arange(n), truth.argmax(axis=1)]
    return PolicyDecisions(np.eye(len(ACTIONS))[chosen], chosen)


def _health_scale(health: ActionHealth, world: ReplayWorld, history: _History, first_row: int) -> np.ndarray:
    """r per gateway as `ActionHealth.factors` reads it off the decision log as of payment `first_row`'s
    decision: the policy's last `window` replay decisions whose reward (observed REWARD_DELAY after the
    decision) is known by then. Computed from the replay's in-memory history, which holds the same
    rows as its decision log (tests/closed_loop checks the two agree)."""
    as_of = world.decided_at[first_row]
    judged = np.flatnonzero((world.day >= 0) & (np.arange(len(world.day)) < first_row) & (world.decided_at + REWARD_DELAY < as_of))
    judged = judged[-health.window:]
    factors = health.scale(_GATEWAY_NAMES[ACTION_GATEWAY[history.chosen[judged]]], history.approved[judged], history.predicted[judged])
    return np.array([factors.get(gateway, 1.0) for gateway in GATEWAYS])


def _decide_with_health(world: ReplayWorld, rows: np.ndarray, u: np.ndarray, decide_block, health: ActionHealth, history: _History,
                        block_size: int) -> tuple[PolicyDecisions, list[float]]:
    """One learning policy's decisions of one day, `block_size` payments at a time, each block with the
    gateway factors as of its first payment (`_health_scale`). `decide_block(block_rows, block_slice,
    scale)` decides a block."""
    blocks, first_scale = [], None
    for start in range(0, len(rows), block_size):
        block, part = rows[start:start + block_size], slice(start, start + block_size)
        scale = _health_scale(health, world, history, int(block[0]))
        first_scale = first_scale if first_scale is not None else scale.tolist()
        decisions = decide_block(block, part, scale)
        history.record(block, decisions, u[part, U_OUTCOME] < world.truth[block, decisions.chosen])   # the loop records the day again
        blocks.append(decisions)
    return PolicyDecisions(np.concatenate([b.probabilities for b in blocks]), np.concatenate([b.chosen for b in blocks]),
                           np.concatenate([b.predicted for b in blocks])), first_scale


def run_closed_loop(*, days: int = 28, payments_per_day: int = 3_000, seed: int = 7, warmup_days: int = 7,
                    retrain_every: int = 2, window_days: int | None = 7, drift: tuple[DriftEpisode, ...] | None = None,
                    epsilon: float = 0.1, alpha: float = 0.9, temperature: float = 0.05, max_weight: float = 50.0,
                    num_boost_round: int = 40, ope_holdout: float = 0.5, database: str = ":memory:",
                    gateway_spread: float = 1.0, routing_settings: RoutingSettings = RoutingSettings(),
                    health: ActionHealth | None = REPLAY_HEALTH, routing_health: ActionHealth | None = None,
                    health_block: int = 100) -> ClosedLoopResult:
    """Replay and compare the policies (module docstring). `window_days=None` retrains on everything
    logged so far; `database` is the DuckDB file of the decision log (default in memory);
    `num_boost_round` is the bandit oracle's, IPW routing's model is set by `routing_settings`;
    `gateway_spread` scales the differences between gateways (`scoring.replay_world`). `health`
    recalibrates the bandit's predictions per gateway from its own recent outcomes in the decision
    log (`scoring.action_health`, refreshed every `health_block` payments; default REPLAY_HEALTH);
    None turns it off. `routing_health` does the same for IPW routing (default None: off; it helps at
    gateway spread 1.0 and hurts at 2.5 and 4.0, docs/closed_loop_replay.md)."""
    healths = {name: value for name, value in (("ipw_routing", routing_health), ("bandit", health)) if value is not None}
    for value in healths.values():
        if not isinstance(value, ActionHealth) or value.separator != "/" or health_block < 1:
            raise RoutingError(f"the replay's actions are '<gateway>/<optimisation>': health must be an ActionHealth that groups them "
                               f"by gateway (separator '/'), got {value!r}, and health_block must be at least 1, got {health_block}")
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
    histories = {name: _History(np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n, bool), np.full(n, np.nan))
                 for name in ("ipw_routing", "bandit")}
    for history in histories.values():
        history.record(warmup, initial, initial_approved)
    bandit_policy = BanditPolicy(alpha=alpha, temperature=temperature, seed=seed)
    records, checks = [], []
    gateway_scales: dict[str, list[list[float]]] = {name: [] for name in healths}
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
                scale = None
                if "ipw_routing" in healths:    # the next policy as it will run: with today's first factors
                    scale = _health_scale(healths["ipw_routing"], world, histories["ipw_routing"], int(world.rows(day, day)[0]))
                target = decide_ipw_routing(world, held_out, uniforms[held_out], routing, epsilon=epsilon, settings=routing_settings,
                                            gateway_scale=scale)
                checks.append(evaluate_next_policy(connection, world, held_out, retraining=version, day=day,
                                                   previous_version=f"v{version - 1}", target=target))
                seconds["ope"] += time.perf_counter() - clock
        rows = world.rows(day, day)
        u = uniforms[rows]
        clock = time.perf_counter()
        static = decide_static(world, rows, u)
        ids = decision_ids("bandit", world.payment_id[rows])
        decide = {
            "ipw_routing": lambda block, part, scale: decide_ipw_routing(world, block, u[part], routing, epsilon=epsilon,
                                                                         settings=routing_settings, gateway_scale=scale),
            "bandit": lambda block, part, scale: decide_bandit(world, block, ids[part], oracle_model, bandit_policy, gateway_scale=scale),
        }
        decided = {"static": static}
        for name, decide_block in decide.items():
            if name not in healths:
                decided[name] = decide_block(rows, slice(None), None)
            else:
                decided[name], scale = _decide_with_health(world, rows, u, decide_block, healths[name], histories[name], health_block)
                gateway_scales[name].append(scale)
        decided["oracle"] = decide_oracle(world, rows)
        decided["routing_oracle"] = _routing_oracle(world, rows, static)
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
                "health": None if health is None else {**health.describe(), "block": health_block},
                "routing_health": None if routing_health is None else {**routing_health.describe(), "block": health_block},
                "drift": [vars(episode) for episode in world.drift]}
    seconds["total"] = time.perf_counter() - began
    return ClosedLoopResult(world, pd.DataFrame.from_records(records), checks, connection, settings, seconds, gateway_scales)
