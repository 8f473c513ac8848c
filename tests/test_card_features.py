"""Card window features against a naive computation, including same-instant attempts and
events exactly on window edges (the random data sits on a whole-hour grid)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import FEATURE_CUTOFF_AT

DECLINE_CODES = ["insufficient_funds", "do_not_honor", "hard_decline", "authentication_required", "technical"]


def naive_card_features(attempts: pd.DataFrame, usd_amounts: pd.Series, card_id: str, at: pd.Timestamp) -> dict:
    """Features of one card at instant `at` from attempts strictly before it, the slow way."""
    card = attempts[attempts.card_id == card_id].assign(usd=usd_amounts)
    before = card[card.attempted_at < at]
    row: dict = {}
    for days in (1, 7, 30, 90):
        window = before[before.attempted_at >= at - pd.Timedelta(days=days)]
        row[f"attempts_{days}d"] = len(window)
        row[f"declines_{days}d"] = int((~window.is_approved).sum())
        row[f"decline_ratio_{days}d"] = (~window.is_approved).mean() if len(window) else np.nan
    window = before[before.attempted_at >= at - pd.Timedelta(days=30)]
    for code in DECLINE_CODES:
        row[f"{code}_declines_30d"] = int((window.decline_code == code).sum())
    approved = before[before.is_approved]
    row["days_since_last_approval"] = (at - approved.attempted_at.max()).total_seconds() / 86400 if len(approved) else np.nan
    row["attempts_before"] = len(before)
    row["avg_usd_amount_minor_30d"] = window.usd.mean() if len(window) else np.nan
    row["max_usd_amount_minor_30d"] = window.usd.max() if len(window) else np.nan
    row["stddev_usd_amount_minor_30d"] = window.usd.std(ddof=1) if len(window) > 1 else np.nan
    row["distinct_merchants_30d"] = window.merchant_id.nunique()
    return row


@pytest.fixture(scope="module")
def card_features(built_workspace) -> pd.DataFrame:
    """Card features in a fixed order: DuckDB writes Parquet in parallel, so file order varies run to run."""
    features = pd.read_parquet(built_workspace.features_dir / "card_features.parquet")
    return features.sort_values(["card_id", "event_timestamp"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def usd_amounts(built_workspace, random_attempts) -> pd.Series:
    import duckdb

    with duckdb.connect(str(built_workspace.warehouse), read_only=True) as connection:
        usd = connection.execute("select attempt_id, usd_amount_minor from marts.fct_authorizations").df()
    return random_attempts[["attempt_id"]].merge(usd, on="attempt_id", how="left").usd_amount_minor.set_axis(random_attempts.index)


def test_one_row_per_card_and_instant_plus_cutoff(card_features, random_attempts):
    expected = set(zip(random_attempts.card_id, random_attempts.attempted_at)) | {
        (card, pd.Timestamp(FEATURE_CUTOFF_AT)) for card in random_attempts.card_id.unique()
    }
    actual = set(zip(card_features.card_id, card_features.event_timestamp))
    assert actual == expected
    assert random_attempts.duplicated(["card_id", "attempted_at"]).sum() > 0, "fixture must contain same-instant attempts"


def test_every_window_feature_matches_naive_computation(card_features, random_attempts, usd_amounts):
    on_30_day_edge = _rows_with_an_attempt_exactly_30_days_before(card_features, random_attempts)
    assert len(on_30_day_edge) > 0, "fixture must contain events exactly 30 days before a feature timestamp"
    sample = pd.concat([card_features.sample(n=300, random_state=1), on_30_day_edge.head(50)])
    edge_rows = 0
    for feature_row in sample.itertuples(index=False):
        at = pd.Timestamp(feature_row.event_timestamp)
        expected = naive_card_features(random_attempts, usd_amounts, feature_row.card_id, at)
        card_times = random_attempts.attempted_at[random_attempts.card_id == feature_row.card_id]
        edge_rows += int(((at - card_times) == pd.Timedelta(days=30)).any())
        for name, value in expected.items():
            actual = getattr(feature_row, name)
            if pd.isna(value):
                assert pd.isna(actual), (name, feature_row.card_id, at)
            else:
                assert actual == pytest.approx(value, rel=1e-9, abs=1e-9), (name, feature_row.card_id, at, actual, value)
    assert edge_rows > 0, "sample must include events exactly 30 days before a feature timestamp"


def _rows_with_an_attempt_exactly_30_days_before(card_features: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Feature rows stamped exactly 30 days after one of the same card's attempts (the window edge)."""
    edges = set(zip(attempts.card_id, attempts.attempted_at + pd.Timedelta(days=30)))
    stamps = pd.to_datetime(card_features.event_timestamp)
    return card_features[[key in edges for key in zip(card_features.card_id, stamps)]]


def test_same_instant_attempts_do_not_see_each_other(card_features, random_attempts):
    same_instant = random_attempts[random_attempts.duplicated(["card_id", "attempted_at"], keep=False)]
    card_id, at = same_instant.iloc[0][["card_id", "attempted_at"]]
    row = card_features[(card_features.card_id == card_id) & (card_features.event_timestamp == at)].iloc[0]
    strictly_before = random_attempts[(random_attempts.card_id == card_id) & (random_attempts.attempted_at < at)]
    assert row.attempts_before == len(strictly_before)
