"""Small random raw tables that follow the contract, for tests of dbt models and validation.

Unlike the simulator, this factory has no world model: it produces edge cases on purpose
(attempts at the same instant, events exactly on window edges) so window features can be
cross-checked against naive computations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DECLINE_CODES = ["insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical"]

PAYMENT_ATTEMPTS_SCHEMA = pa.schema([
    ("attempt_id", pa.string()), ("payment_id", pa.string()), ("attempted_at", pa.timestamp("us")),
    ("card_id", pa.string()), ("customer_id", pa.string()), ("merchant_id", pa.string()),
    ("merchant_category", pa.string()), ("amount_minor", pa.int64()), ("currency_code", pa.string()),
    ("card_bin", pa.string()), ("issuer_id", pa.string()), ("issuer_country", pa.string()),
    ("card_network", pa.string()), ("card_type", pa.string()), ("card_expires_on", pa.date32()),
    ("transaction_type", pa.string()), ("product_family", pa.string()), ("gateway", pa.string()),
    ("optimization", pa.string()), ("decision_propensity", pa.float64()), ("is_approved", pa.bool_()),
    ("decline_code", pa.string()),
])


def random_payment_attempts(rows: int = 2_000, *, cards: int = 40, days: int = 120, random_state: int = 0) -> pd.DataFrame:
    """Random clean attempts. Timestamps sit on a coarse grid (whole hours, some exact-day
    offsets) so that same-instant attempts and window-edge events are frequent."""
    rng = np.random.default_rng(random_state)
    start = pd.Timestamp("2025-01-01")
    hours = rng.integers(0, days * 24, size=rows)
    attempted_at = start + pd.to_timedelta(hours, unit="h")
    card_index = rng.integers(0, cards, size=rows)
    is_approved = rng.random(rows) < 0.7
    decline_code = np.where(is_approved, None, rng.choice(DECLINE_CODES, size=rows))
    bins = np.array(["411111", "422222", "511111", "522222", "371111"])
    card_bin = bins[card_index % len(bins)]
    currencies = np.array(["USD", "EUR", "GBP", "JPY"])
    return pd.DataFrame({
        "attempt_id": [f"a{i:07d}" for i in range(rows)],
        "payment_id": [f"p{i:07d}" for i in range(rows)],
        "attempted_at": attempted_at.astype("datetime64[us]"),
        "card_id": [f"card{i:04d}" for i in card_index],
        "customer_id": [f"cust{i // 2:04d}" for i in card_index],
        "merchant_id": [f"m{i:03d}" for i in rng.integers(0, 25, size=rows)],
        "merchant_category": rng.choice(["5411", "5812", "5732", "7995"], size=rows),
        "amount_minor": rng.integers(0, 50_000, size=rows),
        "currency_code": currencies[card_index % len(currencies)],
        "card_bin": card_bin,
        "issuer_id": [f"iss{b[:2]}" for b in card_bin],
        "issuer_country": np.where(card_index % 2 == 0, "US", "GB"),
        "card_network": np.where(np.char.startswith(card_bin.astype(str), "4"), "visa", "mastercard"),
        "card_type": rng.choice(["credit", "debit", "prepaid"], size=rows),
        "card_expires_on": pd.to_datetime("2027-12-31").date(),
        "transaction_type": rng.choice(["one_off", "recurring", "subscription_renewal"], size=rows),
        "product_family": rng.choice(["groceries", "electronics", "travel"], size=rows),
        "gateway": rng.choice(["gw_alpha", "gw_beta", "gw_gamma"], size=rows),
        "optimization": rng.choice(["none", "3ds", "3ds+network_token"], size=rows),
        "decision_propensity": rng.choice([0.4, 0.6, 1.0], size=rows),
        "is_approved": is_approved,
        "decline_code": decline_code,
    })


def write_table(raw_dir: Path, name: str, frame: pd.DataFrame, schema: pa.Schema | None = None) -> Path:
    """Write `frame` as the contract layout `<raw_dir>/<name>/part-00000.parquet`."""
    folder = Path(raw_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    path = folder / "part-00000.parquet"
    pq.write_table(table, path)
    return path


def write_payment_attempts(raw_dir: Path, frame: pd.DataFrame) -> Path:
    return write_table(raw_dir, "payment_attempts", frame, PAYMENT_ATTEMPTS_SCHEMA)
