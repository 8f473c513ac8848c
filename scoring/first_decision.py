"""The main job's last step: one online decline decision, as a payment service would ask for it.

The payment is the busiest card's last attempt replayed at the end of the simulated period
(the world's "now"), decided by `DeclineDecider`: online features from Feast, request-time
features, both compiled models and the decision policy, and, since the payment names its
customer, the customer's next-best offer (`scoring.next_best_offer`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from scoring.decline_decision import DeclineDecider
from scoring.feature_serving import busiest_card_last_attempt
from scoring.workspace import Workspace

__all__ = ["OnlineDecision", "make_one_decision"]

_PAYMENT_COLUMNS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country",
    "transaction_type", "card_type", "optimization", "amount_minor", "currency_code", "card_expires_on", "customer_id",
)


@dataclass
class OnlineDecision:
    """The request, the answer and the in-process latency of one decision (warm)."""

    payment: dict[str, Any]
    decision: dict[str, Any]
    milliseconds: float

    def format(self) -> str:
        decision = self.decision
        likeliest = max(decision["decline_type"], key=decision["decline_type"].get)
        found = [name for name, view in decision["feature_freshness"].items() if view["found"]]
        return "\n".join([
            f"online decision (in-process, {self.milliseconds:.1f} ms): card {self.payment['card_id']}, "
            f"{self.payment['amount_minor'] / 100:,.2f} {self.payment['currency_code']} at {self.payment['attempted_at']}",
            f"  P(decline) {decision['decline_probability']:.3f}, likeliest type {likeliest}, "
            f"action {decision['recommended_action']}, models "
            + ", ".join(f"{name} {version}" for name, version in decision["model_versions"].items()),
            "  gateways by P(approve): " + ", ".join(
                f"{entry['gateway']} {entry['approval_probability']:.3f}" for entry in decision["gateway_ranking"]
            ),
            f"  online features found in {len(found)}/{len(decision['feature_freshness'])} views; "
            f"{len(decision['missing_features'])} missing, {len(decision['stale_features'])} stale",
            _optimization_line(decision.get("optimization")),
            _offer_line(decision.get("next_best_offer")),
        ])


def _optimization_line(optimization: dict[str, Any] | None) -> str:
    """The bandit's optimisation choice for the payment, in one line."""
    if optimization is None:
        return "  optimisation: no optimization_oracle registered"
    if optimization["chosen_action"] is None:
        return f"  optimisation: none chosen ({optimization['reason']})"
    best = max(optimization["candidates"], key=lambda candidate: candidate["predicted_approval"])
    return (
        f"  optimisation (bandit, {optimization['policy_name']} {optimization['policy_version']}): "
        f"{optimization['chosen_action']} with propensity {optimization['propensity']:.3f} of "
        f"{len(optimization['candidates'])} eligible (best predicted: {best['action']} "
        f"{best['predicted_approval']:.3f}); logged {optimization['requested_optimization']}"
    )


def _offer_line(offer: dict[str, Any] | None) -> str:
    """The decision's next-best offer for the payer, in one line."""
    if offer is None:
        return "  next-best offer: the payment names no customer"
    if offer["product"] is None:
        return f"  next-best offer for customer {offer['customer_id']}: none ({offer.get('reason', 'no candidate')})"
    verdict = "worth a contact" if offer["is_profitable"] else "not worth a contact"
    return (
        f"  next-best offer for customer {offer['customer_id']} (holds {offer['holding_pattern']}): {offer['product']}, "
        f"P(accept) {offer['p_accept']:.3f}, expected payoff {offer['expected_payoff_usd_minor'] / 100:,.2f} USD "
        f"after a {offer['contact_cost_usd_minor'] / 100:,.2f} USD contact ({verdict}; "
        f"{len(offer['candidates'])} candidates)"
    )


def make_one_decision(workspace: Workspace, at: datetime) -> OnlineDecision:
    """Decide the busiest card's last attempt, replayed at `at`."""
    payment = busiest_card_last_attempt(workspace, _PAYMENT_COLUMNS)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        payment["other_approved_cards"] = connection.execute(
            "select coalesce(max(other_approved_cards), 0) from intermediate.int_authorization_features where card_id = ?",
            [payment["card_id"]],
        ).fetchone()[0]
    payment["amount_minor"] = int(payment["amount_minor"])
    payment["card_expires_on"] = payment["card_expires_on"].isoformat() if payment["card_expires_on"] is not None else None
    payment["attempted_at"] = at.isoformat() + "Z"
    decider = DeclineDecider(workspace)
    decider.decide(payment)  # warm: the first call loads Feast's registry
    began = time.perf_counter()
    decision = decider.decide(payment)
    return OnlineDecision(payment=payment, decision=decision, milliseconds=(time.perf_counter() - began) * 1000)
