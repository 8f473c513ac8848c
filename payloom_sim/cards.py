"""The card population and its evolving state (available balance, theft, expiry).

Memory is bounded by the population, which is capped (MAX_CARDS), never by the attempt count.

>>> from payloom_sim.world import build_world
>>> cards = CardPopulation.draw(build_world(seed=1, days=30), n_cards=100, start=np.datetime64("2025-01-01"), seed=1)
>>> cards.size, bool((cards.level > 0).all())
(100, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from payloom_sim.world import World

__all__ = ["CardPopulation", "MAX_CARDS", "cards_for"]

MAX_CARDS = 1_000_000
_TYPE_LIMIT_USD = np.array([4500.0, 2500.0, 500.0])  # credit limit / typical debit balance / prepaid load


def cards_for(attempts: int) -> int:
    """Population size for a run: about 40 attempts per card, between 200 and MAX_CARDS."""
    return int(min(max(attempts // 40, 200), MAX_CARDS))


@dataclass
class CardPopulation:
    """Parallel arrays, one entry per card. `level` is the mutable state: available / limit."""

    bin_index: np.ndarray
    customer_index: np.ndarray
    limit_usd: np.ndarray
    level: np.ndarray
    refill_level: np.ndarray
    payday: np.ndarray          # day of month the balance is refilled (1 or 15)
    expires_on: np.ndarray      # datetime64[D], last day of the expiry month
    stolen_day: np.ndarray      # day index from which the card is in a fraudster's hands (large: never)
    activity_cdf: np.ndarray    # cumulative usage weights, to draw cards by how often they are used
    n_customers: int

    @property
    def size(self) -> int:
        return len(self.bin_index)

    @classmethod
    def draw(cls, world: World, *, n_cards: int, start: np.datetime64, seed: int) -> "CardPopulation":
        rng = np.random.default_rng([seed, 2])
        bin_index = rng.integers(0, len(world.bin_codes), n_cards)
        card_type = world.bin_card_type[bin_index]
        limit = _TYPE_LIMIT_USD[card_type] * rng.lognormal(0.0, 0.6, n_cards)
        n_customers = max(1, int(n_cards * 0.8))
        customer_index = np.concatenate([np.arange(min(n_customers, n_cards)), rng.integers(0, n_customers, max(n_cards - n_customers, 0))])
        months_ahead = np.where(rng.random(n_cards) < 0.05, rng.integers(0, max(world.days // 30, 1) + 1, n_cards), rng.integers(6, 48, n_cards))
        month = start.astype("datetime64[M]") + months_ahead.astype("timedelta64[M]")
        expires_on = (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
        stolen_day = np.where(rng.random(n_cards) < 0.015, rng.integers(0, world.days, n_cards), 10**6)
        activity = rng.lognormal(0.0, 0.9, n_cards)
        refill = rng.uniform(0.6, 1.1, n_cards)
        return cls(
            bin_index=bin_index,
            customer_index=customer_index[rng.permutation(n_cards)],
            limit_usd=limit,
            level=refill * rng.uniform(0.3, 1.0, n_cards),
            refill_level=refill,
            payday=np.where(rng.random(n_cards) < 0.6, 1, 15),
            expires_on=expires_on,
            stolen_day=stolen_day,
            activity_cdf=np.cumsum(activity) / activity.sum(),
            n_customers=n_customers,
        )

    def start_day(self, day_of_month: int, rng: np.random.Generator) -> None:
        """Pay-day refills, and a little drift (other spending) for everyone else."""
        paid = self.payday == day_of_month
        self.level[paid] = self.refill_level[paid]
        self.level[~paid] -= rng.uniform(0.0, 0.01, int((~paid).sum()))
        np.maximum(self.level, 0.01, out=self.level)

    def spend(self, card: np.ndarray, amount_usd: np.ndarray) -> None:
        """Approved spend lowers the available balance (applied at the end of each simulated day)."""
        np.subtract.at(self.level, card, amount_usd / self.limit_usd[card])
        np.maximum(self.level, 0.01, out=self.level)

    def draw_cards(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(np.searchsorted(self.activity_cdf, rng.random(n)), self.size - 1)
