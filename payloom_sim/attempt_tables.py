"""Arrow tables of a chunk of attempts: the contract's payment_attempts and the truth context.

Contract violations for the quarantine downstream are injected here, into distinct, otherwise
clean rows: NULL card_id, negative amount_minor, currency 'ZZZ', attempted_at in 2100, and
duplicate attempt_id (an exact copy placed right after its original). The truth table keeps
one row per attempt_id with the real values.

>>> DIRTY_ATTEMPT_KINDS
('null_card_id', 'negative_amount', 'unknown_currency', 'future_attempted_at', 'duplicate_attempt_id')
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from payloom_sim.arrowcols import boolean, categorical, fixed_ids, numeric, strings, timestamps
from payloom_sim.attempts import APPROVED
from payloom_sim.cards import CardPopulation
from payloom_sim.constants import (
    CARD_TYPES, COUNTRIES, COUNTRY_CURRENCY, CURRENCIES, DECLINE_CODES, GATEWAYS, MCC_CODES, NETWORKS,
    OPTIMIZATION_SETS, PRODUCT_FAMILIES, TRANSACTION_TYPES, usd_per_unit,
)
from payloom_sim.customers import CustomerPopulation
from payloom_sim.schemas import TRUTH_SCHEMAS, WRITE_SCHEMAS
from payloom_sim.world import World

__all__ = ["attempt_ids", "ID_DIGITS", "ATTEMPTS_WRITE_SCHEMA", "DIRTY_ATTEMPT_KINDS", "UNKNOWN_CURRENCY", "attempts_table", "context_table", "inject_dirty", "world_dictionaries"]

DIRTY_ATTEMPT_KINDS = ("null_card_id", "negative_amount", "unknown_currency", "future_attempted_at", "duplicate_attempt_id")
UNKNOWN_CURRENCY = "ZZZ"
#: Digits of attempt and payment ids ('att_000000000042'): 4-byte aligned, so they render fast.
ID_DIGITS = 12
ATTEMPTS_WRITE_SCHEMA = WRITE_SCHEMAS["payment_attempts"]
_CURRENCY_VALUES = CURRENCIES + (UNKNOWN_CURRENCY,)
_COUNTRY_CURRENCY = np.array([CURRENCIES.index(COUNTRY_CURRENCY[c]) for c in COUNTRIES])
_YEAR_2100_US = int((np.datetime64("2100-01-01", "us") - np.datetime64("1970-01-01", "us")).astype(np.int64))


def world_dictionaries(world: World) -> dict[str, pa.Array]:
    """Arrow dictionaries of the world's merchants, BINs and issuers (built once per simulation)."""
    return {"merchant_id": strings(world.merchant_ids.tolist()), "card_bin": strings(world.bin_codes.tolist()),
            "issuer_id": strings(world.issuer_ids.tolist())}


def _world_categorical(dictionary: pa.Array, codes: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(numeric(codes, pa.int32()), dictionary, safe=False)


def _rates(date: np.datetime64) -> np.ndarray:
    return np.array([usd_per_unit(code, date) for code in CURRENCIES])


def inject_dirty(rows: dict[str, np.ndarray], counts: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-row corruption flags (and the duplicate row order) for `counts` bad rows of each kind."""
    n = len(rows["attempt"])
    wanted = [min(counts.get(kind, 0), n) for kind in DIRTY_ATTEMPT_KINDS]
    chosen = rng.permutation(n)[: min(sum(wanted), n)]
    flags, used = {}, 0
    for kind, k in zip(DIRTY_ATTEMPT_KINDS, wanted):
        mask = np.zeros(n, dtype=bool)
        mask[chosen[used : used + k]] = True
        flags[kind], used = mask, used + k
    duplicated = np.flatnonzero(flags.pop("duplicate_attempt_id"))
    flags["order"] = np.insert(np.arange(n), duplicated + 1, duplicated)
    return flags


def attempt_ids(rows: dict[str, np.ndarray]) -> pa.Array:
    """'att_000000000042' ids of the chunk's attempts."""
    return fixed_ids("att_", rows["attempt"], ID_DIGITS)


def attempts_table(world: World, cards: CardPopulation, people: CustomerPopulation, start: np.datetime64, rows: dict[str, np.ndarray],
                   dirty: dict[str, np.ndarray] | None = None, dictionaries: dict[str, pa.Array] | None = None,
                   ids: pa.Array | None = None) -> pa.Table:
    """The chunk's payment_attempts rows (in ATTEMPTS_WRITE_SCHEMA), with `dirty` corruptions applied."""
    n = len(rows["attempt"])
    card = rows["card"]
    dictionaries = dictionaries or world_dictionaries(world)
    date = np.datetime64(start, "D") + np.timedelta64(int(rows["day"][0]) if n else 0, "D")
    currency = _COUNTRY_CURRENCY[rows["merchant_country"]]
    amount_minor = np.round(rows["amount_usd"] / _rates(date)[currency] * 100.0).astype(np.int64)
    time_us = rows["time_us"]
    null_card = None
    if dirty is not None:
        null_card = dirty["null_card_id"]
        amount_minor = np.where(dirty["negative_amount"], -np.maximum(amount_minor, 1), amount_minor)
        currency = np.where(dirty["unknown_currency"], len(CURRENCIES), currency)
        base = np.datetime64(start, "us").astype(np.int64)
        time_us = np.where(dirty["future_attempted_at"], _YEAR_2100_US - base + time_us % 86_400_000_000, time_us)
    approved = rows["outcome"] == APPROVED
    expires = cards.expires_day[card]
    propensity = rows["propensity"]
    columns = [
        attempt_ids(rows) if ids is None else ids,
        fixed_ids("pay_", rows["payment"], ID_DIGITS),
        timestamps(start, time_us),
        cards.ids.take(card, mask=null_card),
        people.ids.take(cards.customer[card]),
        _world_categorical(dictionaries["merchant_id"], rows["merchant"]),
        categorical(MCC_CODES, rows["mcc"]),
        numeric(amount_minor, pa.int64()),
        categorical(_CURRENCY_VALUES, currency),
        _world_categorical(dictionaries["card_bin"], rows["bin_index"]),
        _world_categorical(dictionaries["issuer_id"], rows["issuer"]),
        categorical(COUNTRIES, rows["issuer_country"]),
        categorical(NETWORKS, rows["network"]),
        categorical(CARD_TYPES, rows["card_type"]),
        numeric(expires, pa.date32()),
        categorical(TRANSACTION_TYPES, rows["transaction_type"]),
        categorical(PRODUCT_FAMILIES, rows["mcc"]),
        categorical(GATEWAYS, rows["gateway"]),
        categorical(OPTIMIZATION_SETS, rows["optimization"]),
        numeric(propensity, pa.float64(), mask=np.isnan(propensity)),
        boolean(approved),
        categorical(DECLINE_CODES, np.minimum(rows["outcome"], len(DECLINE_CODES) - 1), mask=approved),
    ]
    table = pa.Table.from_arrays(columns, schema=ATTEMPTS_WRITE_SCHEMA)
    if dirty is not None and len(dirty["order"]) != n:
        table = table.take(numeric(dirty["order"], pa.int64()))
    return table


def context_table(world: World, start: np.datetime64, rows: dict[str, np.ndarray], dictionaries: dict[str, pa.Array] | None = None,
                  ids: pa.Array | None = None) -> pa.Table:
    """The chunk's `_truth/attempt_context` rows: compact facts, the logged action, p_approve."""
    issuer, day, hour = rows["issuer"], rows["day"], rows["hour"]
    dictionaries = dictionaries or world_dictionaries(world)
    columns = [
        attempt_ids(rows) if ids is None else ids,
        timestamps(start, rows["time_us"]),
        numeric(rows["attempt_number"], pa.int8()),
        _world_categorical(dictionaries["issuer_id"], issuer),
        categorical(NETWORKS, rows["network"]),
        categorical(COUNTRIES, rows["issuer_country"]),
        categorical(CARD_TYPES, rows["card_type"]),
        categorical(TRANSACTION_TYPES, rows["transaction_type"]),
        categorical(MCC_CODES, rows["mcc"]),
        numeric(day, pa.int16()), numeric(hour, pa.int8()), numeric(rows["day_of_month"], pa.int8()),
        numeric(rows["amount_usd"], pa.float64()), numeric(rows["available_usd"], pa.float64()),
        boolean(rows["is_expired"]), boolean(rows["is_stolen"]), boolean(rows["is_fraud"]),
        boolean(rows["is_card_not_present"]), boolean(rows["is_cross_border"]),
        boolean(world.issuer_outage[issuer, day, hour]),
        categorical(GATEWAYS, rows["gateway"]),
        categorical(OPTIMIZATION_SETS, rows["optimization"]),
        numeric(rows["p_approve"], pa.float64()),
    ]
    return pa.Table.from_arrays(columns, schema=TRUTH_SCHEMAS["attempt_context"])
