"""Shared simulated worlds for the simulator tests (small, written once per session)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from payloom_sim import RAW_SCHEMAS, simulate


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean world: 200,000 attempts over 90 days (4,000 customers), with ground truth."""
    out = tmp_path_factory.mktemp("sim") / "raw"
    simulate(out, attempts=200_000, seed=5, days=90)
    return out


@pytest.fixture(scope="session")
def dirty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of world with contract violations injected (0.5% of attempts)."""
    out = tmp_path_factory.mktemp("dirty") / "raw"
    simulate(out, attempts=20_000, seed=3, days=20, dirty_fraction=0.005)
    return out


def _connect(out: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with a view per raw table and `truth` / `offer_truth` / `candidates` views when present."""
    connection = duckdb.connect()
    for table in RAW_SCHEMAS:
        connection.execute(f"create view {table} as select * from read_parquet('{out}/{table}/*.parquet')")
    for view, folder in (("truth", "attempt_context"), ("offer_truth", "offers"), ("candidates", "offer_candidates")):
        if (out / "_truth" / folder).is_dir():
            connection.execute(f"create view {view} as select * from read_parquet('{out}/_truth/{folder}/*.parquet')")
    return connection


@pytest.fixture(scope="session")
def sql():
    """`sql(out)`: a DuckDB connection over a simulation's folder (see _connect)."""
    return _connect
