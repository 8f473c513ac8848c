"""Judge decline scores on a test period: PR-AUC, precision at fixed recall, ROC-AUC; and the oracle.

The simulator knows each attempt's true P(approve | context, gateway, optimisation) and
P(decline type); `oracle_decline_scores` reads them for the test attempts, so a model is
measured against the best any model could do on the same rows, and against the rule baseline.

>>> import numpy as np
>>> labels = np.array([1, 0, 1, 0])
>>> metrics = binary_metrics(labels, np.array([0.9, 0.1, 0.8, 0.3]))
>>> metrics["pr_auc"], metrics["precision_at_recall_0.5"], metrics["roc_auc"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scoring.decline_models import DECLINE_TYPES
from scoring.precision_recall import average_precision, precision_at_recall, roc_auc

__all__ = ["RECALL_LEVELS", "binary_metrics", "multiclass_metrics", "oracle_decline_scores"]

#: Recall levels at which precision is reported.
RECALL_LEVELS: tuple[float, ...] = (0.5, 0.8)


def binary_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """pr_auc, precision_at_recall_<r> for RECALL_LEVELS, roc_auc, rows and positive_rate."""
    labels = np.asarray(labels, dtype=bool)
    metrics = {"pr_auc": average_precision(labels, scores)}
    for level in RECALL_LEVELS:
        metrics[f"precision_at_recall_{level}"] = precision_at_recall(labels, scores, level)
    metrics["roc_auc"] = roc_auc(labels, scores)
    metrics["rows"] = float(len(labels))
    metrics["positive_rate"] = float(labels.mean())
    return metrics


def multiclass_metrics(type_index: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """accuracy and mean log-likelihood of P(type | declined) on declined rows (type_index >= 0)."""
    declined = type_index >= 0
    if not declined.any():
        raise ValueError("no declined rows: the decline-type model cannot be judged on this period")
    truth, probabilities = type_index[declined], np.asarray(probabilities)[declined]
    chosen = np.clip(probabilities[np.arange(len(truth)), truth], 1e-15, 1.0)
    return {
        "accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
        "mean_log_likelihood": float(np.log(chosen).mean()),
        "rows": float(len(truth)),
    }


def oracle_decline_scores(raw_dir: Path, attempt_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """True P(decline) and P(type | declined) (DECLINE_TYPES columns) of `attempt_ids`, in their
    order; None when `raw_dir` holds no simulator truth (a user's own data)."""
    if not (Path(raw_dir) / "_truth" / "attempt_context").is_dir():
        return None
    from payloom_sim.truth import decline_code_probabilities, load_attempt_context

    context = load_attempt_context(raw_dir, attempt_ids=attempt_ids)
    position = {attempt_id: index for index, attempt_id in enumerate(context["attempt_id"])}
    missing = [attempt_id for attempt_id in attempt_ids if attempt_id not in position]
    if missing:
        raise ValueError(f"{len(missing)} attempts have no simulator truth (e.g. {missing[0]}); was the raw data edited?")
    order = np.array([position[attempt_id] for attempt_id in attempt_ids], dtype=np.int64)
    p_decline = 1.0 - context["p_approve"][order]
    codes = decline_code_probabilities(context, context["gateway_code"], context["optimization_code"])
    joint = np.column_stack([codes[name][order] for name in DECLINE_TYPES])
    conditional = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-300)
    return p_decline, conditional
