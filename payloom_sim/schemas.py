"""Arrow schemas of the raw tables (the data contract, docs/contract.md) and of the truth tables.

Files are written with categorical columns dictionary-encoded and without the stored Arrow
schema, so every reader (pyarrow, DuckDB) sees exactly RAW_SCHEMAS.

>>> RAW_SCHEMAS["payment_attempts"].field("amount_minor").type
DataType(int64)
>>> sorted(RAW_SCHEMAS)
['customers', 'interactions', 'offers', 'payment_attempts', 'product_holdings']
>>> sorted(TRUTH_SCHEMAS)
['attempt_context', 'offer_candidates', 'offers']
>>> decoded(TRUTH_SCHEMAS["attempt_context"]).field("gateway").type
DataType(string)
>>> all(decoded(WRITE_SCHEMAS[name]) == RAW_SCHEMAS[name] for name in RAW_SCHEMAS)
True
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["RAW_SCHEMAS", "TRUTH_SCHEMAS", "WRITE_SCHEMAS", "decoded"]

_TS = pa.timestamp("us")
_CAT = pa.dictionary(pa.int32(), pa.string())

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "payment_attempts": pa.schema([
        ("attempt_id", pa.string()), ("payment_id", pa.string()), ("attempted_at", _TS),
        ("card_id", pa.string()), ("customer_id", pa.string()), ("merchant_id", pa.string()),
        ("merchant_category", pa.string()), ("amount_minor", pa.int64()), ("currency_code", pa.string()),
        ("card_bin", pa.string()), ("issuer_id", pa.string()), ("issuer_country", pa.string()),
        ("card_network", pa.string()), ("card_type", pa.string()), ("card_expires_on", pa.date32()),
        ("transaction_type", pa.string()), ("product_family", pa.string()), ("gateway", pa.string()),
        ("optimization", pa.string()), ("decision_propensity", pa.float64()), ("is_approved", pa.bool_()),
        ("decline_code", pa.string()),
    ]),
    "customers": pa.schema([
        ("customer_id", pa.string()), ("created_at", _TS), ("birth_date", pa.date32()),
        ("annual_income_minor", pa.int64()), ("currency_code", pa.string()), ("occupation", pa.string()),
        ("credit_score", pa.int32()), ("country", pa.string()), ("segment", pa.string()),
    ]),
    "product_holdings": pa.schema([
        ("customer_id", pa.string()), ("product", pa.string()), ("opened_at", _TS), ("closed_at", _TS),
    ]),
    "offers": pa.schema([
        ("offer_id", pa.string()), ("customer_id", pa.string()), ("product", pa.string()), ("offered_at", _TS),
        ("contact_cost_minor", pa.int64()), ("is_accepted", pa.bool_()), ("revenue_minor", pa.int64()),
        ("currency_code", pa.string()),
    ]),
    "interactions": pa.schema([
        ("customer_id", pa.string()), ("occurred_at", _TS), ("channel", pa.string()), ("kind", pa.string()),
    ]),
}

#: Raw columns written dictionary-encoded (categoricals); every other column is written as is.
DICTIONARY_COLUMNS: dict[str, set[str]] = {
    "payment_attempts": {
        "merchant_id", "merchant_category", "currency_code", "card_bin", "issuer_id", "issuer_country", "card_network",
        "card_type", "transaction_type", "product_family", "gateway", "optimization", "decline_code",
    },
    "customers": {"currency_code", "occupation", "country", "segment"},
    "product_holdings": {"product"},
    "offers": {"product", "currency_code"},
    "interactions": {"channel", "kind"},
}
#: The raw tables as the simulator hands them to the Parquet writer.
WRITE_SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema([pa.field(f.name, _CAT if f.name in DICTIONARY_COLUMNS[name] else f.type) for f in schema])
    for name, schema in RAW_SCHEMAS.items()
}

#: Ground truth under `<out>/_truth/<name>/` (as written: categoricals dictionary-encoded).
TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "attempt_context": pa.schema([
        ("attempt_id", pa.string()), ("attempted_at", _TS), ("attempt_number", pa.int8()),
        ("issuer_id", _CAT), ("card_network", _CAT), ("issuer_country", _CAT), ("card_type", _CAT),
        ("transaction_type", _CAT), ("merchant_category", _CAT), ("day", pa.int16()), ("hour", pa.int8()),
        ("day_of_month", pa.int8()), ("amount_usd", pa.float64()), ("available_usd", pa.float64()),
        ("is_expired", pa.bool_()), ("is_stolen", pa.bool_()), ("is_fraud", pa.bool_()),
        ("is_card_not_present", pa.bool_()), ("is_cross_border", pa.bool_()), ("is_issuer_outage", pa.bool_()),
        ("gateway", _CAT), ("optimization", _CAT), ("p_approve", pa.float64()),
    ]),
    "offers": pa.schema([
        ("offer_id", pa.string()), ("segment", _CAT), ("age_years", pa.float64()), ("income_usd", pa.float64()),
        ("credit_score", pa.int32()), ("holdings_count", pa.int16()), ("engagement_30d", pa.int32()),
        ("spend_30d_usd", pa.float64()), ("p_accept", pa.float64()), ("expected_revenue_usd", pa.float64()),
        ("expected_revenue_minor", pa.int64()),
    ]),
    "offer_candidates": pa.schema([
        ("customer_id", pa.string()), ("product", _CAT), ("as_of", _TS), ("currency_code", _CAT),
        ("p_accept", pa.float64()), ("expected_revenue_minor", pa.int64()), ("contact_cost_minor", pa.int64()),
        ("expected_payoff_minor", pa.float64()), ("expected_payoff_usd", pa.float64()),
    ]),
}


def decoded(schema: pa.Schema) -> pa.Schema:
    """`schema` with dictionary columns as their value type (what readers see)."""
    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type, f.nullable) for f in schema])
