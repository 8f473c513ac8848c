"""Segment window features (BIN x MCC, issuer x MCC, gateway segment) against a naive computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import FEATURE_CUTOFF_AT

PRIOR_ATTEMPTS = 20
CASES = [
    ("bin_merchant_category_features", ["card_bin", "merchant_category"], {"30d": pd.Timedelta(days=30)}, True),
    ("issuer_merchant_category_features", ["issuer_id", "merchant_category"], {"30d": pd.Timedelta(days=30)}, True),
    ("gateway_segment_features", ["gateway", "card_network", "issuer_country", "transaction_type"],
     {"1h": pd.Timedelta(hours=1), "24h": pd.Timedelta(hours=24), "7d": pd.Timedelta(days=7)}, False),
]


@pytest.mark.parametrize("model, keys, windows, smoothed", CASES, ids=[case[0] for case in CASES])
def test_segment_windows_match_naive_computation(built_workspace, random_attempts, model, keys, windows, smoothed):
    features = pd.read_parquet(built_workspace.features_dir / f"{model}.parquet")
    assert not features.duplicated(keys + ["event_timestamp"]).any()
    assert features.event_timestamp.max() <= pd.Timestamp(FEATURE_CUTOFF_AT)
    attempts = random_attempts
    sample = features.sort_values(keys + ["event_timestamp"]).reset_index(drop=True).sample(n=200, random_state=3)
    for row in sample.itertuples(index=False):
        at = pd.Timestamp(row.event_timestamp)
        in_segment = np.logical_and.reduce([attempts[key] == getattr(row, key) for key in keys])
        for name, length in windows.items():
            in_window = (attempts.attempted_at >= at - length) & (attempts.attempted_at < at)
            segment = attempts[in_segment & in_window]
            assert getattr(row, f"attempts_{name}") == len(segment), (model, name, row)
            assert getattr(row, f"approvals_{name}") == int(segment.is_approved.sum())
            assert getattr(row, f"do_not_honor_declines_{name}") == int((segment.decline_code == "do_not_honor").sum())
            rate = getattr(row, f"approval_rate_{name}")
            assert (pd.isna(rate) and len(segment) == 0) or rate == pytest.approx(segment.is_approved.mean())
            if smoothed:
                everyone = attempts[in_window]
                prior = everyone.is_approved.mean()
                expected = (segment.is_approved.sum() + PRIOR_ATTEMPTS * prior) / (len(segment) + PRIOR_ATTEMPTS)
                assert getattr(row, f"smoothed_approval_rate_{name}") == pytest.approx(expected)


def test_segment_grid_covers_every_boundary_after_first_activity(built_workspace, random_attempts):
    features = pd.read_parquet(built_workspace.features_dir / "bin_merchant_category_features.parquet")
    one = features.groupby(["card_bin", "merchant_category"]).event_timestamp.agg(["min", "max", "count"]).iloc[0]
    assert one["count"] == (one["max"] - one["min"]).days + 1
