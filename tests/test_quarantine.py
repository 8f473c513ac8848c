"""Rows that break the contract are quarantined with a reason, never dropped; counts reconcile."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

import raw_factory
from scoring.feature_build import build_features
from scoring.workspace import Workspace

EXPECTED_REASONS = {
    "a0000000": "null card_id",
    "a0000001": "negative amount_minor",
    "a0000002": "unknown currency_code",
    "a0000003": "future attempted_at",
    "a0000004": "approved with a decline_code",
    "a0000005": "declined without a decline_code",
    "a0000006": "unknown transaction_type",
    "a0000007": "decision_propensity outside (0, 1]",
}


def dirty_attempts() -> pd.DataFrame:
    frame = raw_factory.random_payment_attempts(200, random_state=11)
    frame.loc[0, "card_id"] = None
    frame.loc[1, "amount_minor"] = -5
    frame.loc[2, "currency_code"] = "ZZZ"
    frame.loc[3, "attempted_at"] = pd.Timestamp("2100-01-01")
    frame.loc[4, ["is_approved", "decline_code"]] = [True, "do_not_honor"]
    frame.loc[5, ["is_approved", "decline_code"]] = [False, None]
    frame.loc[6, "transaction_type"] = "instalment"
    frame.loc[7, "decision_propensity"] = 1.5
    duplicate = frame.iloc[[10]].assign(attempted_at=frame.attempted_at[10] + pd.Timedelta(hours=1))
    return pd.concat([frame, duplicate], ignore_index=True)


def build(workspace: Workspace) -> dict[str, int]:
    build_features(workspace, feature_cutoff_at=datetime(2025, 5, 1), load_started_at=datetime(2026, 1, 1), echo=None)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        return {
            "raw": connection.execute("select count(*) from raw.payment_attempts").fetchone()[0],
            "clean": connection.execute("select count(*) from marts.fct_authorizations").fetchone()[0],
            "quarantined": connection.execute("select count(*) from marts.quarantined_rows").fetchone()[0],
            "reasons": dict(connection.execute("select record_id, quarantine_reason from marts.quarantined_rows").fetchall()),
            "raw_json": connection.execute("select raw_row_json from marts.quarantined_rows where record_id = 'a0000001'").fetchone()[0],
        }


@pytest.fixture(scope="module")
def parquet_result(tmp_path_factory):
    workspace = Workspace.at(tmp_path_factory.mktemp("dirty"))
    raw_factory.write_payment_attempts(workspace.raw_dir, dirty_attempts())
    return build(workspace)


def test_each_violation_is_quarantined_with_its_reason(parquet_result):
    reasons = parquet_result["reasons"]
    for attempt_id, reason in EXPECTED_REASONS.items():
        assert reasons.get(attempt_id) == reason
    assert reasons.get("a0000010") == "duplicate attempt_id"


def test_counts_reconcile_and_nothing_else_is_dropped(parquet_result):
    assert parquet_result["raw"] == 201
    assert parquet_result["quarantined"] == len(EXPECTED_REASONS) + 1
    assert parquet_result["clean"] + parquet_result["quarantined"] == parquet_result["raw"]


def test_quarantine_keeps_the_raw_row(parquet_result):
    assert '"amount_minor":-5' in parquet_result["raw_json"]


def test_csv_values_that_do_not_parse_are_quarantined(tmp_path):
    workspace = Workspace.at(tmp_path)
    frame = raw_factory.random_payment_attempts(30, random_state=5)
    text = frame.astype(str).replace({"None": "", "NaT": ""})
    text.loc[0, "amount_minor"] = "12.5"
    text.loc[1, "attempted_at"] = "yesterday"
    text.loc[2, "is_approved"] = "maybe"
    workspace.raw_dir.mkdir(parents=True)
    text.to_csv(workspace.raw_dir / "payment_attempts.csv", index=False)
    result = build(workspace)
    assert result["reasons"] == {
        "a0000000": "unparseable amount_minor",
        "a0000001": "unparseable attempted_at",
        "a0000002": "unparseable is_approved",
    }
    assert result["clean"] == 27
