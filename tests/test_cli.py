"""The `payloom` command through its real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import raw_factory

PAYLOOM = [str(Path(sys.executable).parent / "payloom")]


def run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PAYLOOM, *arguments], capture_output=True, text=True, timeout=600)


def test_build_own_raw_directory_prints_summary(tmp_path):
    raw_factory.write_payment_attempts(tmp_path / "raw", raw_factory.random_payment_attempts(300, random_state=2))
    result = run("build", "--raw-dir", str(tmp_path / "raw"), "--workspace", str(tmp_path / "ws"),
                 "--feature-cutoff-at", "2025-05-01", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "payment_attempts" in result.stdout and "300 raw" in result.stdout
    assert "card_features" in result.stdout
    again = run("summary", "--workspace", str(tmp_path / "ws"))
    assert again.returncode == 0 and "fct_authorizations" in again.stdout
    # Models train on the built workspace although its raw data lives elsewhere (no oracle there).
    trained = run("train", "--workspace", str(tmp_path / "ws"), "--candidates", "1", "--quiet")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "issuer_decline v0001 (compiled, from SQL)" in trained.stdout and "simulator oracle" not in trained.stdout


def test_train_before_build_exits_2_with_what_to_do(tmp_path):
    result = run("train", "--workspace", str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "warehouse.duckdb does not exist; build the workspace first" in result.stderr and "Traceback" not in result.stderr


def test_bad_raw_directory_exits_2_with_the_reason(tmp_path):
    frame = raw_factory.random_payment_attempts(20).drop(columns=["gateway"])
    raw_factory.write_table(tmp_path / "raw", "payment_attempts", frame)
    result = run("build", "--raw-dir", str(tmp_path / "raw"), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2
    assert "payloom: error: raw table 'payment_attempts'" in result.stderr and "no column 'gateway'" in result.stderr
    assert "Traceback" not in result.stderr


def test_prepare_training_sets_indexes_the_built_feature_tables(tmp_path):
    features = tmp_path / "ws" / "features"
    features.mkdir(parents=True)
    duckdb.sql(f"copy (select 'c1' as card_id, timestamp '2025-01-01' as event_timestamp, 5::bigint as attempts_30d) "
               f"to '{features / 'card_features.parquet'}'")
    result = run("prepare-training-sets", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"card_activity: {features / '.pit_index' / 'card_features-'}")
    assert (features / ".pit_index").is_dir() and len(result.stdout.splitlines()) == 1  # only the built table
    missing = run("prepare-training-sets", "--workspace", str(tmp_path / "ws"), "--service", "cross_sell_v1")
    assert missing.returncode == 2 and "customer_features.parquet is missing: run `payloom build`" in missing.stderr
