"""One set of dbt models, two engines: the features built by dbt-duckdb and by dbt-spark (a local
SparkSession, the `spark` target of profiles.yml) from the same raw data are equal row for row.

The raw data is a small simulated world with every raw table and some contract-breaking rows,
so staging, quarantine, marts, every feature model and the training sets run on both engines
(dbt builds them and runs every data test and unit test there). The score models too: small
models trained on the DuckDB build's training sets are published to one registry that both
workspaces use; DuckDB scores with the compiled models, Spark with their SQL functions
(scoring.spark_score_functions), and every score table is equal row for row. Needs Java 17
(`java` on PATH or JAVA_HOME); the Spark build takes a few minutes on two cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xgboost

from scoring.cross_sell_models import load_cross_sell_frame, offer_arrays
from scoring.dbt_runner import run_dbt
from scoring.decline_models import DECLINE_TYPES, decline_labels, decline_type_labels, load_decline_frame
from scoring.errors import PipelineError
from scoring.feature_build import build_features
from scoring.model_publishing import publish_model
from scoring.workspace import DBT_PROJECT_DIR, Workspace

pytestmark = [pytest.mark.spark, pytest.mark.dbt, pytest.mark.slow]

FEATURE_CUTOFF_AT = datetime(2025, 3, 17)
LOAD_STARTED_AT = datetime(2026, 1, 1)
# Every feature model of the project, so a new one is compared without editing this test.
FEATURE_TABLES = {path.stem for path in (DBT_PROJECT_DIR / "models" / "features").glob("*.sql")}
PAYLOOM = str(Path(sys.executable).parent / "payloom")
SCORE_TABLES = {path.stem for path in (DBT_PROJECT_DIR / "models" / "scores").glob("*.sql")}
# Thresholds low enough that every action is taken on the small world.
DECLINE_POLICY = {"kind": "decline_action", "type_model": "decline_type",
                  "thresholds": {"stand_in_approval": 0.002, "step_up_authentication": 0.03, "offer_other_instrument": 0.04},
                  "outage_ratio": 0.97, "trusted_min_attempts": 1, "trusted_max_decline_ratio": 0.5}


def require_java() -> None:
    """Fail (not skip: CI must run the Spark tests) with what to install when there is no JVM."""
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        pytest.fail("the Spark tests need Java 17: install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """A small simulated world: payments (with dirty rows), customers, holdings, offers, interactions."""
    from payloom_sim import simulate

    raw_dir = tmp_path_factory.mktemp("engines") / "raw"
    simulate(raw_dir, attempts=3_000, seed=9, days=75, dirty_fraction=0.002)
    return raw_dir


def publish_small_models(workspace: Workspace) -> None:
    """The four models the score tables call, a few trees each, trained on the built training sets."""
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        decline, offers = load_decline_frame(connection), load_cross_sell_frame(connection)
    parameters = {"max_depth": 3, "eta": 0.5, "nthread": 1, "seed": 0}
    declined = decline_labels(decline)
    types = decline_type_labels(decline)
    decline_features = list(zip(decline.feature_names, decline.feature_types))
    type_booster = xgboost.train({**parameters, "objective": "multi:softprob", "num_class": len(DECLINE_TYPES)},
                                 xgboost.DMatrix(decline.features[types >= 0], label=types[types >= 0]), 4)
    publish_model(workspace.model_registry, "decline_type", type_booster, decline_features, classes=list(DECLINE_TYPES))
    decline_booster = xgboost.train({**parameters, "objective": "binary:logistic"}, xgboost.DMatrix(decline.features, label=declined), 8)
    publish_model(workspace.model_registry, "issuer_decline", decline_booster, decline_features, classes=["approved", "declined"],
                  decision_policy=DECLINE_POLICY)
    accepted, revenue, cost = offer_arrays(offers)
    offer_features = list(zip(offers.feature_names, offers.feature_types))
    # Positives weighted up to balance the classes, so some payoff scores exceed 1/2 (a positive expected payoff).
    for name, label in (("cross_sell_propensity", accepted), ("cross_sell_payoff", (revenue > cost).astype(float))):
        balance = {"scale_pos_weight": float(max(1.0, (label == 0).sum()) / max(1.0, label.sum()))}
        booster = xgboost.train({**parameters, **balance, "objective": "binary:logistic"}, xgboost.DMatrix(offers.features, label=label), 8)
        publish_model(workspace.model_registry, name, booster, offer_features, classes=["negative", "positive"])


@pytest.fixture(scope="module")
def duckdb_workspace(tmp_path_factory, raw_dir) -> Workspace:
    """Features built on DuckDB, then the small models published and the score tables built."""
    workspace = Workspace.at(tmp_path_factory.mktemp("duckdb"), raw_dir=raw_dir)
    started = time.perf_counter()
    build_features(workspace, feature_cutoff_at=FEATURE_CUTOFF_AT, load_started_at=LOAD_STARTED_AT, echo=None)
    print(f"duckdb build: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    publish_small_models(workspace)
    run_dbt(workspace, ["build", "--full-refresh", "--select", "tag:scores"], echo=None,
            variables={"feature_cutoff_at": FEATURE_CUTOFF_AT.isoformat(sep=" "), "load_started_at": LOAD_STARTED_AT.isoformat(sep=" ")})
    print(f"duckdb models and scores: {time.perf_counter() - started:.1f} s")
    return workspace


@pytest.fixture(scope="module")
def spark_build(tmp_path_factory, raw_dir, duckdb_workspace) -> tuple[Workspace, subprocess.CompletedProcess]:
    """`payloom build --target spark` through the real entry point: one SparkSession for the whole
    build, with the DuckDB workspace's model registry."""
    require_java()
    workspace = Workspace.at(tmp_path_factory.mktemp("spark"), raw_dir=raw_dir)
    shutil.copytree(duckdb_workspace.model_registry, workspace.model_registry)
    started = time.perf_counter()
    result = subprocess.run(
        [PAYLOOM, "build", "--target", "spark", "--raw-dir", str(raw_dir), "--workspace", str(workspace.root),
         "--feature-cutoff-at", FEATURE_CUTOFF_AT.isoformat(), "--load-started-at", LOAD_STARTED_AT.isoformat()],
        capture_output=True, text=True, timeout=1_200,
        env={**os.environ, "PAYLOOM_SPARK_SHUFFLE_PARTITIONS": "2", "PAYLOOM_SPARK_DRIVER_MEMORY": "2g"},
    )
    print(f"spark build: {time.perf_counter() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-6_000:] + result.stderr[-6_000:]
    return workspace, result


def sorted_frame(path: Path) -> pd.DataFrame:
    """A feature table in a fixed row order (both engines write rows in any order)."""
    frame = pq.read_table(path).to_pandas()
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def test_spark_build_writes_every_feature_table_and_the_scores(spark_build):
    workspace, result = spark_build
    assert {"card_features", "customer_features", "holding_pattern_affinity"} <= FEATURE_TABLES
    assert {path.stem for path in workspace.features_dir.glob("*.parquet")} == FEATURE_TABLES
    assert "feature tables (Parquet for Feast):" in result.stdout and "card_features" in result.stdout
    assert "created 14 Spark SQL functions of models cross_sell_payoff, cross_sell_propensity, decline_type, issuer_decline" in result.stderr
    assert SCORE_TABLES == {"scores_issuer_decline", "scores_cross_sell", "next_best_offers", "contact_list"}
    for table in SCORE_TABLES:
        assert list((workspace.spark_dir / "warehouse" / "scores.db" / table).glob("*.parquet")), f"Spark built no {table}"


def test_every_feature_table_is_equal_row_for_row(duckdb_workspace, spark_build):
    spark_workspace, _ = spark_build
    duckdb_files = {path.stem: path for path in duckdb_workspace.features_dir.glob("*.parquet")}
    assert set(duckdb_files) == FEATURE_TABLES
    for table in sorted(FEATURE_TABLES):
        duckdb_path, spark_path = duckdb_files[table], spark_workspace.features_dir / f"{table}.parquet"
        duckdb_schema, spark_schema = pq.read_schema(duckdb_path), pq.read_schema(spark_path)
        assert spark_schema.names == duckdb_schema.names, table
        assert [str(field.type) for field in spark_schema] == [str(field.type) for field in duckdb_schema], table
        expected, actual = sorted_frame(duckdb_path), sorted_frame(spark_path)
        assert len(expected) > 0, f"{table} is empty: the raw world must exercise it"
        assert len(actual) == len(expected), table
        for column in expected.columns:
            want, got = expected[column], actual[column]
            if pd.api.types.is_float_dtype(want):
                equal = np.isclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-9, atol=0, equal_nan=True)
            else:
                equal = (want.isna() & got.isna()).to_numpy() | (want == got).to_numpy()
            assert equal.all(), (
                f"{table}.{column}: {int((~equal).sum())} of {len(equal)} rows differ, "
                f"e.g. duckdb {want[~equal].head(3).tolist()} vs spark {got[~equal].head(3).tolist()}"
            )


def spark_score_table(workspace: Workspace, table: str) -> pd.DataFrame:
    """A score table of the Spark build, read from its Parquet files (the managed table's folder)."""
    return pq.read_table(workspace.spark_dir / "warehouse" / "scores.db" / table).to_pandas()


def is_probability(column: str) -> bool:
    """A score column of the score tables: a model's probability (not an amount derived from one)."""
    return column in {"decline_probability", "p_accept", "payoff_score"} or (column.startswith("p_") and not column.endswith("_usd_minor"))


def test_every_score_table_is_equal_row_for_row(duckdb_workspace, spark_build):
    spark_workspace, _ = spark_build
    keys = {"scores_issuer_decline": ["attempt_id"], "scores_cross_sell": ["customer_id", "product"],
            "next_best_offers": ["customer_id"], "contact_list": ["contact_rank"]}
    assert set(keys) == SCORE_TABLES
    with duckdb.connect(str(duckdb_workspace.warehouse), read_only=True) as connection:
        expected_tables = {table: connection.execute(f"select * from scores.{table}").df() for table in SCORE_TABLES}
    actions = set(expected_tables["scores_issuer_decline"]["recommended_action"])
    assert actions == {"proceed", "step_up_authentication", "offer_other_instrument", "stand_in_approval"}, actions
    for table in sorted(SCORE_TABLES):
        expected = expected_tables[table].sort_values(keys[table]).reset_index(drop=True)
        actual = spark_score_table(spark_workspace, table).sort_values(keys[table]).reset_index(drop=True)
        assert list(actual.columns) == list(expected.columns), table
        assert len(expected) > 0, f"{table} is empty: the raw world must exercise it"
        assert len(actual) == len(expected), table
        for column in expected.columns:
            want, got = expected[column], actual[column]
            # Spark's TIMESTAMP is read back in UTC, DuckDB's without a zone: the same instants.
            if not pd.api.types.is_datetime64_any_dtype(want):
                assert got.dtype == want.dtype, f"{table}.{column}: duckdb {want.dtype}, spark {got.dtype}"
            if pd.api.types.is_float_dtype(want):
                # Scores (probabilities) within 1e-6. The compiled model returns float32 scores,
                # the SQL functions doubles: ~1e-7 apart, which expected payoffs c (q / (1 - q) - 1)
                # magnify by 1 / (1 - q)^2 (measured 1.1e-6 relative), so amounts get 1e-5 relative.
                tolerance = {"atol": 1e-6, "rtol": 0} if is_probability(column) else {"atol": 1e-6, "rtol": 1e-5}
                equal = np.isclose(got.to_numpy(float), want.to_numpy(float), equal_nan=True, **tolerance)
            elif pd.api.types.is_datetime64_any_dtype(want):
                equal = (pd.to_datetime(want).dt.tz_localize(None) == pd.to_datetime(got).dt.tz_localize(None)).to_numpy()
            else:
                equal = (want.isna() & got.isna()).to_numpy() | (want == got).to_numpy()
            assert equal.all(), (
                f"{table}.{column}: {int((~equal).sum())} of {len(equal)} rows differ, "
                f"e.g. duckdb {want[~equal].head(3).tolist()} vs spark {got[~equal].head(3).tolist()}"
            )


def test_unknown_target_names_the_known_ones(tmp_path):
    with pytest.raises(PipelineError, match="unknown build target 'snowflake': use one of duckdb, spark"):
        build_features(Workspace.at(tmp_path), target="snowflake", echo=None)
