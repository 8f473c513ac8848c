"""One simulated day of authorization attempts: contexts, logged actions, outcomes, retries.

Balances evolve across days (CardPopulation.spend after each day; within a day every attempt
sees the balance of the day's start: the vectorisation's one approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from payloom_sim.cards import CardPopulation
from payloom_sim.policy import draw_actions
from payloom_sim.schemas import RAW_SCHEMAS
from payloom_sim.truth import CONTEXT_FIELDS, stage_probabilities
from payloom_sim.world import (
    CARD_TYPES, COUNTRIES, COUNTRY_CURRENCY, DECLINE_CODES, GATEWAYS, MERCHANT_CATEGORIES, NETWORKS,
    OPTIMIZATION_COMBOS, TRANSACTION_TYPES, USD_PER_UNIT, World,
)

__all__ = ["DayBatch", "simulate_day", "HOUR_WEIGHTS", "RETRY_SHARE"]

HOUR_WEIGHTS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 3.2, 4, 4.4, 4.6, 5, 4.8, 4.5, 4.4, 4.6, 5, 5.6, 6, 5.6, 4.4, 3, 1.8])
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
FRAUD_HOUR_WEIGHTS = np.where(np.arange(24) < 6, 3.0, 1.0) / np.where(np.arange(24) < 6, 3.0, 1.0).sum()
#: Share of soft declines (technical, insufficient_funds, do_not_honor) retried under the same payment.
RETRY_SHARE = 0.3
_SOFT = np.array([code in ("technical", "insufficient_funds", "do_not_honor") for code in DECLINE_CODES])
_MCC = list(MERCHANT_CATEGORIES.values())
_MCC_CNP = np.array([spec[2] for spec in _MCC])
_MCC_MEAN_USD = np.array([spec[3] for spec in _MCC])
_MCC_MAIN_TYPE = np.array([TRANSACTION_TYPES.index(spec[4]) for spec in _MCC])
_RISKY_MCC = np.array([list(MERCHANT_CATEGORIES).index(code) for code in ("5732", "7995", "5999")])
_COUNTRY_USD_PER_UNIT = np.array([USD_PER_UNIT[COUNTRY_CURRENCY[country]] for country in COUNTRIES])


@dataclass
class DayBatch:
    """A day's attempts as Arrow tables (contract table + latent truth) and the approved spend."""

    attempts: pa.Table
    truth: pa.Table
    approved_cards: np.ndarray
    approved_usd: np.ndarray


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers, pa.int64()), pa.string()), "")


def _categorical(values: tuple[str, ...] | np.ndarray, codes: np.ndarray) -> pa.Array:
    dictionary = pa.array(list(values), pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary).dictionary_decode()


def _draw_outcomes(world: World, context: dict, gateway: np.ndarray, optimization: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw each attempt's outcome from the truth: returns (p_approve, is_approved, decline code index or -1)."""
    stages = stage_probabilities(world, context, gateway, optimization)
    fails = rng.random(stages.shape) < stages
    first_fail = np.where(fails.any(axis=1), fails.argmax(axis=1), -1)
    return np.prod(1.0 - stages, axis=1), first_fail < 0, first_fail


def simulate_day(world: World, cards: CardPopulation, *, day: int, n: int, start: np.datetime64, first_number: int, rng: np.random.Generator, new_day: bool = True) -> DayBatch:
    """Simulate `n` first attempts (plus retries) of day `day`; ids start at `first_number`.

    `new_day` applies the day's pay-day refills first (the first chunk of a day does)."""
    date = start + np.timedelta64(day, "D")
    day_of_month = int(str(date)[8:10])
    if new_day:
        cards.start_day(day_of_month, rng)
    card = cards.draw_cards(n, rng)
    bin_index = cards.bin_index[card]
    issuer = world.bin_issuer[bin_index]
    network = world.bin_network[bin_index]
    country = world.issuer_country[issuer]
    is_stolen = cards.stolen_day[card] <= day
    merchant = np.minimum(np.searchsorted(np.cumsum(world.merchant_weight), rng.random(n)), len(world.merchant_ids) - 1)
    risky_merchants = np.flatnonzero(np.isin(world.merchant_mcc, _RISKY_MCC))
    merchant = np.where(is_stolen & (rng.random(n) < 0.7), rng.choice(risky_merchants, n), merchant)
    mcc = world.merchant_mcc[merchant]
    transaction_type = np.where(rng.random(n) < 0.75, _MCC_MAIN_TYPE[mcc], rng.integers(0, len(TRANSACTION_TYPES), n))
    hour = np.where(is_stolen, rng.choice(24, n, p=FRAUD_HOUR_WEIGHTS), rng.choice(24, n, p=HOUR_WEIGHTS))
    seconds = rng.integers(0, 3600 * 10**6, n)
    is_cnp = rng.random(n) < np.where(is_stolen, 0.95, _MCC_CNP[mcc])
    card_type_factor = np.array([1.0, 0.8, 0.4])[world.bin_card_type[bin_index]]
    amount_usd = _MCC_MEAN_USD[mcc] * card_type_factor * rng.lognormal(-0.3, 0.8, n) * np.where(is_stolen, 3.0, 1.0)
    amount_usd = np.maximum(np.round(amount_usd, 2), 0.5)

    def context_at(hours: np.ndarray, days: np.ndarray, rows: np.ndarray) -> dict:
        in_range = np.clip(days, 0, world.days - 1)
        outage = world.issuer_outage_days[issuer[rows], in_range] & (np.abs(world.issuer_outage_hour[issuer[rows], in_range] - hours) <= 1)
        expires = cards.expires_on[card[rows]]
        return {
            "issuer": issuer[rows], "network": network[rows], "country": country[rows],
            "transaction_type": transaction_type[rows], "mcc": mcc[rows], "amount_usd": amount_usd[rows],
            "available_usd": cards.limit_usd[card[rows]] * cards.level[card[rows]],
            "is_expired": (start + days.astype("timedelta64[D]")) > expires,
            "is_stolen": is_stolen[rows], "is_card_not_present": is_cnp[rows], "hour": hours, "day": days,
            "is_issuer_outage": outage,
        }

    rows = np.arange(n)
    context = context_at(hour, np.full(n, day), rows)
    gateway, optimization, propensity = draw_actions(network, country, rng)
    p_approve, approved, code = _draw_outcomes(world, context, gateway, optimization, rng)
    micros = day * 86_400 * 10**6 + hour.astype(np.int64) * 3600 * 10**6 + seconds

    # Retries: some soft declines are tried again minutes to hours later, same payment.
    retried = np.flatnonzero(~approved & _SOFT[np.maximum(code, 0)] & (rng.random(n) < RETRY_SHARE))
    delay = np.maximum(rng.exponential(2 * 3600 * 10**6, len(retried)), 60 * 10**6).astype(np.int64)
    retry_micros = micros[retried] + delay
    retry_days = (retry_micros // (86_400 * 10**6)).astype(np.int64)
    retry_hours = (retry_micros // (3600 * 10**6) % 24).astype(np.int64)
    retry_context = context_at(retry_hours, retry_days, retried)
    retry_gateway, retry_optimization, retry_propensity = draw_actions(network[retried], country[retried], rng)
    retry_p, retry_approved, retry_code = _draw_outcomes(world, retry_context, retry_gateway, retry_optimization, rng)

    source = np.concatenate([rows, retried])
    total = len(source)
    numbers = first_number + np.arange(total)
    payment_numbers = np.concatenate([numbers[:n], numbers[retried]])
    all_code = np.concatenate([code, retry_code])
    all_approved = np.concatenate([approved, retry_approved])
    all_micros = np.concatenate([micros, retry_micros])
    all_gateway = np.concatenate([gateway, retry_gateway])
    all_optimization = np.concatenate([optimization, retry_optimization])
    all_propensity = np.concatenate([propensity, retry_propensity])
    currency_units = amount_usd[source] / _COUNTRY_USD_PER_UNIT[country[source]]
    timestamps = pa.array(np.datetime64(str(start), "us") + all_micros.astype("timedelta64[us]"), pa.timestamp("us"))
    currency_codes = tuple(COUNTRY_CURRENCY[c] for c in COUNTRIES)
    attempt_ids = _strings("att_", numbers)
    attempts = pa.table({
        "attempt_id": attempt_ids,
        "payment_id": _strings("pay_", payment_numbers),
        "attempted_at": timestamps,
        "card_id": _strings("card_", card[source]),
        "customer_id": _strings("cus_", cards.customer_index[card[source]]),
        "merchant_id": _categorical(world.merchant_ids, merchant[source]),
        "merchant_category": _categorical(world.mcc_codes, mcc[source]),
        "amount_minor": pa.array(np.round(currency_units * 100).astype(np.int64)),
        "currency_code": _categorical(currency_codes, country[source]),
        "card_bin": _categorical(world.bin_codes, bin_index[source]),
        "issuer_id": _categorical(world.issuer_ids, issuer[source]),
        "issuer_country": _categorical(COUNTRIES, country[source]),
        "card_network": _categorical(NETWORKS, network[source]),
        "card_type": _categorical(CARD_TYPES, world.bin_card_type[bin_index[source]]),
        "card_expires_on": pa.array(cards.expires_on[card[source]], pa.date32()),
        "transaction_type": _categorical(TRANSACTION_TYPES, transaction_type[source]),
        "product_family": _categorical(tuple(spec[0] for spec in _MCC), mcc[source]),
        "gateway": _categorical(GATEWAYS, all_gateway),
        "optimization": _categorical(OPTIMIZATION_COMBOS, all_optimization),
        "decision_propensity": pa.array(all_propensity, pa.float64(), mask=np.isnan(all_propensity)),
        "is_approved": pa.array(all_approved),
        "decline_code": pa.array(np.array(DECLINE_CODES, dtype=object)[np.maximum(all_code, 0)], pa.string(), mask=all_approved),
    }, schema=RAW_SCHEMAS["payment_attempts"])
    truth_columns = {"attempt_id": attempt_ids}
    for field in CONTEXT_FIELDS:
        truth_columns[field] = pa.array(np.concatenate([np.asarray(context[field]), np.asarray(retry_context[field])]))
    truth_columns["gateway"] = attempts["gateway"]
    truth_columns["optimization"] = attempts["optimization"]
    truth_columns["p_approve"] = pa.array(np.concatenate([p_approve, retry_p]))
    order = np.argsort(all_micros, kind="stable")
    spent = all_approved
    return DayBatch(
        attempts=attempts.take(order),
        truth=pa.table(truth_columns).take(order),
        approved_cards=card[source][spent],
        approved_usd=amount_usd[source][spent],
    )
