"""The card population and its evolving state: available balance, pay days, expiry, theft.

Memory is bounded by the population (capped at MAX_CARDS), never by the attempt count.
Balances are in USD: refilled to the card's monthly budget on its pay days (1st, 15th, last
business day, or 1st and 15th), drained by approved spend and by a little unobserved
spending every day.

>>> from payloom_sim.customers import CustomerPopulation
>>> from payloom_sim.world import build_world
>>> start = np.datetime64("2025-01-01")
>>> people = CustomerPopulation.draw(80, start=start, seed=1)
>>> cards = CardPopulation.draw(build_world(seed=1, days=30), people, n_cards=100, start=start, attempts_per_day=200.0, seed=1)
>>> cards.size, bool((cards.available_usd > 0).all())
(100, True)
>>> bool((np.bincount(cards.customer, minlength=80) >= 1).all())  # every customer has a card
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from payloom_sim.arrowcols import IdColumn
from payloom_sim.calendar import DAY_US, is_last_business_day
from payloom_sim.constants import CARD_TYPES, COUNTRIES, MCC_MEAN_USD, MCC_WEIGHT
from payloom_sim.customers import CustomerPopulation
from payloom_sim.sampling import GuideTableSampler
from payloom_sim.world import World

__all__ = ["CardPopulation", "MAX_CARDS", "cards_for", "STOLEN_SHARE", "FRAUD_WINDOW_US", "CARD_TYPE_AMOUNT", "SEGMENT_AMOUNT"]

MAX_CARDS = 1_000_000
#: Share of cards that fall into a fraudster's hands at some time in the period.
STOLEN_SHARE = 0.015
#: How long a fraudster keeps using a stolen card.
FRAUD_WINDOW_US = 3 * DAY_US
#: Amount factor by card type (credit, debit, prepaid) and by customer segment.
CARD_TYPE_AMOUNT = np.array([1.15, 0.85, 0.45])
SEGMENT_AMOUNT = np.array([1.0, 2.2, 4.0])
_MEAN_AMOUNT_USD = float((MCC_MEAN_USD * MCC_WEIGHT).sum() / MCC_WEIGHT.sum()) * 1.1
_PAY_SCHEDULES = ("first", "fifteenth", "last_business_day", "first_and_fifteenth")


def cards_for(attempts: int) -> int:
    """Population size for a run: about 40 attempts per card, between 250 and MAX_CARDS."""
    return int(min(max(attempts // 40, 250), MAX_CARDS))


@dataclass
class CardPopulation:
    """Parallel arrays, one entry per card; `available_usd` is the mutable balance."""

    customer: np.ndarray         # owner, index into the customer population
    bin_index: np.ndarray
    activity: np.ndarray         # relative usage rate
    budget_usd: np.ndarray       # balance after a pay-day refill
    available_usd: np.ndarray    # evolving available balance / credit
    pay_schedule: np.ndarray     # index into _PAY_SCHEDULES
    expires_on: np.ndarray       # datetime64[D], last day of the expiry month
    stolen_at_us: np.ndarray     # when a fraudster gets it (int64 max: never)
    daily_drain: np.ndarray      # unobserved spending per day, as a share of the budget

    @property
    def size(self) -> int:
        return len(self.customer)

    @cached_property
    def ids(self) -> IdColumn:
        """card_id strings, rendered once."""
        return IdColumn("card_", self.size, 7)

    @classmethod
    def draw(cls, world: World, people: CustomerPopulation, *, n_cards: int, start: np.datetime64, attempts_per_day: float, seed: int) -> "CardPopulation":
        rng = np.random.default_rng([seed, 3])
        extra = max(n_cards - people.size, 0)
        owner_weight = np.where(people.segment > 0, 3.0, 1.0)
        owners = np.concatenate([np.arange(min(people.size, n_cards)), rng.choice(people.size, extra, p=owner_weight / owner_weight.sum())])
        customer = owners[rng.permutation(n_cards)]
        segment = people.segment[customer]
        card_type = np.where(segment == 0, rng.choice(3, n_cards, p=[0.45, 0.47, 0.08]), rng.choice(3, n_cards, p=[0.85, 0.15, 0.0]))
        bin_index = cls._pick_bins(world, people.country[customer], card_type, rng)
        activity = rng.lognormal(0.0, 1.0, n_cards) * np.where(segment > 0, 2.5, 1.0)
        income_z = np.log(people.income_usd[customer] / np.median(people.income_usd))
        daily_spend = activity / activity.sum() * attempts_per_day * _MEAN_AMOUNT_USD * CARD_TYPE_AMOUNT[card_type] * SEGMENT_AMOUNT[segment]
        budget = np.maximum(30.0 * daily_spend * rng.lognormal(0.35, 0.45, n_cards) * np.exp(0.15 * np.clip(income_z, -2, 2)), 40.0)
        months = np.where(rng.random(n_cards) < 0.08, rng.integers(0, 5, n_cards), rng.integers(5, 48, n_cards))
        month = np.datetime64(start, "M") + months.astype("timedelta64[M]")
        expires_on = (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
        period_us = world.days * DAY_US
        stolen_at = np.where(rng.random(n_cards) < STOLEN_SHARE, rng.integers(0, period_us, n_cards), np.iinfo(np.int64).max)
        return cls(
            customer=customer.astype(np.int32), bin_index=bin_index.astype(np.int32), activity=activity,
            budget_usd=budget, available_usd=budget * rng.uniform(0.3, 1.0, n_cards),
            pay_schedule=rng.choice(len(_PAY_SCHEDULES), n_cards, p=[0.35, 0.2, 0.3, 0.15]).astype(np.int8),
            expires_on=expires_on, stolen_at_us=stolen_at.astype(np.int64),
            daily_drain=rng.uniform(0.0, 0.012, n_cards),
        )

    @staticmethod
    def _pick_bins(world: World, country: np.ndarray, card_type: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A BIN of an issuer in the owner's country with the wanted card type."""
        slot = world.issuer_country[world.bin_issuer] * len(CARD_TYPES) + world.bin_card_type
        order = np.argsort(slot, kind="stable")
        counts = np.bincount(slot, minlength=len(COUNTRIES) * len(CARD_TYPES))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        wanted = country * len(CARD_TYPES) + card_type
        return order[first[wanted] + (rng.random(len(wanted)) * counts[wanted]).astype(np.int64)]

    def start_day(self, date: np.datetime64) -> None:
        """Pay-day refills to the budget; unobserved spending drains everyone a little."""
        day_of_month = int((date - date.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)) + 1
        paid_schedules = [s for s, name in enumerate(_PAY_SCHEDULES) if (
            (name in ("first", "first_and_fifteenth") and day_of_month == 1)
            or (name in ("fifteenth", "first_and_fifteenth") and day_of_month == 15)
            or (name == "last_business_day" and is_last_business_day(date)))]
        self.available_usd -= self.budget_usd * self.daily_drain
        if paid_schedules:
            paid = np.isin(self.pay_schedule, paid_schedules)
            self.available_usd[paid] = np.maximum(self.available_usd[paid], self.budget_usd[paid])
        np.maximum(self.available_usd, 0.0, out=self.available_usd)

    @cached_property
    def _activity_sampler(self) -> GuideTableSampler:
        return GuideTableSampler(self.activity)

    @cached_property
    def expires_day(self) -> np.ndarray:
        """expires_on as int32 days since 1970-01-01 (cheap comparisons)."""
        return self.expires_on.astype(np.int64).astype(np.int32)

    def usage_factor(self, card: np.ndarray, date: np.datetime64, day_start_us: int) -> np.ndarray:
        """How much of its usual activity a card keeps: expired cards are used far less (mostly
        stored credentials), stolen ones hardly (the owner has noticed)."""
        factor = np.where(self.expires_day[card] < int(np.datetime64(date, "D").astype(np.int64)), 0.35, 1.0)
        factor[self.stolen_at_us[card] < day_start_us] *= 0.1
        return factor

    def pick(self, n: int, date: np.datetime64, day_start_us: int, rng: np.random.Generator) -> np.ndarray:
        """`n` cards drawn by activity x usage_factor (rejection sampling from the activity distribution)."""
        card = self._activity_sampler.draw(n, rng).astype(np.int32)
        redraw = np.flatnonzero(rng.random(n) >= self.usage_factor(card, date, day_start_us))
        while len(redraw):
            proposal = self._activity_sampler.draw(len(redraw), rng).astype(np.int32)
            card[redraw] = proposal
            redraw = redraw[rng.random(len(redraw)) >= self.usage_factor(proposal, date, day_start_us)]
        return card

    def spend(self, card: np.ndarray, amount_usd: np.ndarray) -> None:
        """Approved spend lowers the available balance."""
        self.available_usd -= np.bincount(card, weights=amount_usd, minlength=self.size)
        np.maximum(self.available_usd, 0.0, out=self.available_usd)
