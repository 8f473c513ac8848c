"""Arrow schemas of the raw tables, exactly as the data contract (docs/contract.md) defines them.

>>> RAW_SCHEMAS["payment_attempts"].field("amount_minor").type
DataType(int64)
>>> sorted(RAW_SCHEMAS)
['customers', 'interactions', 'offers', 'payment_attempts', 'product_holdings']
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["RAW_SCHEMAS"]

_TS = pa.timestamp("us")

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
