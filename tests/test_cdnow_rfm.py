"""A real purchase log (CDNOW) through dbt reproduces its published RFM calibration summary."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

import raw_factory
from scoring.feature_build import build_features
from scoring.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "cdnow"


def cdnow_payment_attempts() -> pd.DataFrame:
    """Each CDNOW purchase as an approved USD payment attempt at midnight of its date."""
    purchases = pd.read_csv(FIXTURES / "cdnow_sample_transactions.csv", dtype={"customer_id": str})
    rows = len(purchases)
    template = raw_factory.random_payment_attempts(rows, random_state=0)
    return template.assign(
        attempt_id=[f"cdnow{i:05d}" for i in range(rows)],
        payment_id=[f"cdnow{i:05d}" for i in range(rows)],
        attempted_at=pd.to_datetime(purchases["date"]).astype("datetime64[us]"),
        card_id="card_" + purchases["customer_id"],
        customer_id=purchases["customer_id"].str.lstrip("0"),
        amount_minor=(purchases["dollar_value"] * 100).round().astype("int64"),
        currency_code="USD",
        is_approved=True,
        decline_code=None,
    )


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> pd.DataFrame:
    workspace = Workspace.at(tmp_path_factory.mktemp("cdnow"))
    raw_factory.write_payment_attempts(workspace.raw_dir, cdnow_payment_attempts())
    build_features(workspace, feature_cutoff_at=datetime(1997, 10, 1), load_started_at=datetime(2026, 1, 1), echo=None)
    features = pd.read_parquet(workspace.features_dir / "customer_features.parquet")
    current = features[features.event_timestamp == pd.Timestamp("1997-10-01")]
    reference = pd.read_csv(FIXTURES / "cdnow_sample_rfm_summary_reference.csv").assign(customer_id=lambda f: f.ID.astype(str))
    return reference.merge(current, on="customer_id", how="left", validate="one_to_one")


def test_every_reference_customer_has_a_row(calibration):
    assert len(calibration) == 2357
    assert calibration.repeat_purchase_days.notna().all()


def test_repeat_purchase_days_match_exactly(calibration):
    assert (calibration.repeat_purchase_days == calibration.x).all()


@pytest.mark.parametrize("ours, theirs", [
    ("first_to_last_purchase_weeks", "t_x"),
    ("first_purchase_to_end_weeks", "T"),
    ("mean_repeat_day_spend_usd", "zbar"),
])
def test_weeks_and_spend_match_within_rounding(calibration, ours, theirs):
    difference = (calibration[ours] - calibration[theirs]).abs()
    assert difference.max() <= 0.006, calibration.loc[difference.idxmax(), ["customer_id", ours, theirs]]
