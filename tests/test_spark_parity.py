"""One set of dbt models, two engines: the features built by dbt-duckdb and by dbt-spark (a local
SparkSession, the `spark` target of profiles.yml) from the same raw data are equal row for row.

The raw data is a small simulated world with every raw table and some contract-breaking rows,
so staging, quarantine, marts, every feature model and the training sets run on both engines
(dbt builds them and runs every data test and unit test there). The score models are DuckDB
only: they call the compiled models as DuckDB functions. Needs Java 17 (`java` on PATH or
JAVA_HOME); the Spark build takes a few minutes on two cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from scoring.errors import PipelineError
from scoring.feature_build import build_features
from scoring.workspace import DBT_PROJECT_DIR, Workspace

pytestmark = [pytest.mark.spark, pytest.mark.dbt, pytest.mark.slow]

FEATURE_CUTOFF_AT = datetime(2025, 3, 17)
LOAD_STARTED_AT = datetime(2026, 1, 1)
# Every feature model of the project, so a new one is compared without editing this test.
FEATURE_TABLES = {path.stem for path in (DBT_PROJECT_DIR / "models" / "features").glob("*.sql")}
PAYLOOM = str(Path(sys.executable).parent / "payloom")


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


@pytest.fixture(scope="module")
def duckdb_workspace(tmp_path_factory, raw_dir) -> Workspace:
    workspace = Workspace.at(tmp_path_factory.mktemp("duckdb"), raw_dir=raw_dir)
    started = time.perf_counter()
    build_features(workspace, feature_cutoff_at=FEATURE_CUTOFF_AT, load_started_at=LOAD_STARTED_AT, echo=None)
    print(f"duckdb build: {time.perf_counter() - started:.1f} s")
    return workspace


@pytest.fixture(scope="module")
def spark_build(tmp_path_factory, raw_dir) -> tuple[Workspace, subprocess.CompletedProcess]:
    """`payloom build --target spark` through the real entry point: one SparkSession for the whole build."""
    require_java()
    workspace = Workspace.at(tmp_path_factory.mktemp("spark"), raw_dir=raw_dir)
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


def test_spark_build_writes_every_feature_table_and_no_scores(spark_build):
    workspace, result = spark_build
    assert {"card_features", "customer_features", "holding_pattern_affinity"} <= FEATURE_TABLES
    assert {path.stem for path in workspace.features_dir.glob("*.parquet")} == FEATURE_TABLES
    assert "feature tables (Parquet for Feast):" in result.stdout and "card_features" in result.stdout
    assert "scores_issuer_decline" not in result.stdout + result.stderr


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


def test_unknown_target_names_the_known_ones(tmp_path):
    with pytest.raises(PipelineError, match="unknown build target 'snowflake': use one of duckdb, spark"):
        build_features(Workspace.at(tmp_path), target="snowflake", echo=None)
