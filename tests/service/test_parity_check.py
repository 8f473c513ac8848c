"""`payloom check-parity` through its real entry point: sampled attempts replayed as online
decisions on a scratch store agree with the offline SQL path, and a tampered offline score is
reported (field, online and offline values) with exit status 1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from scoring.online_offline_parity import sample_attempt_ids
from scoring.workspace import Workspace


def test_check_parity_finds_no_difference_and_reports_a_tampered_score(served, tmp_path):
    root = tmp_path / "workspace"
    shutil.copytree(served.workspace.root, root, ignore=shutil.ignore_patterns("feature_store"))
    workspace = Workspace.at(root)
    sampled = sample_attempt_ids(workspace, 3, seed=5)
    assert len(sampled) == 3 and sampled == sample_attempt_ids(workspace, 3, seed=5)
    tampered = sampled[1]
    with duckdb.connect(str(workspace.warehouse)) as connection:
        connection.execute(
            "update scores.scores_issuer_decline set decline_probability = decline_probability + 0.01 where attempt_id = ?",
            [tampered],
        )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "payloom"), "check-parity", "--workspace", str(root), "--sample", "3", "--seed", "5", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    out = result.stdout
    assert "Materializing" not in out  # Feast's progress stays off the report
    assert "3 attempts replayed as online decisions, 159 fields compared with the offline SQL path, 1 differ" in out, out
    assert "attempts with differences: 1 of 3" in out
    line = next(line for line in out.splitlines() if tampered in line)
    assert "decline_probability" in line
    assert not (root / "feature_store").exists(), "the replay must not touch the workspace's own feature store"
