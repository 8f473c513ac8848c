"""Simulated payments for the bandit tests: logged optimisation decisions with their propensities,
the oracle's context features, and the true P(approve) of every optimisation (the simulator's truth)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from payloom_sim import approval_probability, load_attempt_context, simulate
from payloom_sim.policy import gateway_probabilities

CONTEXT_FEATURES = ("amount_usd", "hour", "day_of_month", "is_recurring", "is_cross_border", "is_prepaid",
                    "is_card_not_present_flag", "is_visa", "is_mastercard", "is_amex", "issuer_code")


@dataclass(frozen=True)
class BanditWorld:
    payments: pa.Table          # decision_id, card_network, is_card_not_present, CONTEXT_FEATURES, logged action, outcome, propensity
    context: dict               # the simulator's latent context (for the truth)

    def true_approval(self, actions: np.ndarray) -> np.ndarray:
        """P(approve) of each payment under its logged gateway and the given optimisation."""
        gateway = self.context["gateway"]
        return np.array([approval_probability({k: v[i:i + 1] if np.ndim(v) else v for k, v in self.context.items()},
                                              gateway[i], actions[i])[0] for i in range(len(actions))])


def bandit_world(out_dir: Path, *, attempts: int = 6_000, seed: int = 3) -> BanditWorld:
    simulate(out_dir, attempts=attempts, seed=seed, days=20)
    context = load_attempt_context(out_dir)
    raw = duckdb.connect().sql(f"""select attempt_id, is_approved, decision_propensity
        from read_parquet('{out_dir}/payment_attempts/*.parquet')""").to_arrow_table()
    order = {attempt: k for k, attempt in enumerate(raw["attempt_id"].to_pylist())}
    index = np.array([order[a] for a in context["attempt_id"]])
    propensity = raw["decision_propensity"].to_numpy(zero_copy_only=False)[index].astype(np.float64)
    gateway_share = gateway_probabilities(network=context["network_code"], country=context["issuer_country_code"])
    propensity = propensity / gateway_share[np.arange(len(index)), context["gateway_code"]]   # P(optimisation | context)
    network = context["card_network"].astype(str)
    columns = {
        "decision_id": np.char.add("dec_", context["attempt_id"].astype(str)), "card_network": network,
        "is_card_not_present": context["is_card_not_present"].astype(bool),
        "amount_usd": context["amount_usd"], "hour": context["hour"].astype(np.float64), "day_of_month": context["day_of_month"].astype(np.float64),
        "is_recurring": context["is_recurring"].astype(np.float64), "is_cross_border": context["is_cross_border"].astype(np.float64),
        "is_prepaid": context["is_prepaid"].astype(np.float64), "is_card_not_present_flag": context["is_card_not_present"].astype(np.float64),
        "is_visa": (network == "visa").astype(np.float64), "is_mastercard": (network == "mastercard").astype(np.float64),
        "is_amex": (network == "amex").astype(np.float64), "issuer_code": context["issuer_code"].astype(np.float64),
        "optimization": context["optimization"].astype(str), "is_approved": raw["is_approved"].to_numpy(zero_copy_only=False)[index],
        "propensity": propensity,
    }
    return BanditWorld(pa.table(columns), context)
