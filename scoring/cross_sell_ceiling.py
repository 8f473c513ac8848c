"""The payoff model's noise-free ceiling: the same model trained on labels without noise.

The payoff model learns E[y r | x] / c from realised offers: y is a coin flip with a small p and
r a noisy deal size, and the training period holds about a thousand acceptances. On simulated
data the truth knows each past offer's expected revenue p r̄. Training the expected-payoff
objective on it (gain p r̄ in place of the realised y r, every row counted as accepted, the same
contact cost c) with the same features, parameters, time split and tree count chosen on the
*realised* validation loss isolates what the features and the learner can reach; the distance
from there to the realised-label model is the label noise of the training offers
(docs/cross_sell.md, "Evaluation").

The minimiser is unchanged: -[p r̄ log q + c log(1 - q)] is the expectation over y and r of the
payoff loss, so its odds still estimate p r̄ / c.

>>> import numpy as np
>>> from scoring.training_sets import TrainingFrame
>>> frame = TrainingFrame(["x"], ["float"], np.zeros((2, 1)), {"is_accepted": np.array([1, 0]),
...     "revenue_usd_minor": np.array([900.0, 0.0]), "contact_cost_usd_minor": np.array([10.0, 10.0])},
...     np.array(["a", "b"]), np.zeros(2, "datetime64[us]"))
>>> clean = noise_free_frame(frame, np.array([45.0, 30.0]))
>>> clean.labels["is_accepted"].tolist(), clean.labels["revenue_usd_minor"].tolist(), clean.labels["contact_cost_usd_minor"].tolist()
([1.0, 1.0], [45.0, 30.0], [10.0, 10.0])
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import xgboost

from scoring.cross_sell_models import CrossSellModels, offer_arrays, train_model_kind
from scoring.cross_sell_oracle import offer_truth
from scoring.errors import ModelTrainingError
from scoring.training_sets import TrainingFrame

__all__ = ["noise_free_frame", "train_noise_free_payoff"]


def noise_free_frame(frame: TrainingFrame, expected_revenue_usd_minor: np.ndarray) -> TrainingFrame:
    """`frame` with noise-free labels: every offer accepted, revenue = its expected revenue p r̄."""
    expected_revenue = np.asarray(expected_revenue_usd_minor, dtype=np.float64)
    if expected_revenue.shape != (len(frame),) or np.isnan(expected_revenue).any() or (expected_revenue < 0).any():
        raise ModelTrainingError(f"expected revenue must be one number >= 0 per offer ({len(frame)}), without NaN; "
                                 "take it from the simulator's _truth/offers (scoring.cross_sell_oracle.offer_truth)")
    labels = {**frame.labels, "is_accepted": np.ones(len(frame)), "revenue_usd_minor": expected_revenue}
    return replace(frame, labels=labels)


def train_noise_free_payoff(models: CrossSellModels, raw_dir: Path, *, max_trees: int, seed: int,
                            threads: int = 1) -> tuple[xgboost.Booster, int] | None:
    """The payoff objective trained on `models.train` with the truth's p r̄ as labels (same features,
    parameters and amount scale; trees chosen on the realised validation period): (booster, trees),
    or None when `raw_dir` has no simulator truth."""
    _, _, cost = offer_arrays(models.train)
    truth = offer_truth(raw_dir, models.train.keys, cost)
    if truth is None:
        return None
    expected_revenue = np.maximum(truth[0] + cost, 0.0)  # p r̄ (the truth's p r̄ - c, plus c)
    booster, trees, _ = train_model_kind("payoff", noise_free_frame(models.train, expected_revenue), models.validation,
                                         scale=models.amount_scale, max_trees=max_trees, seed=seed, threads=threads)
    return booster, trees
