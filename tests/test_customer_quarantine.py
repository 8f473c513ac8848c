"""Customer-side contract violations are quarantined with reasons; counts reconcile per table."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

import raw_factory
from payloom_sim import RAW_SCHEMAS
from scoring.feature_build import build_features
from scoring.workspace import Workspace

T = pd.Timestamp


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c3", "c4"],
        "created_at": [T("2024-01-01"), T("2024-02-01"), T("2024-03-01"), T("2024-03-02"), T("2024-04-01")],
        "birth_date": [T("1980-01-01").date(), None, T("1990-05-05").date(), None, None],
        "annual_income_minor": [5_000_000, 9_000_000, 100, 100, 100],
        "currency_code": ["USD", "EUR", "USD", "USD", "USD"],
        "occupation": ["nurse", "software", "teacher", "teacher", "retail"],
        "credit_score": [700, 650, 720, 720, 950],
        "country": ["US", "DE", "US", "US", "US"],
        "segment": ["consumer", "small_business", "consumer", "consumer", "consumer"],
    })


def offers() -> pd.DataFrame:
    return pd.DataFrame({
        "offer_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
        "customer_id": ["c1", "c2", "ghost", "c1", "c2", "c1"],
        "product": ["savings", "time_machine", "loan", "loan", "working_capital", "insurance"],
        "offered_at": [T("2025-01-10")] * 6,
        "contact_cost_minor": [100, 100, 100, 100, 100, -100],
        "is_accepted": [True, False, False, False, True, False],
        "revenue_minor": [5_000, 0, 0, 300, -1, 0],
        "currency_code": ["USD"] * 6,
    })


def holdings() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["c1", "c1", "c2"],
        "product": ["checking", "savings", "checking"],
        "opened_at": [T("2024-01-05"), T("2024-06-01"), T("2024-02-05")],
        "closed_at": [None, T("2024-05-01"), None],
    })


def interactions() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["c1", "c1", "ghost"],
        "occurred_at": [T("2025-01-02 10:00")] * 2 + [T("2025-01-03")],
        "channel": ["app", "app", "web"],
        "kind": ["login", "login", "visit"],
    })


def quarantine(workspace: Workspace) -> tuple[dict, pd.DataFrame]:
    build_features(workspace, feature_cutoff_at=datetime(2025, 2, 1), load_started_at=datetime(2026, 1, 1), echo=None)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        reasons = connection.execute("select table_name, record_id, quarantine_reason from marts.quarantined_rows where table_name != 'payment_attempts'").df()
        counts = {
            table: connection.execute(f"select (select count(*) from raw.{table}), (select count(*) from staging.stg_raw__{table})").fetchone()
            for table in ("customers", "product_holdings", "offers", "interactions")
        }
    return counts, reasons


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workspace = Workspace.at(tmp_path_factory.mktemp("customers"))
    raw_factory.write_payment_attempts(workspace.raw_dir, raw_factory.random_payment_attempts(100, random_state=4))
    for name, frame in (("customers", customers()), ("offers", offers()), ("product_holdings", holdings()), ("interactions", interactions())):
        raw_factory.write_table(workspace.raw_dir, name, frame, RAW_SCHEMAS[name])
    return quarantine(workspace)


def test_each_violation_has_its_reason(built):
    _, reasons = built
    by_record = {(row.table_name, row.record_id): row.quarantine_reason for row in reasons.itertuples()}
    assert by_record == {
        ("customers", "c3"): "duplicate customer_id",
        ("customers", "c4"): "credit_score outside 300-900",
        ("offers", "o2"): "unknown product",
        ("offers", "o3"): "unknown customer_id",
        ("offers", "o4"): "revenue on a declined offer",
        ("offers", "o5"): "negative revenue_minor",
        ("offers", "o6"): "negative contact_cost_minor",
        ("product_holdings", "c1|savings|2024-06-01 00:00:00"): "closed_at before opened_at",
        ("interactions", "ghost|2025-01-03 00:00:00"): "unknown customer_id",
    }


def test_counts_reconcile_per_table(built):
    counts, reasons = built
    for table, (raw_rows, clean_rows) in counts.items():
        assert raw_rows == clean_rows + int((reasons.table_name == table).sum()), table
    assert counts["interactions"] == (3, 2), "identical interactions are not duplicates"


def test_without_a_customers_table_nothing_is_quarantined_as_unknown_customer(tmp_path):
    workspace = Workspace.at(tmp_path)
    raw_factory.write_payment_attempts(workspace.raw_dir, raw_factory.random_payment_attempts(100, random_state=4))
    raw_factory.write_table(workspace.raw_dir, "interactions", interactions(), RAW_SCHEMAS["interactions"])
    counts, reasons = quarantine(workspace)
    assert reasons.empty and counts["interactions"] == (3, 3)
