"""The issuer-decline models (PayPal's approach): P(decline) and, given a decline, its type.

Both are XGBoost models on the point-in-time set `training.training_issuer_decline`, searched
with time-ordered validation (`hyperparameter_search`), and judged on a later test period by
precision-recall. `DECLINE_FEATURES` is their input, in the order the compiled models take it;
every name is a column of `int_authorization_features`, so `score('issuer_decline')` in dbt
and the batch scores read the same numbers training did.

The rule baseline is what a payments team writes before it has a model: flag the attempt when
the card's 30-day decline ratio reaches `a` or the amount reaches `b`. As a score it is
`max(ratio / a, amount / b)` (>= 1 exactly when a rule fires), so one threshold sweeps both
rules together; the ratio a / b is chosen on the validation period.

>>> rule = RuleBaseline(decline_ratio_threshold=0.5, amount_threshold_minor=10_000)
>>> rule.score(np.array([0.25, np.nan, 0.75]), np.array([20_000, 5_000, 100])).tolist()
[2.0, 0.5, 1.5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

import duckdb
import numpy as np
import xgboost

from scoring.errors import ModelTrainingError
from scoring.hyperparameter_search import SearchResult, randomized_search
from scoring.precision_recall import average_precision
from scoring.training_sets import TrainingFrame, load_training_frame, time_ordered_split

__all__ = [
    "DECLINE_FEATURES", "DECLINE_TYPES", "DECLINE_TRAINING_SET", "RuleBaseline", "DeclineModels", "fit_rule_baseline",
    "load_decline_frame", "decline_labels", "decline_type_labels",
    "train_decline_models",
]

DECLINE_TRAINING_SET = "training.training_issuer_decline"

#: The models' input, in order: request-time facts, their encodings, card history, segment rates.
DECLINE_FEATURES: tuple[str, ...] = (
    "usd_amount_minor", "hour_of_day", "day_of_week", "day_of_month", "days_to_card_expiry",
    "uses_3ds", "uses_network_token", "uses_retry", "uses_iso_format",
    "is_credit_card", "is_debit_card", "is_visa", "is_mastercard", "is_amex", "is_recurring", "is_subscription_renewal",
    "attempts_1d", "declines_1d", "decline_ratio_1d", "attempts_7d", "declines_7d", "decline_ratio_7d",
    "attempts_30d", "declines_30d", "decline_ratio_30d", "attempts_90d", "declines_90d", "decline_ratio_90d",
    "insufficient_funds_declines_30d", "do_not_honor_declines_30d", "hard_decline_declines_30d",
    "authentication_required_declines_30d", "technical_declines_30d", "days_since_last_approval", "attempts_before",
    "avg_usd_amount_minor_30d", "max_usd_amount_minor_30d", "stddev_usd_amount_minor_30d", "distinct_merchants_30d",
    "bin_merchant_category_attempts_30d", "bin_merchant_category_approval_rate_30d",
    "issuer_merchant_category_attempts_30d", "issuer_merchant_category_approval_rate_30d",
    "gateway_segment_approval_rate_1h", "gateway_segment_approval_rate_24h", "gateway_segment_approval_rate_7d",
)

#: Decline codes of the data contract: the classes of the decline-type model, in output order.
DECLINE_TYPES: tuple[str, ...] = ("insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical")


@dataclass(frozen=True)
class RuleBaseline:
    """Flag when the card's 30-day decline ratio >= `decline_ratio_threshold` or amount >= `amount_threshold_minor`."""

    decline_ratio_threshold: float
    amount_threshold_minor: float

    def score(self, decline_ratio_30d: np.ndarray, usd_amount_minor: np.ndarray) -> np.ndarray:
        """max(ratio / a, amount / b); a card without 30-day history has ratio 0."""
        ratio = np.nan_to_num(np.asarray(decline_ratio_30d, dtype=np.float64), nan=0.0)
        amount = np.nan_to_num(np.asarray(usd_amount_minor, dtype=np.float64), nan=0.0)
        return np.maximum(ratio / self.decline_ratio_threshold, amount / self.amount_threshold_minor)

    def score_frame(self, frame: TrainingFrame) -> np.ndarray:
        names = frame.feature_names
        return self.score(frame.features[:, names.index("decline_ratio_30d")], frame.features[:, names.index("usd_amount_minor")])


def fit_rule_baseline(frame: TrainingFrame, labels: np.ndarray) -> RuleBaseline:
    """The (a, b) pair with the best PR-AUC on `frame` (the validation period)."""
    amounts = frame.features[:, frame.feature_names.index("usd_amount_minor")]
    best: tuple[float, RuleBaseline] | None = None
    for ratio in (0.1, 0.2, 0.3, 0.5, 0.7):
        for quantile in (0.8, 0.9, 0.95, 0.99):
            rule = RuleBaseline(ratio, float(np.nanquantile(amounts, quantile)) or 1.0)
            quality = average_precision(labels, rule.score_frame(frame))
            if best is None or quality > best[0]:
                best = (quality, rule)
    assert best is not None
    return best[1]


@dataclass
class DeclineModels:
    """Both trained models, the rule baseline, and the periods they were fit and tested on."""

    train: TrainingFrame
    validation: TrainingFrame
    test: TrainingFrame
    decline_search: SearchResult
    type_search: SearchResult
    rules: RuleBaseline

    @property
    def decline_booster(self) -> xgboost.Booster:
        return self.decline_search.booster

    @property
    def type_booster(self) -> xgboost.Booster:
        return self.type_search.booster


def decline_labels(frame: TrainingFrame) -> np.ndarray:
    return frame.labels["is_declined"].astype(bool)


def decline_type_labels(frame: TrainingFrame) -> np.ndarray:
    """Index into DECLINE_TYPES of each declined row's code (approved rows: -1)."""
    codes = frame.labels["decline_code"]
    lookup = {code: index for index, code in enumerate(DECLINE_TYPES)}
    unknown = sorted({str(code) for code in codes if code is not None and code not in lookup})
    if unknown:
        raise ModelTrainingError(f"decline codes outside the contract: {', '.join(unknown)}; expected {', '.join(DECLINE_TYPES)}")
    return np.array([lookup.get(code, -1) if code is not None else -1 for code in codes], dtype=np.int64)


def train_decline_models(
    frame: TrainingFrame,
    *,
    candidates: int = 6,
    max_trees: int = 300,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    echo: TextIO | None = None,
) -> DeclineModels:
    """Split `frame` by time, search both models, fit the rule baseline on the validation period."""
    if tuple(frame.feature_names) != DECLINE_FEATURES:
        raise ModelTrainingError("the frame's features are not DECLINE_FEATURES in order; load it with load_decline_frame()")
    train, validation, test = time_ordered_split(frame, fractions)
    for part, name in ((train, "training"), (validation, "validation"), (test, "test")):
        declined = decline_labels(part)
        if declined.all() or not declined.any():
            raise ModelTrainingError(f"the {name} period has {'only' if declined.all() else 'no'} declines; simulate a longer period or more attempts")
    if echo is not None:
        print(f"  issuer-decline model: {candidates} candidates, time-ordered validation", file=echo, flush=True)
    decline_search = randomized_search(
        train.features, decline_labels(train), validation.features, decline_labels(validation),
        objective="binary:logistic", candidates=candidates, max_trees=max_trees, seed=seed, echo=echo,
    )
    train_types, validation_types = decline_type_labels(train), decline_type_labels(validation)
    if echo is not None:
        print(f"  decline-type model ({len(DECLINE_TYPES)} classes, declined attempts only)", file=echo, flush=True)
    type_search = randomized_search(
        train.features[train_types >= 0], train_types[train_types >= 0],
        validation.features[validation_types >= 0], validation_types[validation_types >= 0],
        objective="multi:softprob", num_class=len(DECLINE_TYPES), candidates=max(2, candidates // 2),
        max_trees=max_trees, seed=seed + 1, echo=echo,
    )
    rules = fit_rule_baseline(validation, decline_labels(validation))
    return DeclineModels(train=train, validation=validation, test=test, decline_search=decline_search, type_search=type_search, rules=rules)


def load_decline_frame(connection: duckdb.DuckDBPyConnection, *, where: str | None = None) -> TrainingFrame:
    """The issuer-decline training set with DECLINE_FEATURES, labels, and the policy's inputs."""
    return load_training_frame(
        connection, DECLINE_TRAINING_SET, DECLINE_FEATURES, timestamp_column="attempted_at",
        label_columns=["is_declined", "decline_code"], key_column="attempt_id",
        extra_columns=["other_approved_cards"], where=where,
    )
