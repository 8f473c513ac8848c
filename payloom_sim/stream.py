"""The attempt stream: chunk after chunk in time order, with retries carried across chunks.

Each chunk draws its first attempts, evaluates them, applies approved spend to the card
balances, and evaluates the retries that fall inside the chunk in further rounds; retries
that fall later wait in `pending` for their chunk (or are dropped after the period's end).
The number of first attempts per chunk tracks the chunk's share of `attempts`, net of
retries, so the total lands close to `attempts`.

>>> from payloom_sim.cards import CardPopulation
>>> from payloom_sim.customers import CustomerPopulation
>>> from payloom_sim.world import build_world
>>> start = np.datetime64("2025-01-01")
>>> world = build_world(seed=1, days=3)
>>> people = CustomerPopulation.draw(400, start=start, seed=1)
>>> cards = CardPopulation.draw(world, people, n_cards=500, start=start, attempts_per_day=1_000.0, seed=1)
>>> stream = AttemptStream(AttemptGenerator(world, cards, people, start), attempts=3_000, days=3, chunk_attempts=800)
>>> total = sum(len(stream.run(chunk, np.random.default_rng(chunk.index))["attempt"]) for chunk in stream.chunks)
>>> abs(total - 3_000) < 150
True
"""

from __future__ import annotations

import numpy as np

from payloom_sim.attempts import APPROVED, PAYMENT_FIELDS, AttemptGenerator, concat, take
from payloom_sim.calendar import DAY_US, Chunk, plan_chunks

__all__ = ["AttemptStream"]


class AttemptStream:
    """State that carries across chunks: pending retries, id counters, balances (via the cards)."""

    def __init__(self, generator: AttemptGenerator, *, attempts: int, days: int, chunk_attempts: int) -> None:
        self.generator = generator
        self.chunks: list[Chunk] = plan_chunks(generator.start, days=days, attempts=attempts, chunk_attempts=chunk_attempts)
        self._target = attempts * np.cumsum([chunk.share for chunk in self.chunks])
        self._period_end_us = days * DAY_US
        self.pending: dict[str, np.ndarray] = {name: np.zeros(0, _dtype(name)) for name in PAYMENT_FIELDS}
        self.next_payment = 0
        self.next_attempt = 0
        self.produced = 0
        self._same_chunk_retry_ratio = 0.04

    def run(self, chunk: Chunk, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """All attempts of `chunk`, sorted by time, numbered (`attempt`, `payment`) and evaluated."""
        due = self.pending["time_us"] < chunk.end_us
        rows_due, self.pending = take(self.pending, due), take(self.pending, ~due)
        wanted = (self._target[chunk.index] - self.produced - len(rows_due["card"])) / (1.0 + self._same_chunk_retry_ratio)
        n_first = max(int(round(wanted)), 0)
        first = self.generator.first_attempts(chunk, n_first, rng)
        first["payment"] = self.next_payment + np.arange(n_first, dtype=np.int64)
        self.next_payment += n_first
        rows_due = take(rows_due, np.argsort(rows_due["time_us"], kind="stable"))
        rows, rounds, same_chunk_retries = concat([rows_due, first]), [], 0
        while len(rows["card"]):
            result = self.generator.evaluate(rows, chunk, rng)
            approved = result["outcome"] == APPROVED
            self.generator.cards.spend(rows["card"][approved], rows["amount_usd"][approved])
            rounds.append({**rows, **result})
            retries = self.generator.retries(rows, result["outcome"], rng)
            retries = take(retries, retries["time_us"] < self._period_end_us)
            now = retries["time_us"] < chunk.end_us
            self.pending = concat([self.pending, take(retries, ~now)])
            rows = take(retries, now)
            same_chunk_retries += len(rows["card"])
        if n_first:
            self._same_chunk_retry_ratio = 0.7 * self._same_chunk_retry_ratio + 0.3 * same_chunk_retries / n_first
        out = concat(rounds) if rounds else {}
        if not out:
            return {"attempt": np.zeros(0, np.int64)}
        out = take(out, np.argsort(out["time_us"], kind="stable"))  # timsort: merges the sorted runs
        out["attempt"] = self.next_attempt + np.arange(len(out["card"]), dtype=np.int64)
        self.next_attempt += len(out["card"])
        self.produced += len(out["card"])
        return out


def _dtype(name: str) -> type:
    return {"time_us": np.int64, "card": np.int32, "merchant": np.int32, "amount_usd": np.float64, "transaction_type": np.int8,
            "is_card_not_present": bool, "is_fraud": bool, "payment": np.int64, "attempt_number": np.int8}[name]
