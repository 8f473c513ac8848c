"""Choose the decline policy's thresholds on the precision-recall curve, by expected cost.

Each action is a bet on one kind of decline. Its score is the model's probability of that kind,
p_decline x P(type | declined); flagging the rows whose score reaches a threshold t is one
point of that score's precision-recall curve. With amounts as weights, flagging gains
`gain x amount` on each true positive (a decline the action turns into an approval) and costs
`loss x amount` on each false positive (friction on an attempt that needed no help). The chosen
t maximises the expected net value on the validation period, and its precision and recall are
recorded with the policy:

- step_up_authentication: positives are authentication_required and do_not_honor declines;
  gain `step_up_recovery` (share recovered by CVV / 2FA), loss `step_up_abandonment`.
- offer_other_instrument: positives are insufficient_funds and hard_decline declines, among
  attempts whose customer has another approved card; gain `other_instrument_recovery`, loss
  `other_instrument_abandonment`.
- stand_in_approval: positives are technical declines of trusted cards during an outage; gain
  `stand_in_margin`, loss `stand_in_loss` on the other declines (the issuer would have refused:
  funds or fraud) and nothing on approvals.

When a validation period has too few positives for an action (fewer than `min_positives`), the
threshold falls back to the break-even probability loss / (gain + loss), which is right for a
calibrated model.

>>> import numpy as np
>>> scores = np.array([0.9, 0.8, 0.6, 0.4, 0.2]); positive = np.array([1, 1, 0, 1, 0], bool)
>>> best_threshold(scores, positive, gain=np.full(5, 1.0), loss=np.full(5, 1.0), min_positives=1)["threshold"]
0.8
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scoring.decline_models import DECLINE_TYPES
from scoring.precision_recall import precision_recall_curve

__all__ = ["DeclineCosts", "best_threshold", "choose_decline_policy", "policy_inputs"]


@dataclass(frozen=True)
class DeclineCosts:
    """Gains and losses of each action as shares of the attempt's amount; see the module docstring."""

    step_up_recovery: float = 0.5
    step_up_abandonment: float = 0.05
    other_instrument_recovery: float = 0.6
    other_instrument_abandonment: float = 0.1
    stand_in_margin: float = 0.9
    stand_in_loss: float = 1.0
    outage_ratio: float = 0.6
    trusted_min_attempts: int = 10
    trusted_max_decline_ratio: float = 0.1


def best_threshold(scores: np.ndarray, positive: np.ndarray, *, gain: np.ndarray, loss: np.ndarray, min_positives: int = 20) -> dict[str, Any]:
    """The threshold with the highest net value sum(gain over flagged positives) - sum(loss over flagged negatives)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    # One curve weighted by value: "true positives" carry gain, "false positives" carry loss.
    value_weights = np.where(positive, gain, loss)
    curve = precision_recall_curve(positive, scores, weights=value_weights)
    counts = precision_recall_curve(positive, scores)
    if int(positive.sum()) < min_positives or len(curve.thresholds) == 0:
        mean_gain, mean_loss = float(np.mean(gain)) if len(gain) else 1.0, float(np.mean(loss)) if len(loss) else 1.0
        return {"threshold": mean_loss / (mean_gain + mean_loss), "source": "break_even", "precision": None, "recall": None, "net_value": None}
    net = curve.true_positives - curve.false_positives
    best = int(np.argmax(net))
    if net[best] <= 0:
        # No threshold pays: never act (a threshold above every score).
        return {"threshold": float(scores.max()) + 1.0, "source": "never_pays", "precision": None, "recall": 0.0, "net_value": 0.0}
    return {
        "threshold": float(curve.thresholds[best]),
        "source": "precision_recall_curve",
        "precision": float(counts.precision[best]),
        "recall": float(counts.recall[best]),
        "net_value": float(net[best]),
    }


def policy_inputs(p_decline: np.ndarray, type_probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """The three action scores from P(decline) and P(type | declined) (columns in DECLINE_TYPES order)."""
    column = {name: type_probabilities[:, index] for index, name in enumerate(DECLINE_TYPES)}
    return {
        "step_up_authentication": p_decline * (column["authentication_required"] + column["do_not_honor"]),
        "offer_other_instrument": p_decline * (column["insufficient_funds"] + column["hard_decline"]),
        "stand_in_approval": p_decline * column["technical"],
    }


def choose_decline_policy(
    *,
    p_decline: np.ndarray,
    type_probabilities: np.ndarray,
    decline_code: np.ndarray,
    usd_amount_minor: np.ndarray,
    other_approved_cards: np.ndarray,
    attempts_before: np.ndarray,
    decline_ratio_90d: np.ndarray,
    approval_rate_1h: np.ndarray,
    approval_rate_7d: np.ndarray,
    type_model: str = "decline_type",
    costs: DeclineCosts = DeclineCosts(),
    min_positives: int = 20,
) -> dict[str, Any]:
    """The `decision_policy` of the decline model, fit on one period's scores and outcomes."""
    amount = np.nan_to_num(np.asarray(usd_amount_minor, dtype=np.float64), nan=0.0) / 100.0
    codes = np.asarray(decline_code, dtype=object)
    scores = policy_inputs(np.asarray(p_decline, dtype=np.float64), np.asarray(type_probabilities, dtype=np.float64))
    declined = np.array([code is not None for code in codes])

    def is_code(*names: str) -> np.ndarray:
        return np.isin(codes, names)

    with np.errstate(invalid="ignore"):
        outage = np.nan_to_num(approval_rate_1h, nan=1.0) < costs.outage_ratio * np.nan_to_num(approval_rate_7d, nan=0.0)
    trusted = (np.nan_to_num(attempts_before, nan=0.0) >= costs.trusted_min_attempts) & (
        np.nan_to_num(decline_ratio_90d, nan=0.0) <= costs.trusted_max_decline_ratio)
    has_other = np.nan_to_num(other_approved_cards, nan=0.0) > 0
    stand_in_rows = outage & trusted
    chosen = {
        "step_up_authentication": best_threshold(
            scores["step_up_authentication"], is_code("authentication_required", "do_not_honor"),
            gain=costs.step_up_recovery * amount, loss=costs.step_up_abandonment * amount, min_positives=min_positives),
        "offer_other_instrument": best_threshold(
            scores["offer_other_instrument"][has_other], is_code("insufficient_funds", "hard_decline")[has_other],
            gain=costs.other_instrument_recovery * amount[has_other], loss=costs.other_instrument_abandonment * amount[has_other],
            min_positives=min_positives),
        "stand_in_approval": best_threshold(
            scores["stand_in_approval"][stand_in_rows], is_code("technical")[stand_in_rows],
            gain=costs.stand_in_margin * amount[stand_in_rows],
            loss=np.where(declined[stand_in_rows], costs.stand_in_loss, 0.0) * amount[stand_in_rows],
            min_positives=min_positives),
    }
    return {
        "kind": "decline_action",
        "type_model": type_model,
        "thresholds": {action: point["threshold"] for action, point in chosen.items()},
        "operating_points": {action: {key: value for key, value in point.items() if key != "threshold"} for action, point in chosen.items()},
        "outage_ratio": costs.outage_ratio,
        "trusted_min_attempts": costs.trusted_min_attempts,
        "trusted_max_decline_ratio": costs.trusted_max_decline_ratio,
        "costs": asdict(costs),
    }
