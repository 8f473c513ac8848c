"""Precision-recall metrics for rare positives (declines): PR-AUC, precision at a fixed recall.

Declines are a minority class, so a model is judged on the precision-recall curve, not ROC
alone: ROC-AUC rewards ranking the many approvals below each other, which nobody acts on.
Ties are handled as one threshold (all tied rows flip together), like scikit-learn's
`average_precision_score`.

>>> import numpy as np
>>> labels = np.array([1, 0, 1, 0, 0, 1])
>>> scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
>>> round(average_precision(labels, scores), 4)   # (1/1 + 2/3 + 3/6) / 3
0.7222
>>> round(precision_at_recall(labels, scores, 0.6), 4)  # two of three positives: threshold 0.7
0.6667
>>> round(roc_auc(labels, scores), 4)
0.5556
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PrecisionRecallCurve", "precision_recall_curve", "average_precision", "precision_at_recall", "roc_auc"]


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """One point per distinct score threshold, highest threshold first.

    At `thresholds[i]` ("flag when score >= threshold") the flagged rows hold
    `true_positives[i]` positives and `false_positives[i]` negatives; `weights` (e.g. amounts)
    turn counts into weighted sums when given.
    """

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    positives: float

    @property
    def precision(self) -> np.ndarray:
        return self.true_positives / np.maximum(self.true_positives + self.false_positives, np.finfo(float).tiny)

    @property
    def recall(self) -> np.ndarray:
        return self.true_positives / self.positives if self.positives > 0 else np.zeros_like(self.true_positives)


def _checked(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d arrays of the same length, got shapes {labels.shape} and {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; a model's scores must be numbers for every row")
    return labels.astype(bool), scores


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> PrecisionRecallCurve:
    """The curve of `scores` against binary `labels` (optionally weighted rows)."""
    labels, scores = _checked(labels, scores)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    positive_weight = np.cumsum(np.where(labels[order], weights[order], 0.0))
    negative_weight = np.cumsum(np.where(labels[order], 0.0, weights[order]))
    # The last row of each run of equal scores closes that threshold.
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True] if len(scores) else np.zeros(0, bool)
    return PrecisionRecallCurve(
        thresholds=sorted_scores[last_of_run],
        true_positives=positive_weight[last_of_run],
        false_positives=negative_weight[last_of_run],
        positives=float(positive_weight[-1]) if len(scores) else 0.0,
    )


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision: sum over thresholds of (recall step) x precision."""
    curve = precision_recall_curve(labels, scores)
    if curve.positives == 0:
        raise ValueError("no positive labels: PR-AUC is undefined; evaluate on a period with declines")
    recall = curve.recall
    return float(np.sum(np.diff(np.r_[0.0, recall]) * curve.precision))


def precision_at_recall(labels: np.ndarray, scores: np.ndarray, recall: float) -> float:
    """The best precision among thresholds whose recall is at least `recall`."""
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must be in (0, 1], got {recall}")
    curve = precision_recall_curve(labels, scores)
    if curve.positives == 0:
        raise ValueError("no positive labels: precision at recall is undefined")
    reaching = curve.recall >= recall - 1e-12
    return float(curve.precision[reaching].max())


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (the probability a positive outranks a negative; ties count half)."""
    labels, scores = _checked(labels, scores)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("ROC-AUC needs both positive and negative labels")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # Tied scores share the average of their ranks (1-based).
    starts = np.r_[0, np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1]
    ends = np.r_[starts[1:], len(scores)]
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))
