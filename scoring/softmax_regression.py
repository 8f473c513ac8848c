"""Multinomial (softmax) logistic regression in NumPy whose scores are exact in plain SQL.

Fit: features standardised on the training rows (missing values replaced by the mean, so a
missing value contributes nothing), classes 0..C-1, cross-entropy + (l2 / 2) * ||W||^2 on the
standardised weights (intercepts unpenalised), minimised by Newton's method with the exact
Hessian and a backtracking line search; deterministic, no random start. Cost per iteration is
O(n (C (d + 1))^2): meant for tens of features and up to a few hundred thousand rows.

Serve: the standardisation is folded into raw-scale coefficients, so class c's logit is
    l_c = b_c + w_c1 * coalesce(x_1, m_1) + ... + w_cd * coalesce(x_d, m_d)      (NULL and NaN are missing)
and P(c | x) = exp(l_c - max l) / sum_k exp(l_k - max l). `sql_expression` writes exactly that
in DuckDB SQL (DOUBLE literals in 17 significant digits, additions left to right, `list_sum`
sums in order), and `predict_proba` computes it in the same order with the same `exp` as DuckDB
(the C library's), so SQL and Python agree to the last bit or two.

>>> import duckdb
>>> x = np.array([[0.0], [1.0], [4.0], [5.0], [np.nan], [9.0], [10.0]])
>>> model = fit_softmax_regression(x, np.array([0, 0, 1, 1, 1, 2, 2]), ("a", "b", "c"), ("x",), l2=0.1)
>>> model.predict_proba(x).argmax(axis=1).tolist()     # a missing x counts as the mean (~4.8)
[0, 0, 1, 1, 1, 2, 2]
>>> sql = model.sql_expression({"x": "t.x"})
>>> row = duckdb.connect().execute(f"select {sql} as p from (select 9.0 as x) t").fetchone()[0]
>>> bool(np.allclose(list(row.values()), model.predict_proba(x[5:6])[0], rtol=0, atol=1e-15))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from scoring.errors import ModelTrainingError
from udfs.identifiers import quote_identifier

__all__ = ["SoftmaxRegression", "fit_softmax_regression", "sql_double"]


def sql_double(value: float) -> str:
    """A DuckDB DOUBLE literal that reads back as exactly `value` (scientific notation is DOUBLE, not DECIMAL).

    >>> sql_double(0.1), sql_double(-2.0)
    ('1.0000000000000001e-01', '-2.0000000000000000e+00')
    """
    if not math.isfinite(value):
        raise ModelTrainingError(f"coefficient {value} is not finite; fit with a larger l2")
    return f"{value:.16e}"


@dataclass(frozen=True)
class SoftmaxRegression:
    """A fitted model on the raw feature scale: logits = intercepts + coefficients @ coalesce(x, means)."""

    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    intercepts: np.ndarray
    coefficients: np.ndarray
    means: np.ndarray
    iterations: int

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(n, C) logits, added feature by feature in the order SQL adds them."""
        x = np.asarray(features, dtype=np.float64)
        x = np.where(np.isnan(x), self.means, x)
        out = np.tile(self.intercepts, (len(x), 1))
        for j in range(len(self.feature_names)):
            out += self.coefficients[:, j] * x[:, j : j + 1]
        return out

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, C) class probabilities, computed as `sql_expression` computes them."""
        logits = self.logits(features)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exps = np.array([[math.exp(v) for v in row] for row in shifted]).reshape(shifted.shape)
        return exps / np.cumsum(exps, axis=1)[:, -1:]

    def sql_expression(self, columns: Mapping[str, str] | None = None) -> str:
        """A DuckDB expression of STRUCT(<class> DOUBLE, ...) with P(class | x); `columns` maps
        feature names to SQL expressions (default: the feature names themselves)."""
        columns = dict(columns or {})
        logits = []
        for c in range(len(self.class_names)):
            terms = [sql_double(float(self.intercepts[c]))]
            for j, name in enumerate(self.feature_names):
                column = columns[name] if name in columns else quote_identifier(name, "duckdb")
                terms.append(f"{sql_double(float(self.coefficients[c, j]))} * coalesce(nullif(cast({column} as double), 'NaN'::double), {sql_double(float(self.means[j]))})")
            logits.append(" + ".join(terms))
        fields = ", ".join(f'{quote_identifier(name, "duckdb")} := e[{c + 1}] / list_sum(e)' for c, name in enumerate(self.class_names))
        exps = f"list_transform([[{', '.join(logits)}]], lambda l: list_transform(l, lambda v: exp(v - list_max(l))))[1]"
        return f"list_transform([{exps}], lambda e: struct_pack({fields}))[1]"

    def to_dict(self) -> dict:
        """JSON-able parameters (for a manifest or a golden file)."""
        return {"class_names": list(self.class_names), "feature_names": list(self.feature_names),
                "intercepts": self.intercepts.tolist(), "coefficients": self.coefficients.tolist(),
                "means": self.means.tolist(), "iterations": self.iterations}


def fit_softmax_regression(
    features: np.ndarray,
    classes: np.ndarray,
    class_names: Sequence[str],
    feature_names: Sequence[str],
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    max_iterations: int = 50,
    tolerance: float = 1e-9,
) -> SoftmaxRegression:
    """Fit by Newton's method (module docstring); `l2` > 0 makes the optimum unique."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(classes, dtype=np.int64)
    n, d = x.shape
    k = len(class_names)
    if len(feature_names) != d:
        raise ModelTrainingError(f"{d} feature columns but {len(feature_names)} feature names")
    if n == 0 or y.min() < 0 or y.max() >= k:
        raise ModelTrainingError(f"classes must be in 0..{k - 1} and rows non-empty; got {n} rows, classes {y.min() if n else '-'}..{y.max() if n else '-'}")
    if l2 <= 0:
        raise ModelTrainingError(f"l2 must be > 0 (it makes the softmax parameters identifiable), got {l2}")
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    means = np.nan_to_num(np.nanmean(x, axis=0)) if n else np.zeros(d)
    z = np.where(np.isnan(x), means, x) - means
    scales = z.std(axis=0)
    scales[scales == 0] = 1.0
    design = np.column_stack([np.ones(n), z / scales])
    target = np.zeros((n, k))
    target[np.arange(n), y] = 1.0
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    penalty = np.tile(penalty, k) + 1e-10

    def loss_and_probabilities(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logits = design @ theta.reshape(k, d + 1).T
        logits -= logits.max(axis=1, keepdims=True)
        log_normaliser = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log_p = logits - log_normaliser
        return float(-(weight * (target * log_p).sum(axis=1)).sum() + 0.5 * (penalty * theta * theta).sum()), np.exp(log_p)

    theta = np.zeros(k * (d + 1))
    loss, p = loss_and_probabilities(theta)
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        gradient = ((p - target) * weight[:, None]).T @ design
        gradient = gradient.ravel() + penalty * theta
        hessian = np.empty((k * (d + 1), k * (d + 1)))
        for a in range(k):
            for b in range(a, k):
                curvature = p[:, a] * ((a == b) - p[:, b]) * weight
                block = design.T @ (design * curvature[:, None])
                hessian[a * (d + 1):(a + 1) * (d + 1), b * (d + 1):(b + 1) * (d + 1)] = block
                hessian[b * (d + 1):(b + 1) * (d + 1), a * (d + 1):(a + 1) * (d + 1)] = block.T
        hessian[np.diag_indices_from(hessian)] += penalty
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while True:
            candidate = theta - size * step
            candidate_loss, candidate_p = loss_and_probabilities(candidate)
            if candidate_loss <= loss or size < 1e-8:
                break
            size /= 2
        theta, p = candidate, candidate_p
        improvement = loss - candidate_loss
        loss = candidate_loss
        if np.max(np.abs(size * step)) < tolerance or improvement < tolerance * max(1.0, abs(loss)) * 1e-3:
            break
    standardised = theta.reshape(k, d + 1)
    coefficients = standardised[:, 1:] / scales
    intercepts = standardised[:, 0] - coefficients @ means
    return SoftmaxRegression(tuple(class_names), tuple(feature_names), intercepts, coefficients, means, iteration)
