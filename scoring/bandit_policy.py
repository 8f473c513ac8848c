"""The alpha-greedy + softmax exploration policy (Adyen's) and its reproducible draw, in SQL and Python.

For one decision with eligible actions a_1..a_m in ascending name order and predicted success
probabilities s_1..s_m (from the oracle):

- m = 1: P(a_1) = 1.
- best b = the first action (in name order) with the highest s;
  P(b) = alpha;
  P(a) = (1 - alpha) * z_a / sum_{a' != b} z_a'  for a != b, with z_a = exp((s_a - s_b) / temperature).
  The probabilities sum to 1; alpha = 1 is greedy (the others get 0).

The draw: u = uniform(decision_id, seed) in [0, 1): the first 8 bytes of md5(decision_id || ':' ||
seed), read as a little-endian unsigned integer (DuckDB's `md5_number_upper`), shifted right 11 bits
and divided by 2^53 (exact in DOUBLE). The chosen action is the first a_i whose cumulative
probability p_1 + ... + p_i exceeds u * (p_1 + ... + p_m). The same id and seed always give the
same draw, so re-running a query makes the same decisions. md5 rather than DuckDB's `hash()`:
md5 is specified and the same in every DuckDB version and in Python's hashlib; `hash()` is an
internal hash that may change between releases and has no Python equivalent.

SQL (`policy_macros_sql`) and Python (`BanditPolicy`) compute in the same order with the same
`exp` (the C library's; NumPy's differs in the last bit) and sum lists left to right, so the
probabilities are equal to the bit and the chosen actions identical.

>>> policy = BanditPolicy(alpha=0.8, temperature=0.1, seed=7)
>>> [round(p, 6) for p in policy.probabilities([0.90, 0.95, 0.85])]
[0.124492, 0.8, 0.075508]
>>> u = decision_uniform("dec_1", 7)
>>> import duckdb
>>> duckdb.connect().execute("select " + uniform_sql("'dec_1'", 7)).fetchone()[0] == u
True
>>> round(u, 4), policy.decide("dec_1", ["3ds", "none", "retry"], [0.90, 0.95, 0.85])   # u < P(3ds): 3ds
(0.1024, ('3ds', 0.12449186624037092))
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Sequence

from scoring.errors import RoutingError
from scoring.softmax_regression import sql_double
from scoring.sql_identifiers import check_identifier
from udfs.identifiers import quote_identifier

__all__ = ["BanditPolicy", "decision_uniform", "uniform_sql", "policy_macros_sql"]

_TWO_TO_53 = 9007199254740992.0


def decision_uniform(decision_id: str, seed: int) -> float:
    """u in [0, 1) for a decision id and seed (module docstring); what `uniform_sql` computes."""
    digest = hashlib.md5(f"{decision_id}:{int(seed)}".encode()).digest()
    return (int.from_bytes(digest[:8], "little") >> 11) / _TWO_TO_53


def uniform_sql(decision_id_sql: str, seed: int) -> str:
    """The SQL expression of `decision_uniform` over a VARCHAR expression."""
    return f"((md5_number_upper(cast({decision_id_sql} as varchar) || ':{int(seed)}') >> 11)::double / {_TWO_TO_53!r})"


@dataclass(frozen=True)
class BanditPolicy:
    """alpha-greedy + softmax over the eligible actions, and the seeded draw (module docstring)."""

    alpha: float = 0.9
    temperature: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha <= 1.0):
            raise RoutingError(f"alpha (the probability of the best action) must be in (0, 1], got {self.alpha}")
        if not (self.temperature > 0.0 and math.isfinite(self.temperature)):
            raise RoutingError(f"temperature must be a positive number, got {self.temperature}")

    def probabilities(self, predicted: Sequence[float]) -> list[float]:
        """P(action) for predicted success probabilities given in the actions' name order."""
        scores = [float(value) for value in predicted]
        if not scores:
            raise RoutingError("a decision needs at least one eligible action")
        if any(math.isnan(value) for value in scores):
            raise RoutingError("the oracle predicted NaN for an eligible action; check the context features")
        if len(scores) == 1:
            return [1.0]
        top = max(scores)
        best = scores.index(top)
        z = [0.0 if i == best else math.exp((value - top) / self.temperature) for i, value in enumerate(scores)]
        total = 0.0
        for value in z:
            total += value
        return [self.alpha if i == best else (1 - self.alpha) * value / total for i, value in enumerate(z)]

    def uniform(self, decision_id: str) -> float:
        return decision_uniform(decision_id, self.seed)

    def draw(self, probabilities: Sequence[float], u: float) -> int:
        """Index of the first action whose cumulative probability exceeds u times their sum."""
        # Left-to-right sums in Python: the same additions as np.cumsum, without NumPy's per-call cost
        # (a decision has a handful of actions).
        cumulative = list(itertools.accumulate(float(p) for p in probabilities))
        threshold = u * cumulative[-1]
        return min(bisect.bisect_right(cumulative, threshold), len(cumulative) - 1)

    def decide(self, decision_id: str, actions: Sequence[str], predicted: Sequence[float]) -> tuple[str, float]:
        """(chosen action, its probability) for one decision; `actions` must be sorted by name."""
        if list(actions) != sorted(actions) or len(set(actions)) != len(actions):
            raise RoutingError(f"actions must be distinct and in ascending name order, got {list(actions)}")
        probabilities = self.probabilities(predicted)
        chosen = self.draw(probabilities, self.uniform(decision_id))
        return actions[chosen], probabilities[chosen]

    def describe(self) -> dict[str, float]:
        return {"alpha": self.alpha, "temperature": self.temperature, "seed": self.seed}


def policy_macros_sql(name: str, policy: BanditPolicy) -> str:
    """Two macros: `<name>_probabilities(predicted DOUBLE[])` -> DOUBLE[] (in the list's order, which
    must be the actions' name order) and `<name>_draw(probabilities DOUBLE[], u)` -> 1-based index."""
    check_identifier(name, what="bandit (macro prefix)")
    probabilities_name, draw_name = (quote_identifier(f"{name}_{suffix}", "duckdb") for suffix in ("probabilities", "draw"))
    alpha, temperature = sql_double(policy.alpha), sql_double(policy.temperature)
    best = "list_position(q, list_max(q))"
    z = f"list_transform(q, lambda s, i: case when i = {best} then 0.0 else exp((s - list_max(q)) / {temperature}) end)"
    probabilities = (f"list_transform([{z}], lambda z: list_transform(q, lambda s, i: case when len(q) = 1 then 1.0 "
                     f"when i = {best} then {alpha} else (1 - {alpha}) * z[i] / list_sum(z) end))[1]")
    return f"""create or replace macro {probabilities_name}(predicted) as (
    list_transform([predicted], lambda q: {probabilities})[1]);
create or replace macro {draw_name}(probabilities, u) as (
    list_transform([probabilities], lambda p: least(len(p), 1 + len(list_filter(
        list_transform(p, lambda x, i: list_sum(p[1:i])), lambda c: c <= u * list_sum(p)))))[1]);"""
