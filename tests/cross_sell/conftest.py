"""A small simulated world with many offers, built by dbt, with the cross-sell models trained on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pytest

from scoring.cross_sell_job import CrossSellReport, train_cross_sell_job
from scoring.feature_build import build_features
from scoring.workspace import Workspace


@dataclass
class TrainedCrossSell:
    workspace: Workspace
    report: CrossSellReport
    scored_before_training: int
    warning_before_training: bool


@pytest.fixture(scope="session")
def cross_sell(tmp_path_factory) -> TrainedCrossSell:
    """20,000 attempts (400 customers), 60 days, 4 offers per customer and 30 days, dirty rows included."""
    from io import StringIO

    from payloom_sim import simulate

    workspace = Workspace.at(tmp_path_factory.mktemp("cross_sell"))
    simulate(workspace.raw_dir, attempts=20_000, seed=5, days=60, dirty_fraction=0.002, offer_share=4.0)
    log = StringIO()
    build_features(workspace, feature_cutoff_at=datetime(2025, 3, 2), load_started_at=datetime(2026, 1, 1), echo=log)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        before = connection.execute("select count(*) from scores.scores_cross_sell").fetchone()[0]
    report = train_cross_sell_job(workspace, seed=3, max_trees=120, echo=None)
    return TrainedCrossSell(workspace, report, before, "scores_cross_sell is built empty" in log.getvalue())
