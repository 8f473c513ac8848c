"""Cross-sell objectives for XGBoost: the expected-payoff loss and the cost-weighted log loss.

A contact of a customer about a product costs c and, if accepted (y = 1), brings a deal of size
r, so its payoff is y r - c and its expected payoff p r̄ - c, where p = P(accept | x) and r̄ the
expected deal size. Both losses below are weighted logistic losses in a margin f with
q = sigmoid(f); `docs/cross_sell.md` derives them.

- Expected payoff (`expected_payoff`): loss = -[y r log q + c log(1 - q)]. Its minimiser over
  the rows sharing x has odds q / (1 - q) = E[y r | x] / c = p r̄ / c, so
  `expected_payoff_of(q, c) = c (q / (1 - q) - 1)` is an estimate of p r̄ - c: ranking by it
  ranks by expected payoff, and q > 1/2 exactly when a contact pays.
- Cost-weighted log loss (`cost_weighted_log_loss`): loss = -[y r log q + (1 - y) c log(1 - q)],
  the seed's variant: odds p r̄ / ((1 - p) c); c is charged only for failed contacts.

Both have gradient w (q - t) and Hessian w q (1 - q) for a weight w and a soft target t (see
`weights_and_targets`), floored at HESSIAN_FLOOR x w so a leaf of saturated rows never divides
by zero. Amounts are divided by a scale (the mean of r + c in training) so weights average ~1.

>>> import numpy as np
>>> margin, revenue, cost, accepted = np.array([0.0, 2.0]), np.array([0.0, 90.0]), np.array([10.0, 10.0]), np.array([0.0, 1.0])
>>> gradient, hessian = payoff_gradient_hessian(margin, revenue, cost, accepted, kind="expected_payoff")
>>> gradient.round(3).tolist(), hessian.round(3).tolist()
([5.0, -1.92], [2.5, 10.499])
>>> round(float(expected_payoff_of(np.array([0.9]), np.array([10.0]))[0]), 6)  # odds 9: E[revenue] 90, minus c
80.0
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import xgboost

from scoring.errors import ModelTrainingError

__all__ = [
    "OBJECTIVES", "HESSIAN_FLOOR", "sigmoid", "weights_and_targets", "payoff_loss", "payoff_gradient_hessian",
    "xgboost_objective", "expected_payoff_of", "constant_margin",
]

#: Objective names, as recorded in model manifests (`custom:<name>`).
OBJECTIVES: tuple[str, ...] = ("expected_payoff", "cost_weighted_log_loss")
#: The Hessian is never below this share of the row's weight (q (1 - q) <= 1/4 otherwise).
HESSIAN_FLOOR = 1e-6


def sigmoid(margin: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-margin)), without overflow for large |margin|.

    >>> sigmoid(np.array([-800.0, 0.0, 800.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    margin = np.asarray(margin, dtype=np.float64)
    out = np.empty_like(margin)
    positive = margin >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-margin[positive]))
    exp_margin = np.exp(margin[~positive])
    out[~positive] = exp_margin / (1.0 + exp_margin)
    return out


def _checked(kind: str, revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if kind not in OBJECTIVES:
        raise ModelTrainingError(f"unknown cross-sell objective {kind!r}; expected one of {', '.join(OBJECTIVES)}")
    revenue, cost, accepted = (np.asarray(values, dtype=np.float64) for values in (revenue, cost, accepted))
    if (revenue < 0).any() or (cost < 0).any():
        raise ModelTrainingError("revenue and contact cost must be >= 0 (staging quarantines negative amounts); "
                                 "train on training.training_cross_sell")
    return revenue, cost, accepted


def weights_and_targets(revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray, *, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The loss as w x logistic loss with soft target t: w = a + b, t = a / (a + b), where a is the
    weight of log q (y r) and b of log(1 - q) (c, or (1 - y) c for the cost-weighted variant).

    >>> w, t = weights_and_targets(np.array([30.0]), np.array([10.0]), np.array([1.0]), kind="expected_payoff")
    >>> w.tolist(), t.tolist()
    ([40.0], [0.75])
    """
    revenue, cost, accepted = _checked(kind, revenue, cost, accepted)
    gain = accepted * revenue
    charge = cost if kind == "expected_payoff" else (1.0 - accepted) * cost
    weight = gain + charge
    target = np.divide(gain, weight, out=np.zeros_like(weight), where=weight > 0)
    return weight, target


def payoff_loss(margin: np.ndarray, revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray, *, kind: str) -> np.ndarray:
    """Per-row loss -[a log q + b log(1 - q)] at `margin` (stable: log q = -log(1 + exp(-f))).

    >>> round(float(payoff_loss(np.array([0.0]), np.array([5.0]), np.array([5.0]), np.array([1.0]), kind="expected_payoff")[0]), 4)
    6.9315
    """
    weight, target = weights_and_targets(revenue, cost, accepted, kind=kind)
    margin = np.asarray(margin, dtype=np.float64)
    log_q = -np.logaddexp(0.0, -margin)
    log_not_q = -np.logaddexp(0.0, margin)
    return -weight * (target * log_q + (1.0 - target) * log_not_q)


def payoff_gradient_hessian(
    margin: np.ndarray, revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray, *, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """d loss / d margin = w (q - t) and d^2 loss / d margin^2 = w q (1 - q), floored at HESSIAN_FLOOR x w."""
    weight, target = weights_and_targets(revenue, cost, accepted, kind=kind)
    q = sigmoid(margin)
    gradient = weight * (q - target)
    hessian = np.maximum(weight * q * (1.0 - q), HESSIAN_FLOOR * np.maximum(weight, 1e-12))
    return gradient, hessian


def xgboost_objective(revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray, *, kind: str, scale: float = 1.0) -> Callable:
    """An `obj=` for `xgboost.train` over a DMatrix whose rows are these offers, in order.

    `scale` divides r and c (the minimiser does not change; weights near 1 keep
    `min_child_weight` and `lambda` meaningful).
    """
    if scale <= 0:
        raise ModelTrainingError(f"scale must be > 0, got {scale}")
    revenue, cost, accepted = _checked(kind, revenue, cost, accepted)
    revenue, cost = revenue / scale, cost / scale

    def objective(margin: np.ndarray, matrix: xgboost.DMatrix) -> tuple[np.ndarray, np.ndarray]:
        if len(margin) != len(revenue):
            raise ModelTrainingError(f"the objective was built for {len(revenue)} rows, the DMatrix has {len(margin)}")
        return payoff_gradient_hessian(margin, revenue, cost, accepted, kind=kind)

    return objective


def constant_margin(revenue: np.ndarray, cost: np.ndarray, accepted: np.ndarray, *, kind: str) -> float:
    """The best constant margin (XGBoost's base_score, in margin space): log(sum a / sum b).

    >>> round(constant_margin(np.array([0.0, 30.0]), np.array([10.0, 10.0]), np.array([0.0, 1.0]), kind="expected_payoff"), 4)
    0.4055
    """
    weight, target = weights_and_targets(revenue, cost, accepted, kind=kind)
    gain, charge = float((weight * target).sum()), float((weight * (1.0 - target)).sum())
    if gain <= 0 or charge <= 0:
        raise ModelTrainingError("the training offers need both revenue (accepted offers) and contact costs; "
                                 "simulate or load more offers")
    return float(np.log(gain / charge))


def expected_payoff_of(q: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """c (q / (1 - q) - 1): the expected payoff a payoff-model output q implies for contact cost c."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0 - 1e-12)
    return np.asarray(cost, dtype=np.float64) * (q / (1.0 - q) - 1.0)
