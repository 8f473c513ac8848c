"""The main job end to end: simulate a small world, dbt build everything, train and compile the
decline models, score every attempt in SQL, print the summary with PR-AUC against rules and oracle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb


def test_payloom_run_simulates_builds_and_summarises(tmp_path):
    workspace = tmp_path / "world"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "payloom"), "run", "--workspace", str(workspace),
         "--attempts", "20000", "--seed", "3", "--days", "100", "--candidates", "2", "--quiet"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    for expected in ("raw tables (rows = clean + quarantined)", "quarantine reasons:", "card_features",
                     "gateway_segment_features", "training.training_issuer_decline", "timings: simulate",
                     "issuer-decline models: issuer_decline v0001", "simulator oracle", "rule baseline",
                     "(compiled, from SQL)", "recommended actions on the test period", "train_compile_score",
                     "feature store (Feast, SQLite online store): 7 feature views materialised",
                     "equals its latest offline row in card_features: yes",
                     "online decision (in-process", "gateways by P(approve): gw_", "online features found in 4/4 views",
                     "next-best offer for customer ", "(holds ", "optimisation (bandit, optimization_bandit v0001): ",
                     "cross-sell models: cross_sell_propensity v0001", "payoff / BCE net sales", "contact lists of now",
                     "contact list: ", "offers quarantined: ", "gateway health: bandit on (last 1,200 judged decisions",
                     "bandit - static per model version"):
        assert expected in out, expected
    with duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True) as connection:
        raw, clean, quarantined = connection.execute(
            "select (select count(*) from raw.payment_attempts), (select count(*) from marts.fct_authorizations),"
            " (select count(*) from marts.quarantined_rows where table_name = 'payment_attempts')"
        ).fetchone()
        scored = connection.execute("select count(*) from scores.scores_issuer_decline").fetchone()[0]
    assert abs(raw - 20_000) <= 200 and quarantined > 0 and raw == clean + quarantined
    assert scored == clean, "the batch scores cover every clean attempt"
    assert (workspace / "cross_sell" / "contact_list.csv").is_file() and (workspace / "cross_sell" / "gains_lift.csv").is_file()
