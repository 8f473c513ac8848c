"""Authorization attempts of one chunk: who pays whom, the logged action, the issuer's answer.

Vectorised over the attempts of a chunk (no Python loop over attempts). Approximation: within
a round of a chunk, an attempt sees the card's balance at the chunk's start minus the approved
spend of the same card's earlier attempts in that round, where "approved" is judged against
the chunk-start balance (a two-pass fix-up of the insufficient-funds check, the only one that
depends on the balance); later rounds (same-chunk retries) see every earlier round's spend.

>>> from payloom_sim.calendar import plan_chunks
>>> from payloom_sim.cards import CardPopulation
>>> from payloom_sim.customers import CustomerPopulation
>>> from payloom_sim.world import build_world
>>> start = np.datetime64("2025-01-01")
>>> world = build_world(seed=1, days=2)
>>> people = CustomerPopulation.draw(400, start=start, seed=1)
>>> cards = CardPopulation.draw(world, people, n_cards=500, start=start, attempts_per_day=1_000.0, seed=1)
>>> generator = AttemptGenerator(world, cards, people, start)
>>> chunk = plan_chunks(start, days=2, attempts=2_000, chunk_attempts=5_000)[0]
>>> rng = np.random.default_rng(0)
>>> rows = generator.first_attempts(chunk, 300, rng)
>>> result = generator.evaluate(rows, chunk, rng)
>>> len(result["gateway"]), bool(((result["p_approve"] > 0) & (result["p_approve"] < 1)).all())
(300, True)
"""

from __future__ import annotations

import numpy as np

from payloom_sim.approval import insufficient_funds_stage, passed_checks, stage_list
from payloom_sim.calendar import DAY_US, FRAUD_HOUR_WEIGHTS, HOUR_US, HOUR_WEIGHTS, draw_times, mass_between
from payloom_sim.calendar import Chunk
from payloom_sim.cards import CARD_TYPE_AMOUNT, FRAUD_WINDOW_US, SEGMENT_AMOUNT, CardPopulation
from payloom_sim.constants import DECLINE_CODES, MCC_CNP_SHARE, MCC_MEAN_USD, MCC_TYPE_SHARES, RISKY_MCCS, SUBSCRIPTION_MCCS
from payloom_sim.context import build_context
from payloom_sim.customers import CustomerPopulation
from payloom_sim.merchants import MerchantPool
from payloom_sim.policy import draw_actions
from payloom_sim.world import World

__all__ = ["AttemptGenerator", "PAYMENT_FIELDS", "take", "concat", "APPROVED", "RETRY_PROBABILITY", "MAX_ATTEMPTS_PER_PAYMENT"]

#: Fields of an attempt before the issuer answers (first attempts and scheduled retries).
PAYMENT_FIELDS = ("time_us", "card", "merchant", "amount_usd", "transaction_type", "is_card_not_present", "is_fraud", "payment", "attempt_number")
#: Outcome code of an approval (decline codes are their positions in DECLINE_CODES).
APPROVED = len(DECLINE_CODES)
#: P(retry | soft decline), by outcome code (hard_decline and authentication_required are not retried).
RETRY_PROBABILITY = np.array([0.0, 0.6, 0.35, 0.0, 0.3, 0.0])
#: Median delay before a retry, by outcome code (seconds): technical fast, insufficient funds hours later.
RETRY_MEDIAN_SECONDS = np.array([1.0, 180.0, 5 * 3600.0, 1.0, 1200.0, 1.0])
MAX_ATTEMPTS_PER_PAYMENT = 3
#: Stolen cards are used this many times a day by the fraudster, within FRAUD_WINDOW_US.
FRAUD_ATTEMPTS_PER_DAY = 4.0
_MCC_TYPE_CUMULATIVE = np.cumsum(MCC_TYPE_SHARES, axis=1)


def take(columns: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """Rows `index` of a dict of equal-length arrays."""
    return {name: values[index] for name, values in columns.items()}


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate dicts of arrays with the same keys."""
    parts = [part for part in parts if len(next(iter(part.values())))] or parts[:1]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


class AttemptGenerator:
    """Draws first attempts and evaluates attempts against the truth; holds no per-attempt state."""

    def __init__(self, world: World, cards: CardPopulation, people: CustomerPopulation, start: np.datetime64) -> None:
        self.world, self.cards, self.people, self.start = world, cards, people, np.datetime64(start, "D")
        self.domestic = MerchantPool(world, mccs=None, by_country=True)
        self.anywhere = MerchantPool(world, mccs=None, by_country=False)
        self.risky = MerchantPool(world, mccs=RISKY_MCCS, by_country=False)
        self.subscriptions = MerchantPool(world, mccs=SUBSCRIPTION_MCCS, by_country=True)
        # Per-card attributes as small integers (cheap, cache-friendly gathers).
        self.card_bin = cards.bin_index.astype(np.int16)
        self.card_issuer = world.bin_issuer[cards.bin_index].astype(np.int16)
        self.card_network = world.bin_network[cards.bin_index].astype(np.int8)
        self.card_type = world.bin_card_type[cards.bin_index].astype(np.int8)
        self.card_country = world.issuer_country[self.card_issuer].astype(np.int8)
        self.card_segment = people.segment[cards.customer].astype(np.int8)
        self.card_expires_day = cards.expires_day
        self.merchant_mcc = world.merchant_mcc.astype(np.int8)
        self.merchant_country = world.merchant_country.astype(np.int8)

    def _date(self, chunk: Chunk) -> np.datetime64:
        return self.start + np.timedelta64(chunk.day, "D")

    def first_attempts(self, chunk: Chunk, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`n` new payments in the chunk: the owners' own, then fraudsters' on stolen cards (each in time order)."""
        day_us, cards = chunk.day * DAY_US, self.cards
        active = np.flatnonzero((cards.stolen_at_us <= chunk.start_us) & (chunk.start_us < cards.stolen_at_us + FRAUD_WINDOW_US))
        fraud_mass = mass_between(FRAUD_HOUR_WEIGHTS, chunk.start_us - day_us, chunk.end_us - day_us)
        n_fraud = min(int(rng.poisson(len(active) * FRAUD_ATTEMPTS_PER_DAY * fraud_mass)), n // 2) if len(active) else 0
        n_own = n - n_fraud
        # The owners' payments, in time order (times are drawn sorted, everything else independently).
        card = cards.pick(n_own, self._date(chunk), day_us, rng)
        segment = self.card_segment[card]
        country = self.card_country[card]
        merchant = self.domestic.draw(country, rng)
        cross = np.flatnonzero(rng.random(n_own) < np.where(segment > 0, 0.2, 0.08))
        merchant[cross] = self.anywhere.draw(None, rng, len(cross))
        today = int(self._date(chunk).astype(np.int64))
        stored = np.flatnonzero((self.card_expires_day[card] < today) & (rng.random(n_own) < 0.75))
        merchant[stored] = self.subscriptions.draw(country[stored], rng)
        mcc = self.merchant_mcc[merchant]
        u = rng.random(n_own)
        transaction_type = (u >= _MCC_TYPE_CUMULATIVE[mcc, 0]).astype(np.int8) + (u >= _MCC_TYPE_CUMULATIVE[mcc, 1])
        cnp = (transaction_type > 0) | (rng.random(n_own) < MCC_CNP_SHARE[mcc])
        sigma = np.where(transaction_type == 0, 0.9, 0.25)
        mean = MCC_MEAN_USD[mcc] * CARD_TYPE_AMOUNT[self.card_type[card]] * SEGMENT_AMOUNT[segment]
        amount = mean * np.exp(sigma * rng.standard_normal(n_own) - sigma**2 / 2)
        own = {
            "time_us": day_us + draw_times(HOUR_WEIGHTS, chunk.start_us - day_us, chunk.end_us - day_us, n_own, rng, ordered=True),
            "card": card, "merchant": merchant, "amount_usd": amount, "transaction_type": transaction_type,
            "is_card_not_present": cnp, "is_fraud": np.zeros(n_own, bool),
        }
        # Fraudsters: card-not-present, risky merchants anywhere, high amounts, odd hours.
        fraud_card = active[rng.integers(0, max(len(active), 1), n_fraud)].astype(np.int32)
        fraud_merchant = self.risky.draw(None, rng, n_fraud)
        fraud_mcc = self.merchant_mcc[fraud_merchant]
        fraud = {
            "time_us": day_us + draw_times(FRAUD_HOUR_WEIGHTS, chunk.start_us - day_us, chunk.end_us - day_us, n_fraud, rng, ordered=True),
            "card": fraud_card, "merchant": fraud_merchant,
            "amount_usd": 3.0 * MCC_MEAN_USD[fraud_mcc] * np.exp(0.8 * rng.standard_normal(n_fraud) - 0.32),
            "transaction_type": np.zeros(n_fraud, np.int8), "is_card_not_present": rng.random(n_fraud) < 0.95,
            "is_fraud": np.ones(n_fraud, bool),
        }
        rows = concat([own, fraud])  # two runs in time order (sorted together at the chunk's end)
        rows["amount_usd"] = np.maximum(np.round(rows["amount_usd"], 2), 0.5)
        rows["attempt_number"] = np.zeros(n, np.int8)
        rows["payment"] = np.full(n, -1, np.int64)
        return rows

    def evaluate(self, rows: dict[str, np.ndarray], chunk: Chunk, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Log an action for each attempt and draw the issuer's answer from the truth functions."""
        world, cards, card = self.world, self.cards, rows["card"]
        n = len(card)
        date = self._date(chunk)
        country = self.card_country[card]
        merchant_country = self.merchant_country[rows["merchant"]]
        facts = {
            "issuer": self.card_issuer[card], "network": self.card_network[card], "issuer_country": country,
            "card_type": self.card_type[card], "transaction_type": rows["transaction_type"],
            "mcc": self.merchant_mcc[rows["merchant"]], "day": np.full(n, chunk.day, np.int16),
            "hour": ((rows["time_us"] - chunk.day * DAY_US) // HOUR_US).astype(np.int8),
            "day_of_month": np.full(n, int(str(date)[8:10]), np.int8),
            "amount_usd": rows["amount_usd"], "available_usd": cards.available_usd[card],
            "is_expired": self.card_expires_day[card] < int(date.astype(np.int64)),
            "is_stolen": cards.stolen_at_us[card] <= rows["time_us"],
            "is_card_not_present": rows["is_card_not_present"], "is_cross_border": merchant_country != country,
        }
        gateway, optimization, propensity = draw_actions(facts["network"], facts["issuer_country"], facts["is_card_not_present"], rng)
        context = build_context(world, facts)
        stages = stage_list(context, gateway, optimization)
        u = rng.random(n)
        code = _draw_codes(stages, u)
        prior = _prior_spend(card, rows["time_us"], np.where(code == APPROVED, rows["amount_usd"], 0.0), cards.size)
        again = np.flatnonzero(prior > 0.005)
        if len(again):
            # Only the insufficient-funds check depends on the balance: re-evaluate it there.
            facts["available_usd"] = facts["available_usd"].copy()
            facts["available_usd"][again] = np.maximum(facts["available_usd"][again] - prior[again], 0.0)
            subset = {name: context[name][again] for name in ("amount_usd", "day_of_month", "issuer_retry_lift")}
            subset["available_usd"] = facts["available_usd"][again]
            stages[2] = stages[2].copy()
            stages[2][again] = insufficient_funds_stage(subset, optimization[again])
            code[again] = _draw_codes([stage[again] for stage in stages], u[again])
        facts.update(bin_index=self.card_bin[card], merchant_country=merchant_country, gateway=gateway, optimization=optimization,
                     propensity=propensity, outcome=code, p_approve=passed_checks(stages)[-1])
        return facts

    def retries(self, rows: dict[str, np.ndarray], outcome: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Some soft declines are tried again minutes to hours later, under the same payment."""
        p = RETRY_PROBABILITY[outcome] * np.where(rows["is_fraud"], 2.0, 1.0)
        chosen = np.flatnonzero((rows["attempt_number"] < MAX_ATTEMPTS_PER_PAYMENT - 1) & (rng.random(len(outcome)) < p))
        retry = take(rows, chosen)
        median = np.where(retry["is_fraud"], 90.0, RETRY_MEDIAN_SECONDS[outcome[chosen]])
        seconds = np.clip(median * np.exp(rng.standard_normal(len(chosen))), 30.0, 2 * 86_400.0)
        retry["time_us"] = retry["time_us"] + (seconds * 1e6).astype(np.int64)
        retry["attempt_number"] = retry["attempt_number"] + 1
        return retry


def _draw_codes(stages: list[np.ndarray], u: np.ndarray) -> np.ndarray:
    """Outcome code per attempt (0-4: first failing check = decline code, 5: approved) from one uniform each.

    code > k exactly when checks 0..k all pass, which has probability passed_k; with
    v = 1 - u uniform on (0, 1], code = #{k : v <= passed_k} (passed_k decreases in k)."""
    threshold = 1.0 - u
    code = np.zeros(len(u), dtype=np.int8)
    for passed in passed_checks(stages):
        code += threshold <= passed
    return code


def _prior_spend(card: np.ndarray, time_us: np.ndarray, amount: np.ndarray, n_cards: int) -> np.ndarray:
    """For each attempt, the sum of `amount` over the same card's earlier attempts (in time).

    Only cards seen more than once need it: those rows are sorted by (card, time) and summed."""
    prior = np.zeros(len(card))
    repeated = np.flatnonzero(np.bincount(card, minlength=n_cards)[card] > 1)
    if not len(repeated):
        return prior
    sub_card, sub_amount = card[repeated], amount[repeated]
    order = np.argsort(sub_card.astype(np.int64) * DAY_US + time_us[repeated] % DAY_US)  # a chunk lies within one day
    sorted_amount = sub_amount[order]
    running = np.cumsum(sorted_amount) - sorted_amount
    sorted_card = sub_card[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_card[1:] != sorted_card[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    prior[repeated[order]] = running - running[group_start]
    return prior
