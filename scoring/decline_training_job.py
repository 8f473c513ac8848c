"""Train, publish and batch-score the issuer-decline models of a built workspace.

1. Read `training.training_issuer_decline`, split it by time (train / validation / test).
2. Search both models (P(decline), P(type | declined)) on train + validation; fit the rule
   baseline and the decline policy (thresholds by expected cost) on the validation period.
3. Publish both into the workspace's model registry: compiled libraries, manifests with the
   metrics, the training-data fingerprint and the policy; promote them.
4. `dbt build --full-refresh --select tag:scores`: the compiled models score every attempt
   in SQL (`scores.scores_issuer_decline`).
5. Judge the scores read back from SQL on the test period against the rule baseline and the
   simulator's oracle, and check them against the booster they were compiled from.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import duckdb
import numpy as np
import xgboost

from scoring.decline_evaluation import binary_metrics, multiclass_metrics, oracle_decline_scores
from scoring.decline_models import (
    DECLINE_TYPES, DeclineModels, decline_labels, decline_type_labels, load_decline_frame, train_decline_models,
)
from scoring.decline_policy import choose_decline_policy
from scoring.errors import ModelTrainingError
from scoring.dbt_runner import run_dbt
from scoring.model_publishing import publish_model
from scoring.optimization_oracle_job import train_optimization_oracle
from scoring.workspace import Workspace

__all__ = ["DeclineTrainingReport", "train_decline_job"]

DECLINE_MODEL = "issuer_decline"
TYPE_MODEL = "decline_type"


@dataclass
class DeclineTrainingReport:
    """What the job trained and measured; `format()` is what the CLI prints."""

    test_period: tuple[str, str]
    scorers: dict[str, dict[str, float]]
    type_metrics: dict[str, dict[str, float]]
    versions: dict[str, str]
    rule_description: str
    policy: dict
    action_counts: dict[str, int]
    compiled_max_difference: float
    seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        first = next(iter(self.scorers.values()))
        lines = [
            f"issuer-decline models: {DECLINE_MODEL} {self.versions[DECLINE_MODEL]}, {TYPE_MODEL} {self.versions[TYPE_MODEL]}",
            f"  test period {self.test_period[0]} .. {self.test_period[1]}: {int(first['rows']):,} attempts, "
            f"{first['positive_rate']:.1%} declined",
            f"  {'scorer':<44} {'PR-AUC':>7} {'P@R=0.5':>8} {'P@R=0.8':>8} {'ROC-AUC':>8}",
        ]
        for name, metrics in self.scorers.items():
            lines.append(f"  {name:<44} {metrics['pr_auc']:>7.3f} {metrics['precision_at_recall_0.5']:>8.3f} "
                         f"{metrics['precision_at_recall_0.8']:>8.3f} {metrics['roc_auc']:>8.3f}")
        lines.append(f"  rule baseline: {self.rule_description}")
        lines.append(f"  compiled scores vs the XGBoost booster: max |difference| {self.compiled_max_difference:.1e}")
        for name, metrics in self.type_metrics.items():
            lines.append(f"  decline type, {name}: accuracy {metrics['accuracy']:.3f}, mean log-likelihood "
                         f"{metrics['mean_log_likelihood']:.3f} ({int(metrics['rows']):,} declined attempts)")
        thresholds = ", ".join(f"{action} {value:.3f}" for action, value in self.policy["thresholds"].items())
        lines.append(f"  decline policy thresholds (expected cost on the validation PR curve): {thresholds}")
        lines.append("  recommended actions on the test period: " + ", ".join(f"{action} {count:,}" for action, count in self.action_counts.items()))
        if self.seconds:
            lines.append("  timings: " + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in self.seconds.items()))
        return "\n".join(lines)


def _predict(booster: xgboost.Booster, features: np.ndarray) -> np.ndarray:
    return booster.predict(xgboost.DMatrix(features, missing=np.nan))


@dataclass
class _BoosterScores:
    """The boosters' own predictions on the validation and test periods, computed once."""

    validation_decline: np.ndarray
    validation_types: np.ndarray
    test_decline: np.ndarray
    test_types: np.ndarray

    @classmethod
    def of(cls, models: DeclineModels) -> "_BoosterScores":
        return cls(
            validation_decline=_predict(models.decline_booster, models.validation.features),
            validation_types=_predict(models.type_booster, models.validation.features),
            test_decline=_predict(models.decline_booster, models.test.features),
            test_types=_predict(models.type_booster, models.test.features),
        )


def _publish(workspace: Workspace, models: DeclineModels, scores: _BoosterScores, policy: dict) -> dict[str, str]:
    features = list(zip(models.train.feature_names, models.train.feature_types))
    training_data = {"relation": "training.training_issuer_decline", "train": models.train.describe(),
                     "validation": models.validation.describe(), "test": models.test.describe()}
    validation_metrics = binary_metrics(decline_labels(models.validation), scores.validation_decline)
    test_metrics = binary_metrics(decline_labels(models.test), scores.test_decline)
    type_test = multiclass_metrics(decline_type_labels(models.test), scores.test_types)
    type_artifact = publish_model(
        workspace.model_registry, TYPE_MODEL, models.type_booster, features, classes=list(DECLINE_TYPES),
        metrics={"validation_mean_log_likelihood": models.type_search.best.validation_score,
                 **{f"test_{name}": value for name, value in type_test.items()}},
        training_data=training_data, parameters={**models.type_search.best.parameters, "trees": models.type_search.best.trees},
    )
    decline_artifact = publish_model(
        workspace.model_registry, DECLINE_MODEL, models.decline_booster, features, classes=["approved", "declined"],
        metrics={**{f"validation_{name}": value for name, value in validation_metrics.items()},
                 **{f"test_{name}": value for name, value in test_metrics.items()}},
        training_data=training_data, parameters={**models.decline_search.best.parameters, "trees": models.decline_search.best.trees},
        decision_policy=policy,
    )
    return {DECLINE_MODEL: decline_artifact.manifest.version, TYPE_MODEL: type_artifact.manifest.version}


def train_decline_job(
    workspace: Workspace,
    *,
    candidates: int = 6,
    max_trees: int = 300,
    seed: int = 0,
    echo: TextIO | None = sys.stderr,
) -> DeclineTrainingReport:
    """Steps 1-5 of the module docstring on a workspace `payloom build` (or `run`) has built."""
    if not workspace.warehouse.exists():
        raise ModelTrainingError(f"{workspace.warehouse} does not exist; build the workspace first (payloom run, or payloom build --raw-dir ...)")
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        frame = load_decline_frame(connection)
    seconds["read_training_set"] = time.perf_counter() - began
    began = time.perf_counter()
    models = train_decline_models(frame, candidates=candidates, max_trees=max_trees, seed=seed, echo=echo)
    seconds["search_and_train"] = time.perf_counter() - began

    booster_scores = _BoosterScores.of(models)
    validation = models.validation
    names = validation.feature_names
    column = {name: validation.features[:, names.index(name)] for name in names}
    policy = choose_decline_policy(
        p_decline=booster_scores.validation_decline,
        type_probabilities=booster_scores.validation_types,
        decline_code=validation.labels["decline_code"], usd_amount_minor=column["usd_amount_minor"],
        other_approved_cards=validation.extras["other_approved_cards"], attempts_before=column["attempts_before"],
        decline_ratio_90d=column["decline_ratio_90d"], approval_rate_1h=column["gateway_segment_approval_rate_1h"],
        approval_rate_7d=column["gateway_segment_approval_rate_7d"], type_model=TYPE_MODEL,
    )
    began = time.perf_counter()
    versions = _publish(workspace, models, booster_scores, policy)
    seconds["compile_and_publish"] = time.perf_counter() - began
    if echo is not None:
        print(f"  published {DECLINE_MODEL} {versions[DECLINE_MODEL]} and {TYPE_MODEL} {versions[TYPE_MODEL]}; scoring every attempt in SQL",
              file=echo, flush=True)
    began = time.perf_counter()
    # The optimisation bandit's oracle on the same training set (the decision service's bandit).
    train_optimization_oracle(workspace, max_trees=min(60, max_trees), seed=seed, echo=echo)
    seconds["optimization_oracle"] = time.perf_counter() - began
    began = time.perf_counter()
    # Only the scores models: the features and raw views are built already (raw may live elsewhere).
    run_dbt(workspace, ["build", "--full-refresh", "--select", "tag:scores"], echo=echo)
    seconds["batch_scoring"] = time.perf_counter() - began
    report = _judge(workspace, models, booster_scores.test_decline, versions, policy)
    report.seconds = seconds
    return report


def _judge(workspace: Workspace, models: DeclineModels, booster_decline: np.ndarray, versions: dict[str, str], policy: dict) -> DeclineTrainingReport:
    test = models.test
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        connection.register("test_attempts", {"attempt_id": test.keys, "position": np.arange(len(test))})
        scored = connection.execute(
            "select scores.decline_probability, scores.p_insufficient_funds, scores.p_do_not_honor, scores.p_hard_decline,"
            " scores.p_authentication_required, scores.p_technical, scores.recommended_action"
            " from test_attempts left join scores.scores_issuer_decline as scores using (attempt_id)"
            " order by test_attempts.position"
        ).fetchnumpy()
    sql_decline = scored["decline_probability"]
    if np.ma.isMaskedArray(sql_decline) and sql_decline.mask.any():
        raise ModelTrainingError("some test attempts have no score in scores.scores_issuer_decline; rebuild with payloom train")
    sql_decline = np.asarray(sql_decline, dtype=np.float64)
    sql_types = np.column_stack([np.asarray(scored[f"p_{name}"], dtype=np.float64) for name in DECLINE_TYPES])
    difference = float(np.max(np.abs(sql_decline - booster_decline))) if len(test) else 0.0

    labels = decline_labels(test)
    rule = models.rules
    scorers: dict[str, dict[str, float]] = {}
    type_metrics: dict[str, dict[str, float]] = {}
    oracle = oracle_decline_scores(workspace.raw_dir, test.keys)
    if oracle is not None:
        scorers["simulator oracle (true P(decline))"] = binary_metrics(labels, oracle[0])
    scorers[f"{DECLINE_MODEL} {versions[DECLINE_MODEL]} (compiled, from SQL)"] = binary_metrics(labels, sql_decline)
    scorers["rule baseline"] = binary_metrics(labels, rule.score_frame(test))
    type_index = decline_type_labels(test)
    if oracle is not None:
        type_metrics["simulator oracle"] = multiclass_metrics(type_index, oracle[1])
    type_metrics[f"{TYPE_MODEL} {versions[TYPE_MODEL]} (compiled, from SQL)"] = multiclass_metrics(type_index, sql_types)
    actions, counts = np.unique(np.asarray(scored["recommended_action"], dtype=object).astype(str), return_counts=True)
    return DeclineTrainingReport(
        test_period=(str(test.timestamps.min())[:19], str(test.timestamps.max())[:19]),
        scorers=scorers,
        type_metrics=type_metrics,
        versions=versions,
        rule_description=f"decline when the card's 30-day decline ratio >= {rule.decline_ratio_threshold:g} "
                         f"or the amount >= ${rule.amount_threshold_minor / 100:,.2f} (thresholds fit on the validation period)",
        policy=policy,
        action_counts={str(action): int(count) for action, count in zip(actions, counts)},
        compiled_max_difference=difference,
    )
