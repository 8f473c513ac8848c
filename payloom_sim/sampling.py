"""Walker's alias method: O(1) draws from a fixed discrete distribution.

>>> probability, alias = alias_table(np.array([1.0, 3.0]))
>>> probability.round(2).tolist(), alias.tolist()
([0.5, 1.0], [1, 1])
>>> draws = AliasSampler(np.array([1.0, 3.0])).draw(100_000, np.random.default_rng(0))
>>> round(float(draws.mean()), 2)
0.75
>>> sampler = GuideTableSampler(np.array([1.0, 0.0, 3.0]))
>>> np.bincount(sampler.draw(100_000, np.random.default_rng(0)), minlength=3).round(-3).tolist()
[25000, 0, 75000]
"""

from __future__ import annotations

import numpy as np

__all__ = ["alias_table", "AliasSampler", "GuideTableSampler"]


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker / Vose alias table: bucket k keeps itself with probability[k], else goes to alias[k]."""
    n = len(weights)
    scaled = np.asarray(weights, dtype=np.float64) * n / np.sum(weights)
    probability = np.ones(n)
    alias = np.arange(n)
    small = [k for k in range(n) if scaled[k] < 1.0]
    large = [k for k in range(n) if scaled[k] >= 1.0]
    while small and large:
        low, high = small.pop(), large.pop()
        probability[low], alias[low] = scaled[low], high
        scaled[high] -= 1.0 - scaled[low]
        (small if scaled[high] < 1.0 else large).append(high)
    return probability, alias


class AliasSampler:
    """Draws indices 0..len(weights)-1 with probability proportional to `weights`."""

    def __init__(self, weights: np.ndarray) -> None:
        self.probability, self.alias = alias_table(weights)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        bucket = (rng.random(n) * len(self.probability)).astype(np.int64)
        return np.where(rng.random(n) < self.probability[bucket], bucket, self.alias[bucket])


class GuideTableSampler:
    """Inverse-CDF draws over a large, fixed weight vector in O(1) expected time per draw.

    A guide table of `buckets_per_item` x len(weights) equal-probability buckets points each
    bucket at its first candidate; a few vectorised forward steps finish the search.
    """

    def __init__(self, weights: np.ndarray, buckets_per_item: int = 4) -> None:
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        self.cdf = cumulative / cumulative[-1]
        self.cdf[-1] = 1.0
        self.buckets = max(len(self.cdf) * buckets_per_item, 1)
        self.guide = np.searchsorted(self.cdf, np.arange(self.buckets) / self.buckets, side="right")

    def draw(self, n: int, rng: np.random.Generator, *, ordered: bool = False) -> np.ndarray:
        """`n` indices, i with probability weights[i] / sum(weights); `ordered` returns them
        ascending (sorted uniforms from exponential spacings: sequential, cache-friendly lookups)."""
        if ordered:
            spacings = np.cumsum(rng.standard_exponential(n + 1))
            u = spacings[:-1] / spacings[-1]
        else:
            u = rng.random(n)
        index = self.guide[(u * self.buckets).astype(np.int64)]
        todo = np.flatnonzero(self.cdf[index] <= u)
        while len(todo):
            index[todo] += 1
            todo = todo[self.cdf[index[todo]] <= u[todo]]
        return index
