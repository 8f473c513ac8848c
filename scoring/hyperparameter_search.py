"""Randomized hyper-parameter search for XGBoost with time-ordered validation.

Every candidate trains on the earlier rows and is early-stopped and scored on the later
validation rows, never on shuffled folds: features of payments drift, and a model must be
judged on the future it will score. The winner is the candidate with the best validation
score, truncated to its best iteration; it is the model that gets published and tested.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(600, 3)); y = (x[:, 0] + 0.3 * rng.normal(size=600) > 0).astype(int)
>>> result = randomized_search(x[:400], y[:400], x[400:], y[400:], objective="binary:logistic",
...     candidates=2, max_trees=30, seed=1)
>>> len(result.trials), result.best.validation_score > 0.8, result.booster.num_boosted_rounds() <= 30
(2, True, True)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

import numpy as np
import xgboost

from scoring.errors import ModelTrainingError
from scoring.precision_recall import average_precision

__all__ = ["SEARCH_SPACE", "Trial", "SearchResult", "randomized_search"]

#: The grid candidates are drawn from (without replacement).
SEARCH_SPACE: dict[str, list[Any]] = {
    "max_depth": [4, 6, 8],
    "eta": [0.05, 0.1, 0.2],
    "min_child_weight": [1, 5, 20],
    "subsample": [0.8, 1.0],
    "colsample_bytree": [0.7, 1.0],
    "lambda": [1.0, 5.0],
}


@dataclass
class Trial:
    """One candidate: its parameters, trees kept after early stopping, validation score, seconds."""

    parameters: dict[str, Any]
    trees: int
    validation_score: float
    seconds: float


@dataclass
class SearchResult:
    """Every trial in the order run, and the winning booster (truncated to its best iteration)."""

    trials: list[Trial]
    best: Trial
    booster: xgboost.Booster
    metric: str
    base_parameters: dict[str, Any] = field(default_factory=dict)


def _draw(space: dict[str, list[Any]], count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    names = list(space)
    sizes = [len(space[name]) for name in names]
    total = int(np.prod(sizes))
    picks = rng.choice(total, size=min(count, total), replace=False)
    candidates = []
    for pick in picks:
        candidate, rest = {}, int(pick)
        for name, size in zip(names, sizes):
            candidate[name] = space[name][rest % size]
            rest //= size
        candidates.append(candidate)
    return candidates


def randomized_search(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    validation_features: np.ndarray,
    validation_labels: np.ndarray,
    *,
    objective: str,
    num_class: int | None = None,
    candidates: int = 8,
    max_trees: int = 300,
    early_stopping_rounds: int = 25,
    space: dict[str, list[Any]] | None = None,
    seed: int = 0,
    train_weights: np.ndarray | None = None,
    echo: TextIO | None = None,
) -> SearchResult:
    """Try `candidates` parameter sets drawn from `space`; keep the best on the validation rows.

    Binary models are chosen by validation PR-AUC; multiclass (multi:softprob) by validation
    log loss (lower is better, stored negated so that higher is always better).
    """
    if objective not in ("binary:logistic", "multi:softprob"):
        raise ModelTrainingError(f"randomized_search supports binary:logistic and multi:softprob, not {objective!r}")
    if len(train_labels) == 0 or len(validation_labels) == 0:
        raise ModelTrainingError("the training or validation part is empty; simulate more attempts or a longer period")
    base = {"objective": objective, "tree_method": "hist", "nthread": os.cpu_count() or 1, "seed": seed, "max_bin": 256}
    if objective == "multi:softprob":
        if not num_class or num_class < 2:
            raise ModelTrainingError("multi:softprob needs num_class >= 2")
        base.update(num_class=num_class, eval_metric="mlogloss")
    else:
        base.update(eval_metric="aucpr")
    train = xgboost.DMatrix(train_features, label=train_labels, weight=train_weights, missing=np.nan)
    validation = xgboost.DMatrix(validation_features, label=validation_labels, missing=np.nan)
    score: Callable[[xgboost.Booster], float]
    if objective == "binary:logistic":
        def score(booster: xgboost.Booster) -> float:
            return average_precision(validation_labels, booster.predict(validation))
    else:
        def score(booster: xgboost.Booster) -> float:
            probabilities = np.clip(booster.predict(validation), 1e-15, 1.0)
            return float(np.mean(np.log(probabilities[np.arange(len(validation_labels)), validation_labels.astype(int)])))

    trials: list[Trial] = []
    best: Trial | None = None
    best_booster: xgboost.Booster | None = None
    rng = np.random.default_rng(seed)
    drawn = _draw(space or SEARCH_SPACE, candidates, rng)
    for number, parameters in enumerate(drawn, start=1):
        began = time.perf_counter()
        booster = xgboost.train(
            {**base, **parameters}, train, num_boost_round=max_trees,
            evals=[(validation, "validation")], early_stopping_rounds=early_stopping_rounds, verbose_eval=False,
        )
        kept = booster[: booster.best_iteration + 1]
        trial = Trial(parameters=parameters, trees=booster.best_iteration + 1, validation_score=score(kept), seconds=time.perf_counter() - began)
        trials.append(trial)
        if echo is not None:
            print(f"    candidate {number}/{len(drawn)}: {_describe(parameters)} -> {trial.trees} trees, "
                  f"validation {'PR-AUC' if objective == 'binary:logistic' else 'mean log-likelihood'} {trial.validation_score:.4f} "
                  f"({trial.seconds:.1f}s)", file=echo, flush=True)
        if best is None or trial.validation_score > best.validation_score:
            best, best_booster = trial, kept
    assert best is not None and best_booster is not None
    return SearchResult(trials=trials, best=best, booster=best_booster,
                        metric="validation_pr_auc" if objective == "binary:logistic" else "validation_mean_log_likelihood",
                        base_parameters=base)


def _describe(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in parameters.items())

