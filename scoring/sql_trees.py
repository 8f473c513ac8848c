"""One XGBoost tree as one SQL expression, built with sqlglot, exact against XGBoost.

XGBoost compares `float32(x) < threshold` and sends a missing value (NaN) to the node's default
child. The SQL keeps the feature in DOUBLE and compares it with the DOUBLE bound `d` for which
`x < d` holds exactly when `float32(x) < threshold` (`float32_split_bound`): no CAST of the feature
(a DOUBLE beyond the float32 range, which XGBoost turns into infinity, would make CAST fail) and
one comparison per node. Missing values need no extra test:

- default right: `CASE WHEN x < d THEN left ELSE right END`; NULL is not true, and both DuckDB
  and Spark order NaN above every number, so `NaN < d` is false: both go right.
- default left: `CASE WHEN -x <= -d THEN right ELSE left END` (the same test, negated on both
  sides); NULL is not true and `-NaN <= -d` is false: both go left.

Leaves are FLOAT literals; `scoring.sql_export` sums them in FLOAT, as XGBoost does.

>>> nodes = [{"node_id": 0, "split_feature_id": 1, "threshold": 0.5, "default_left": True,
...           "left_child": 1, "right_child": 2},
...          {"node_id": 1, "leaf_value": -0.25}, {"node_id": 2, "leaf_value": 0.75}]
>>> tree_expression(nodes, [exp.column("a"), exp.column("b")]).sql("duckdb")
'CASE WHEN -b <= -0.4999999850988388e0 THEN CAST(0.75e0 AS REAL) ELSE CAST(-0.25e0 AS REAL) END'
"""

from __future__ import annotations

import math
import struct
from typing import Sequence

from sqlglot import exp

from scoring.errors import SqlExportError

__all__ = ["float32_split_bound", "tree_expression", "double_literal", "float_literal"]


def float32_split_bound(threshold: float) -> float:
    """The DOUBLE `d` with `x < d` exactly when `float32(x) < threshold`, for every double `x`.

    `float32(x)` rounds to nearest, ties to even; so it is below `threshold` exactly when `x` is
    below the midpoint between `threshold` and the float32 just below it, or on that midpoint
    when the float32 below is the even one.

    >>> d = float32_split_bound(0.1)   # XGBoost's threshold 0.1 is the float32 0.100000001490116...
    >>> import numpy as np
    >>> x_below, x_at = np.nextafter(d, -np.inf), d
    >>> bool(np.float32(x_below) < np.float32(0.1)), bool(np.float32(x_at) < np.float32(0.1))
    (True, False)
    >>> float32_split_bound(float("nan"))
    Traceback (most recent call last):
    ...
    scoring.errors.SqlExportError: split threshold nan is not a finite number; a tree split on it cannot be written as SQL
    """
    if not math.isfinite(threshold):
        raise SqlExportError(f"split threshold {threshold} is not a finite number; a tree split on it cannot be written as SQL")
    as_float32 = struct.unpack("<f", struct.pack("<f", threshold))[0]
    bits = struct.unpack("<i", struct.pack("<f", as_float32))[0]
    if as_float32 == 0.0:
        below = -struct.unpack("<f", struct.pack("<i", 1))[0]  # -smallest subnormal
        below_bits = struct.unpack("<i", struct.pack("<f", below))[0]
    else:
        below_bits = bits - 1 if as_float32 > 0 else bits + 1
        if below_bits & 0x7F800000 == 0x7F800000:  # below -FLT_MAX is -infinity: its "mantissa" is even
            below = -(2.0 ** 128)
        else:
            below = struct.unpack("<f", struct.pack("<i", below_bits))[0]
    midpoint = (below + as_float32) / 2  # exact: both are float32, the midpoint fits a double
    below_is_even = below_bits & 1 == 0
    return math.nextafter(midpoint, math.inf) if below_is_even else midpoint


def double_literal(value: float) -> exp.Expression:
    """A DOUBLE literal both DuckDB and Spark read back exactly (shortest repr, with an exponent:
    without one both would read a DECIMAL).

    >>> double_literal(0.5).sql(), double_literal(-3e-05).sql()
    ('0.5e0', '-3e-05')
    """
    text = repr(float(value))
    if not math.isfinite(value):
        raise SqlExportError(f"{value} has no SQL literal; the model holds a non-finite number")
    if "e" not in text:
        text += "e0"
    if text.startswith("-"):  # built by hand: sqlglot's Literal.number would print -3e-05 as -0.00003
        return exp.Neg(this=exp.Literal(this=text[1:], is_string=False))
    return exp.Literal(this=text, is_string=False)


def float_literal(value: float) -> exp.Expression:
    """`CAST(<value> AS FLOAT)`: exact, since a float32 value is also a double.

    >>> float_literal(0.25).sql("spark")
    'CAST(0.25e0 AS FLOAT)'
    """
    return exp.cast(double_literal(value), exp.DataType.Type.FLOAT)


def tree_expression(nodes: Sequence[dict], columns: Sequence[exp.Expression]) -> exp.Expression:
    """The CASE expression of one tree (Treelite JSON nodes), a FLOAT; `columns` are the features."""
    by_id = {node["node_id"]: node for node in nodes}
    return _node_expression(by_id, 0, columns)


def _node_expression(by_id: dict[int, dict], node_id: int, columns: Sequence[exp.Expression]) -> exp.Expression:
    node = by_id[node_id]
    if "left_child" not in node:
        leaf = node["leaf_value"]
        return float_literal(float(leaf[0] if isinstance(leaf, list) else leaf))
    if node.get("node_type", "numerical_test_node") != "numerical_test_node" or node.get("comparison_op", "<") != "<":
        raise SqlExportError(
            f"split {node.get('node_type')} {node.get('comparison_op')} cannot be exported: only XGBoost's numerical "
            "`value < threshold` splits are supported (train without categorical features)"
        )
    feature = columns[node["split_feature_id"]]
    bound = float32_split_bound(float(node["threshold"]))
    left = _node_expression(by_id, node["left_child"], columns)
    right = _node_expression(by_id, node["right_child"], columns)
    if node["default_left"]:
        goes_right = exp.LTE(this=exp.Neg(this=feature.copy()), expression=double_literal(-bound))
        return exp.Case(ifs=[exp.If(this=goes_right, true=right)], default=left)
    goes_left = exp.LT(this=feature.copy(), expression=double_literal(bound))
    return exp.Case(ifs=[exp.If(this=goes_left, true=left)], default=right)
