"""Injected contract violations are counted exactly; memory is bounded by the chunk; bad arguments say what to pass."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from payloom_sim import SimulatorError, simulate
from payloom_sim.attempt_tables import DIRTY_ATTEMPT_KINDS
from payloom_sim.customer_stream import DIRTY_OFFER_KINDS


def test_dirty_rows_in_the_files_are_the_ones_in_the_manifest(dirty_dir: Path, sql) -> None:
    manifest = json.loads((dirty_dir / "_manifest.json").read_text())
    injected = manifest["dirty_rows"]["payment_attempts"]
    assert set(injected) == set(DIRTY_ATTEMPT_KINDS) and all(count == 20 for count in injected.values())
    db = sql(dirty_dir)
    found = dict(zip(DIRTY_ATTEMPT_KINDS, db.execute("""
        select count(*) filter (where card_id is null), count(*) filter (where amount_minor < 0),
               count(*) filter (where currency_code = 'ZZZ'), count(*) filter (where attempted_at >= '2100-01-01'),
               count(*) - count(distinct attempt_id)
        from payment_attempts""").fetchone()))
    assert found == injected
    exact_copies = db.execute("select count(*) from (select distinct * from payment_attempts)").fetchone()[0]
    assert exact_copies == manifest["rows"]["payment_attempts"] - injected["duplicate_attempt_id"]
    offers = manifest["dirty_rows"]["offers"]
    assert set(offers) == set(DIRTY_OFFER_KINDS) and all(count >= 1 for count in offers.values())
    found_offers = db.execute("""
        select count(*) filter (where revenue_minor < 0), count(*) filter (where product = 'time_machine'),
               count(*) filter (where customer_id not in (select customer_id from customers))
        from offers""").fetchone()
    assert list(found_offers) == [offers[kind] for kind in DIRTY_OFFER_KINDS]


def test_dirty_rows_keep_the_truth_one_row_per_attempt(dirty_dir: Path, sql) -> None:
    db = sql(dirty_dir)
    attempts, truth_rows, unmatched = db.execute("""
        select (select count(distinct attempt_id) from payment_attempts), (select count(*) from truth),
               (select count(*) from truth anti join payment_attempts using (attempt_id))""").fetchone()
    assert attempts == truth_rows and unmatched == 0


def test_clean_rows_do_not_depend_on_the_dirty_fraction(tmp_path: Path, sql) -> None:
    clean = simulate(tmp_path / "clean", attempts=5_000, seed=9, days=5).out_dir
    dirty = simulate(tmp_path / "dirty", attempts=5_000, seed=9, days=5, dirty_fraction=0.01).out_dir
    db = sql(clean)
    changed = db.execute(f"""
        select count(*) from (
            select attempt_id, is_approved, decline_code, gateway from payment_attempts
            except select attempt_id, is_approved, decline_code, gateway from read_parquet('{dirty}/payment_attempts/*.parquet'))""").fetchone()[0]
    assert changed == 0


def _peak_bytes(out: Path, attempts: int) -> int:
    tracemalloc.start()
    try:
        simulate(out, attempts=attempts, seed=1, days=4, write_truth=False, chunk_attempts=5_000, row_group_rows=20_000, threaded=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_chunk_not_the_size(tmp_path: Path) -> None:
    _peak_bytes(tmp_path / "warm-up", 40_000)  # first-call caches are not the simulator's
    small, large = _peak_bytes(tmp_path / "small", 40_000), _peak_bytes(tmp_path / "large", 80_000)
    # Twice the attempts, same chunk and row-group sizes: only the (small) populations grow.
    assert large < 1.5 * small, (small, large)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"attempts": 10}, r"attempts must be between 1,000 and 50,000,000, got 10: pass a size in that range"),
    ({"attempts": 60_000_000}, r"attempts must be between 1,000 and 50,000,000, got 60,000,000"),
    ({"days": 0}, r"days must be between 1 and 3,660, got 0: pass the length of the simulated period"),
    ({"dirty_fraction": 0.5}, r"dirty_fraction must be between 0 and 0.1, got 0.5"),
    ({"start": "yesterday"}, r"start must be a date like 2025-01-01, got 'yesterday'"),
    ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
])
def test_bad_arguments_say_what_to_pass(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(SimulatorError, match=message):
        simulate(tmp_path / "raw", **arguments)


def test_a_non_empty_folder_needs_overwrite(tmp_path: Path) -> None:
    out = simulate(tmp_path / "raw", attempts=1_000, days=2).out_dir
    with pytest.raises(SimulatorError, match="is not empty: pass overwrite=True \\(--overwrite\\) to replace it"):
        simulate(out, attempts=1_000, days=2)
    (out / "notes.txt").write_text("mine")
    summary = simulate(out, attempts=2_000, days=2, overwrite=True)
    assert summary.rows["payment_attempts"] > 1_500 and (out / "notes.txt").read_text() == "mine"


def test_cli_through_the_real_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    ok = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(out), "--attempts", "3k", "--days", "5", "--seed", "4"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "payment_attempts: " in ok.stdout and "payloom-sim: " in ok.stderr and "100%" in ok.stderr
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["dirty_fraction"] == 0.001 and (out / "_truth").is_dir()
    again = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(out), "--attempts", "3000", "--days", "5"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "payloom-sim: error:" in again.stderr and "--overwrite" in again.stderr
    quiet = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(out), "--attempts", "2000", "--days", "3",
                            "--overwrite", "--no-truth", "--quiet"], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "" and not (out / "_truth").exists()
    bad = subprocess.run([sys.executable, "-m", "payloom_sim", "--out", str(tmp_path / "other"), "--attempts", "5"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "payloom-sim: error: attempts must be between 1,000 and 50,000,000" in bad.stderr
