"""Time in the simulation: daily and hourly shapes, pay days, and the chunk plan.

Times are integer microseconds since the start (midnight UTC of the first day). The period is
cut into chunks that never cross midnight (pay-day refills happen between chunks) and hold at
most about `chunk_attempts` attempts; a busy day is cut at quantiles of its hourly shape.

>>> plan = plan_chunks(np.datetime64("2025-01-01"), days=3, attempts=30_000, chunk_attempts=4_000)
>>> [chunk.day for chunk in plan]
[0, 0, 0, 1, 1, 1, 2, 2, 2]
>>> round(sum(chunk.share for chunk in plan), 9), plan[0].start_us, plan[2].end_us == DAY_US == plan[3].start_us
(1.0, 0, True)
>>> times = draw_times(HOUR_WEIGHTS, 0, DAY_US, 1_000, np.random.default_rng(0))
>>> bool((times >= 0).all() and (times < DAY_US).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from payloom_sim.sampling import AliasSampler

__all__ = [
    "DAY_US", "HOUR_US", "HOUR_WEIGHTS", "FRAUD_HOUR_WEIGHTS", "OFFICE_HOUR_WEIGHTS", "Chunk",
    "plan_chunks", "draw_times", "day_weights", "is_last_business_day",
]

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
#: Card-holder activity by hour of day (UTC): low at night, a lunch bump, an evening peak.
HOUR_WEIGHTS = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 3.2, 4.0, 4.4, 4.8, 5.4, 5.0, 4.5, 4.4, 4.6, 5.0, 5.8, 6.4, 6.0, 4.8, 3.2, 1.9])
#: Fraudsters favour the small hours.
FRAUD_HOUR_WEIGHTS = np.array([4.0, 4.5, 5.0, 5.0, 4.5, 3.5] + [1.5] * 16 + [3.0, 3.5])
#: Marketing contacts and branch / support interactions: office hours.
OFFICE_HOUR_WEIGHTS = np.array([0.05] * 7 + [0.5, 1.5, 2.0, 2.0, 1.8, 1.5, 1.8, 2.0, 1.8, 1.5, 1.2, 0.9, 0.7, 0.5, 0.3, 0.1, 0.05])
#: Volume by day of week, Monday first: Friday and Saturday are busiest.
DOW_WEIGHTS = np.array([0.95, 0.96, 0.98, 1.0, 1.12, 1.08, 0.91])


@dataclass(frozen=True)
class Chunk:
    """A window [start_us, end_us) inside day `day`, holding `share` of all first attempts."""

    index: int
    day: int
    start_us: int
    end_us: int
    share: float


def _cdf(weights: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()


def _time_of_day_at(weights: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Inverse of the piecewise-uniform time-of-day distribution (microseconds)."""
    cdf = _cdf(weights)
    hour = np.clip(np.searchsorted(cdf, quantiles, side="right") - 1, 0, 23)
    fraction = (quantiles - cdf[hour]) / (cdf[hour + 1] - cdf[hour])
    return np.minimum(((hour + fraction) * HOUR_US).astype(np.int64), DAY_US - 1)


def mass_between(weights: np.ndarray, start_tod_us: int, end_tod_us: int) -> float:
    """Share of a day's `weights` mass between two times of day (microseconds)."""
    cdf = _cdf(weights)

    def at(t: int) -> float:
        hour = min(t // HOUR_US, 23)
        return float(cdf[hour] + (cdf[hour + 1] - cdf[hour]) * (t - hour * HOUR_US) / HOUR_US)

    return at(end_tod_us) - at(start_tod_us)


def draw_times(weights: np.ndarray, start_tod_us: int, end_tod_us: int, n: int, rng: np.random.Generator, *, ordered: bool = False) -> np.ndarray:
    """`n` times of day in [start, end) from the hourly `weights` (microseconds); `ordered`
    returns them ascending (sorted uniforms from exponential spacings, no sort needed)."""
    if not ordered and start_tod_us == 0 and end_tod_us == DAY_US:
        hour = _hour_sampler(tuple(weights)).draw(n, rng)
        return hour * HOUR_US + (rng.random(n) * HOUR_US).astype(np.int64)
    low, high = mass_between(weights, 0, start_tod_us), mass_between(weights, 0, end_tod_us)
    if ordered:
        spacings = np.cumsum(rng.standard_exponential(n + 1))
        u = spacings[:-1] / spacings[-1]
    else:
        u = rng.random(n)
    times = _time_of_day_at(weights, low + (high - low) * u)
    return np.clip(times, start_tod_us, end_tod_us - 1)


@lru_cache(maxsize=16)
def _hour_sampler(weights: tuple[float, ...]) -> AliasSampler:
    return AliasSampler(np.array(weights))


def day_weights(start: np.datetime64, days: int) -> np.ndarray:
    """Relative volume of each day: day of week, and a bump on the 1st-2nd and 15th-16th (pay days)."""
    dates = start + np.arange(days).astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    day_of_month = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    payday_bump = np.where(np.isin(day_of_month, (1, 2, 15, 16)), 1.06, 1.0)
    return DOW_WEIGHTS[weekday] * payday_bump


def is_last_business_day(date: np.datetime64) -> bool:
    """The last Monday-Friday of its month."""
    day = np.datetime64(date, "D")
    month_end = (day.astype("datetime64[M]") + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    while (month_end.astype(np.int64) - 4) % 7 >= 5:
        month_end -= np.timedelta64(1, "D")
    return bool(day == month_end)


def plan_chunks(start: np.datetime64, *, days: int, attempts: int, chunk_attempts: int) -> list[Chunk]:
    """Cut the period into time-ordered chunks of at most ~chunk_attempts expected attempts."""
    weights = day_weights(start, days)
    shares = weights / weights.sum()
    chunks: list[Chunk] = []
    for day, share in enumerate(shares):
        parts = max(1, int(np.ceil(share * attempts / chunk_attempts)))
        bounds = np.concatenate([[0], _time_of_day_at(HOUR_WEIGHTS, np.arange(1, parts) / parts), [DAY_US]]) if parts > 1 else np.array([0, DAY_US])
        for part in range(parts):
            offset = day * DAY_US
            chunks.append(Chunk(len(chunks), day, offset + int(bounds[part]), offset + int(bounds[part + 1]), float(share / parts)))
    return chunks
