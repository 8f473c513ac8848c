"""A routing bandit on the simulator's attempts, with known propensities and the true reward of every action.

Actions are (gateway, optimisation) pairs, `gw_alpha/none` ... `gw_gamma/3ds`. For each
simulated attempt the simulator's `approval_probability` gives P(approve | context, action)
for all six actions (the counterfactual truth). The logging policy is a softmax over a few
context features with fixed coefficients (its propensities are exactly known); the target
policy is an approval-seeking softmax over the true probabilities mixed with 20% uniform
exploration. The target's true value is mean over attempts of sum_a pi(a | x) P(approve | x, a).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from payloom_sim import approval_probability, load_attempt_context, simulate
from payloom_sim.constants import GATEWAYS
from scoring.decision_log import CANDIDATE_TYPE, append_decisions, append_rewards

ROUTES = tuple((gateway, optimization) for gateway in GATEWAYS for optimization in ("none", "3ds"))
ACTIONS = tuple(f"{gateway}/{optimization}" for gateway, optimization in ROUTES)
# logging logits per action: intercept + card_not_present coefficient * cnp + log-amount coefficient * log(amount / 100)
LOGGING_COEFFICIENTS = ((0.3, 0.0, 0.0), (0.0, 0.3, 0.1), (0.2, -0.2, 0.0), (0.0, 0.0, -0.1), (-0.2, 0.2, 0.0), (0.1, 0.2, 0.1))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class RoutingBandit:
    """Attempts with their true approval probability per action and both policies' probabilities."""

    attempt_ids: np.ndarray
    attempted_at: np.ndarray
    approval: np.ndarray
    logging: np.ndarray
    target: np.ndarray

    @property
    def truth(self) -> float:
        """The target policy's true mean approval over these attempts."""
        return float((self.target * self.approval).sum(axis=1).mean())

    @property
    def logging_value(self) -> float:
        """The logging policy's true mean approval over these attempts."""
        return float((self.logging * self.approval).sum(axis=1).mean())


def routing_bandit(out_dir: Path, *, attempts: int = 5_000, seed: int = 11) -> RoutingBandit:
    """Simulate `attempts` attempts into `out_dir` and set the bandit up on their contexts."""
    simulate(out_dir, attempts=attempts, seed=seed, days=30)
    context = load_attempt_context(out_dir)
    approval = np.stack([approval_probability(context, gateway, optimization) for gateway, optimization in ROUTES], axis=1)
    card_not_present = np.asarray(context["is_card_not_present"], dtype=np.float64)
    log_amount = np.log(np.asarray(context["amount_usd"], dtype=np.float64) / 100.0)
    logging = _softmax(np.stack([a + b * card_not_present + c * log_amount for a, b, c in LOGGING_COEFFICIENTS], axis=1))
    target = 0.8 * _softmax(25.0 * approval) + 0.2 / len(ACTIONS)
    return RoutingBandit(context["attempt_id"].astype(str), context["attempted_at"], approval, logging, target)


def draw_log(bandit: RoutingBandit, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Logged action index and approval (0/1) per attempt, drawn from the logging policy and the truth."""
    n = len(bandit.approval)
    actions = (rng.random(n)[:, None] > np.cumsum(bandit.logging, axis=1)).sum(axis=1).clip(max=len(ACTIONS) - 1)
    approved = rng.random(n) < bandit.approval[np.arange(n), actions]
    return actions, approved


def noisy_reward_model(bandit: RoutingBandit, rng: np.random.Generator, *, spread: float = 0.05) -> np.ndarray:
    """An unbiased but noisy reward model: the truth plus uniform noise of half-width min(spread, p, 1 - p)."""
    half_width = np.minimum(spread, np.minimum(bandit.approval, 1 - bandit.approval))
    return bandit.approval + rng.uniform(-1, 1, bandit.approval.shape) * half_width


def per_action_reward_model(actions: np.ndarray, approved: np.ndarray) -> np.ndarray:
    """A wrong reward model: each action's mean logged approval, ignoring the context."""
    means = np.array([approved[actions == k].mean() for k in range(len(ACTIONS))])
    return np.tile(means, (len(actions), 1))


def log_to_decision_log(connection: duckdb.DuckDBPyConnection, bandit: RoutingBandit, actions: np.ndarray,
                        approved: np.ndarray, predicted: np.ndarray) -> None:
    """Write the logged decisions (candidates: logging probabilities and `predicted`) and their rewards."""
    n, k = bandit.logging.shape
    decided_at = pa.array(bandit.attempted_at, pa.timestamp("us"))
    candidates = pa.ListArray.from_arrays(
        pa.array(np.arange(0, n * k + 1, k), pa.int32()),
        pa.StructArray.from_arrays([pa.array(np.tile(ACTIONS, n)), pa.array(bandit.logging.ravel()), pa.array(predicted.ravel())],
                                   fields=list(CANDIDATE_TYPE)))
    decision_ids = pa.array(np.char.add("dec_", bandit.attempt_ids))
    append_decisions(connection, pa.table({
        "decision_id": decision_ids, "policy_name": pa.array(["routing"] * n), "policy_version": pa.array(["v1"] * n),
        "context_key": pa.array(bandit.attempt_ids), "decided_at": decided_at, "candidates": candidates,
        "chosen_action": pa.array(np.asarray(ACTIONS)[actions]), "propensity": pa.array(bandit.logging[np.arange(n), actions]),
    }))
    append_rewards(connection, pa.table({
        "decision_id": decision_ids, "observed_at": pa.array(bandit.attempted_at + np.timedelta64(2, "s"), pa.timestamp("us")),
        "is_approved": pa.array(approved),
    }))


def target_table(bandit: RoutingBandit) -> pa.Table:
    """The target policy as (context_id = decision id, action, probability) rows."""
    n, k = bandit.target.shape
    return pa.table({"context_id": np.repeat(np.char.add("dec_", bandit.attempt_ids), k),
                     "action": np.tile(ACTIONS, n), "probability": bandit.target.ravel()})


def evaluation_instant(bandit: RoutingBandit):
    """An instant after every decision and reward of the bandit."""
    return bandit.attempted_at.max().astype("datetime64[us]").item() + timedelta(days=1)
