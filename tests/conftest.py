"""Shared fixtures: small raw data, a built workspace (real dbt on DuckDB), DuckDB connections."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Any SparkSession a test process starts (Feast's Spark offline store, Spark scoring) runs its
# Python workers with this interpreter, which can import payloom; the first session fixes it.
os.environ["PYSPARK_PYTHON"] = sys.executable

import raw_factory  # noqa: E402
from redis_process import RedisServer, free_port, redis_executable  # noqa: E402

from scoring.feature_build import build_features  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402

FEATURE_CUTOFF_AT = datetime(2025, 5, 1)
LOAD_STARTED_AT = datetime(2026, 1, 1)


@pytest.fixture(scope="session")
def random_attempts():
    """2,000 random clean attempts on 40 cards over 120 days, on a coarse time grid."""
    return raw_factory.random_payment_attempts(2_000, cards=40, days=120, random_state=7)


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory, random_attempts) -> Workspace:
    """A workspace whose raw data is `random_attempts`, built by a real `dbt build`."""
    workspace = Workspace.at(tmp_path_factory.mktemp("built"))
    raw_factory.write_payment_attempts(workspace.raw_dir, random_attempts)
    build_features(workspace, feature_cutoff_at=FEATURE_CUTOFF_AT, load_started_at=LOAD_STARTED_AT, echo=None)
    return workspace


@pytest.fixture
def warehouse(built_workspace):
    """A read-only connection to the built warehouse."""
    with duckdb.connect(str(built_workspace.warehouse), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def simulated_workspace(tmp_path_factory) -> Workspace:
    """A small simulated world (payments and customer tables) built by a real `dbt build`."""
    from payloom_sim import simulate

    workspace = Workspace.at(tmp_path_factory.mktemp("simulated"))
    simulate(workspace.raw_dir, attempts=30_000, seed=9, days=75, dirty_fraction=0.002)
    build_features(workspace, feature_cutoff_at=datetime(2025, 3, 17), load_started_at=LOAD_STARTED_AT, echo=None)
    return workspace


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free loopback port for the session (no persistence: a restart empties it)."""
    server = RedisServer(redis_executable(), tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    yield server
    server.stop()
