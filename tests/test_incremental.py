"""An incremental run over new raw files, late arrivals included, gives the same tables as a full rebuild."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import raw_factory
from scoring.feature_build import build_features
from scoring.workspace import Workspace


def read(workspace: Workspace, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        return connection.execute(sql).df()


def test_incremental_run_matches_full_refresh(tmp_path):
    attempts = raw_factory.random_payment_attempts(600, cards=15, days=60, random_state=21).sort_values("attempted_at")
    # The second drop holds newer attempts and 25 that arrive weeks late (older than any lookback).
    first, second = attempts.iloc[25:400], pd.concat([attempts.iloc[400:], attempts.iloc[:25]])
    workspace = Workspace.at(tmp_path / "incremental")
    raw_factory.write_payment_attempts(workspace.raw_dir, first)
    options = dict(feature_cutoff_at=datetime(2025, 3, 5), load_started_at=datetime(2026, 1, 1), echo=None)
    build_features(workspace, **options)
    assert len(read(workspace, "select * from marts.fct_authorizations")) == 375
    # New data arrives as a second file, as a daily drop would.
    table = pa.Table.from_pandas(second, schema=raw_factory.PAYMENT_ATTEMPTS_SCHEMA, preserve_index=False)
    pq.write_table(table, workspace.raw_dir / "payment_attempts" / "part-00001.parquet")
    build_features(workspace, **options)
    incremental = read(workspace, "select * from marts.fct_authorizations order by attempt_id")
    features_incremental = pd.read_parquet(workspace.features_dir / "card_features.parquet")
    build_features(workspace, full_refresh=True, **options)
    full = read(workspace, "select * from marts.fct_authorizations order by attempt_id")
    features_full = pd.read_parquet(workspace.features_dir / "card_features.parquet")
    assert len(incremental) == 600
    pd.testing.assert_frame_equal(incremental, full)
    key = ["card_id", "event_timestamp"]
    pd.testing.assert_frame_equal(features_incremental.sort_values(key).reset_index(drop=True),
                                  features_full.sort_values(key).reset_index(drop=True))
