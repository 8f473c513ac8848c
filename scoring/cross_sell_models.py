"""The cross-sell models: P(accept) by binary cross-entropy, and the expected-payoff model.

All are XGBoost models on the point-in-time set `training.training_cross_sell` (one row per past
offer, features as of the offer), split by time into train / validation / test. The number of
trees is chosen on the validation period by each model's own loss (early stopping on a grid of
tree counts). `CROSS_SELL_FEATURES` is their input, in the order the compiled models take it;
every name is a column of `int_cross_sell_candidates`, so `scores_cross_sell` scores the same
numbers training saw.

- `propensity` (binary:logistic): p = P(accept | x), ranks by likelihood to convert;
- `payoff` (custom objective `expected_payoff`, `cross_sell_objectives`): its odds estimate
  E[revenue | x] / c, so c (q / (1 - q) - 1) estimates the expected payoff p r - c;
- `cost_weighted` (custom objective `cost_weighted_log_loss`): the seed's variant.

>>> CROSS_SELL_FEATURES[:3], len(CROSS_SELL_FEATURES)
(('is_product_savings', 'is_product_checking', 'is_product_credit_card'), 43)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import xgboost

from scoring.cross_sell_objectives import constant_margin, payoff_loss, sigmoid, xgboost_objective
from scoring.errors import ModelTrainingError
from scoring.training_sets import TrainingFrame, load_training_frame, time_ordered_split

__all__ = [
    "CROSS_SELL_PRODUCTS", "CROSS_SELL_FEATURES", "CROSS_SELL_TRAINING_SET", "MODEL_KINDS", "CrossSellModels",
    "load_cross_sell_frame", "train_cross_sell_models", "train_model_kind", "offer_arrays", "predict_margin", "probabilities",
]

CROSS_SELL_TRAINING_SET = "training.training_cross_sell"
#: The products of dbt var `products` (and the products seed), in order.
CROSS_SELL_PRODUCTS: tuple[str, ...] = (
    "savings", "checking", "credit_card", "loan", "mortgage", "investment", "insurance",
    "working_capital", "merchant_cash_advance", "business_credit_card",
)
CROSS_SELL_FEATURES: tuple[str, ...] = (
    *(f"is_product_{product}" for product in CROSS_SELL_PRODUCTS),
    "is_small_business", "is_enterprise", "age_years", "annual_income_usd", "credit_score", "tenure_days",
    "products_held", *(f"holds_{product}" for product in CROSS_SELL_PRODUCTS),
    "purchases_30d", "purchases_90d", "purchases_lifetime", "spend_usd_minor_90d", "spend_usd_minor_lifetime",
    "days_since_last_purchase", "interactions_30d", "interactions_90d", "app_interactions_90d", "branch_interactions_90d",
    "complaints_90d", "days_since_last_interaction", "churn_propensity_proxy", "lifetime_value_proxy_usd_minor",
    "product_affinity_score", "neighbour_affinity_score",
)
#: Model kinds: (objective name recorded in the manifest, custom objective or None for built-in BCE).
MODEL_KINDS: dict[str, tuple[str, str | None]] = {
    "propensity": ("binary:logistic", None),
    "payoff": ("custom:expected_payoff", "expected_payoff"),
    "cost_weighted": ("custom:cost_weighted_log_loss", "cost_weighted_log_loss"),
}
_PARAMETERS = {"max_depth": 3, "eta": 0.05, "max_bin": 64, "min_child_weight": 2.0, "subsample": 0.8, "colsample_bytree": 0.8, "lambda": 5.0}


@dataclass
class CrossSellModels:
    """The trained boosters (by kind), the periods, and the tree counts validation chose."""

    train: TrainingFrame
    validation: TrainingFrame
    test: TrainingFrame
    boosters: dict[str, xgboost.Booster]
    trees: dict[str, int]
    validation_loss: dict[str, float]
    amount_scale: float
    parameters: dict[str, object] = field(default_factory=dict)


def offer_arrays(frame: TrainingFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(accepted 0/1, revenue r, contact cost c) of each offer, amounts in US cents."""
    accepted = frame.labels["is_accepted"].astype(np.float64)
    revenue = np.nan_to_num(frame.labels["revenue_usd_minor"].astype(np.float64))
    cost = np.nan_to_num(frame.labels["contact_cost_usd_minor"].astype(np.float64))
    return accepted, revenue, cost


def predict_margin(booster: xgboost.Booster, features: np.ndarray, *, trees: int | None = None) -> np.ndarray:
    """The booster's raw margin (base score + trees) for float64 features with NaN as missing."""
    matrix = xgboost.DMatrix(features, missing=np.nan)
    return booster.predict(matrix, output_margin=True, iteration_range=(0, trees or 0)).astype(np.float64)


def _loss(kind: str, margin: np.ndarray, frame: TrainingFrame, scale: float) -> float:
    accepted, revenue, cost = offer_arrays(frame)
    objective = MODEL_KINDS[kind][1]
    if objective is None:
        return float(np.mean(np.logaddexp(0.0, margin) - accepted * margin))
    return float(np.mean(payoff_loss(margin, revenue / scale, cost / scale, accepted, kind=objective)))


def train_model_kind(kind: str, train: TrainingFrame, validation: TrainingFrame, *, scale: float, max_trees: int, seed: int,
                     threads: int, parameters: dict[str, object] | None = None) -> tuple[xgboost.Booster, int, float]:
    """One model kind trained on `train`: (booster cut to the tree count with the lowest `validation`
    loss, that count, that loss). `scale` divides r and c of the custom objectives; `parameters`
    override the defaults (experiments: bench/bench_cross_sell_gap.py)."""
    accepted, revenue, cost = offer_arrays(train)
    parameters = {**_PARAMETERS, **(parameters or {}), "seed": seed, "nthread": threads, "tree_method": "hist"}
    matrix = xgboost.DMatrix(train.features, label=accepted, missing=np.nan)
    objective = MODEL_KINDS[kind][1]
    if objective is None:
        booster = xgboost.train({**parameters, "objective": "binary:logistic"}, matrix, max_trees)
    else:
        parameters["base_score"] = constant_margin(revenue, cost, accepted, kind=objective)
        parameters["disable_default_eval_metric"] = 1
        booster = xgboost.train(parameters, matrix, max_trees, obj=xgboost_objective(revenue, cost, accepted, kind=objective, scale=scale))
    best_trees, best_loss = max_trees, np.inf
    for trees in range(10, max_trees + 1, 10):
        loss = _loss(kind, predict_margin(booster, validation.features, trees=trees), validation, scale)
        if loss < best_loss - 1e-12:
            best_trees, best_loss = trees, loss
    return booster[:best_trees], best_trees, best_loss


def train_cross_sell_models(
    frame: TrainingFrame,
    *,
    kinds: tuple[str, ...] = tuple(MODEL_KINDS),
    max_trees: int = 300,
    seed: int = 0,
    threads: int = 1,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> CrossSellModels:
    """Split `frame` by time and train each model kind; tree counts chosen on the validation period."""
    if tuple(frame.feature_names) != CROSS_SELL_FEATURES:
        raise ModelTrainingError("the frame's features are not CROSS_SELL_FEATURES in order; load it with load_cross_sell_frame()")
    unknown = [kind for kind in kinds if kind not in MODEL_KINDS]
    if unknown:
        raise ModelTrainingError(f"unknown model kinds {unknown}; expected some of {', '.join(MODEL_KINDS)}")
    train, validation, test = time_ordered_split(frame, fractions)
    for part, name in ((train, "training"), (validation, "validation"), (test, "test")):
        accepted = offer_arrays(part)[0]
        if accepted.all() or not accepted.any():
            raise ModelTrainingError(f"the {name} period has {'only' if accepted.all() else 'no'} accepted offers; "
                                     "simulate more offers (offer_share) or a longer period")
    accepted, revenue, cost = offer_arrays(train)
    scale = float(np.mean(accepted * revenue + cost))
    boosters, trees, losses = {}, {}, {}
    for index, kind in enumerate(kinds):
        boosters[kind], trees[kind], losses[kind] = train_model_kind(kind, train, validation, scale=scale, max_trees=max_trees,
                                                                     seed=seed + index, threads=threads)
    return CrossSellModels(train=train, validation=validation, test=test, boosters=boosters, trees=trees,
                           validation_loss=losses, amount_scale=scale, parameters=dict(_PARAMETERS))


def probabilities(models: CrossSellModels, kind: str, features: np.ndarray) -> np.ndarray:
    """p (propensity) or q (payoff models) in Python: sigmoid of the margin, as the compiled model returns."""
    return sigmoid(predict_margin(models.boosters[kind], features))


def load_cross_sell_frame(connection: duckdb.DuckDBPyConnection, *, where: str | None = None) -> TrainingFrame:
    """The cross-sell training set with CROSS_SELL_FEATURES, the labels and each offer's product."""
    return load_training_frame(
        connection, CROSS_SELL_TRAINING_SET, CROSS_SELL_FEATURES, timestamp_column="offered_at",
        label_columns=["is_accepted", "revenue_usd_minor", "contact_cost_usd_minor"], key_column="offer_id",
        extra_columns=["customer_id", "product", "segment"], where=where,
    )
