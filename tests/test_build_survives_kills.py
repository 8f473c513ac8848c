"""`payloom build` killed, interrupted or blocked, through its real entry point.

- `kill -9` of payloom mid-build takes dbt with it (no orphan holding the warehouse lock), the
  feature tables stay those of the previous build (every file byte for byte, none from the
  killed build), and the next build runs and publishes all of its tables.
- A warehouse held by another process is one `payloom: error:` line naming that process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import raw_factory

PAYLOOM = str(Path(sys.executable).parent / "payloom")


def build_command(raw: Path, workspace: Path) -> list[str]:
    return [PAYLOOM, "build", "--raw-dir", str(raw), "--workspace", str(workspace), "--feature-cutoff-at", "2025-05-01"]


def feature_hashes(workspace: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted((workspace / "features").glob("*.parquet"))}


def processes_on(warehouse: Path) -> list[int]:
    """PIDs of live processes whose environment points dbt at `warehouse`."""
    found = []
    needle = f"PAYLOOM_WAREHOUSE={warehouse}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if needle in environment.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def test_kill_9_mid_build_leaves_no_dbt_and_the_previous_features(tmp_path):
    raw = tmp_path / "raw"
    raw_factory.write_payment_attempts(raw, raw_factory.random_payment_attempts(400, random_state=5))
    workspace = tmp_path / "ws"
    first = subprocess.run(build_command(raw, workspace), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    before = feature_hashes(workspace)
    assert "card_features.parquet" in before and len(before) >= 5

    # New raw data, so the second build would write different feature files.
    raw_factory.write_payment_attempts(raw, raw_factory.random_payment_attempts(500, random_state=6))
    build = subprocess.Popen(build_command(raw, workspace), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert build.stderr is not None
    for line in build.stderr:  # dbt's progress, echoed: kill once the first feature table is written
        if "external model" in line and " OK " in line:
            break
    else:
        raise AssertionError("the build ended before it wrote a feature table")
    assert processes_on(workspace / "warehouse.duckdb"), "dbt should be running when payloom is killed"
    os.kill(build.pid, signal.SIGKILL)
    build.wait()

    deadline = time.monotonic() + 20
    while processes_on(workspace / "warehouse.duckdb") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_on(workspace / "warehouse.duckdb") == [], "dbt outlived the killed payloom"
    assert feature_hashes(workspace) == before  # nothing of the killed build is visible

    again = subprocess.run(build_command(raw, workspace), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = feature_hashes(workspace)
    assert after.keys() == before.keys() and after["card_features.parquet"] != before["card_features.parquet"]
    assert len(list((workspace / ".feature_builds").iterdir())) == 1  # the killed build's folder is gone
    summary = subprocess.run([PAYLOOM, "summary", "--workspace", str(workspace)], capture_output=True, text=True, timeout=300)
    assert summary.returncode == 0 and "500 raw" in summary.stdout, summary.stdout + summary.stderr


def test_a_held_warehouse_is_one_error_line_naming_the_holder(tmp_path):
    raw = tmp_path / "raw"
    raw_factory.write_payment_attempts(raw, raw_factory.random_payment_attempts(50, random_state=1))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(workspace / 'warehouse.duckdb')!r}); "
                               "print('held', flush=True); time.sleep(120)  # payloom-lock-holder"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = subprocess.run(build_command(raw, workspace), capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"payloom: error: the warehouse {workspace / 'warehouse.duckdb'} is held by process {holder.pid}")
    assert "payloom-lock-holder" in result.stderr and "wait for it to finish or stop it" in result.stderr
