"""`payloom replay-policies` through its real entry point: prints the comparison, writes table, chart and OPE checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_replay_policies_command(tmp_path):
    out = tmp_path / "replay"
    result = subprocess.run([str(Path(sys.executable).parent / "payloom"), "replay-policies", "--days", "4", "--payments-per-day", "300",
                             "--seed", "3", "--gateway-spread", "2.5", "--no-health", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for expected in ("closed-loop replay: 4 days", "gateway spread 2.5, gateway health: bandit off, IPW routing off", "static", "ipw_routing", "bandit", "oracle", "quality targets:",
                     "bandit - static per model version", "OPE v1", "IPS 0.", "(IPS: the held-out truth"):
        assert expected in result.stdout, expected
    table = pd.read_csv(out / "replay_table.csv", index_col=0)
    assert list(table.index) == ["static", "ipw_routing", "bandit", "oracle", "routing_oracle"]
    assert table.loc["static", "lift_share"] == 0 and table.loc["oracle", "lift_share"] == 1
    assert len(pd.read_parquet(out / "replay_daily.parquet")) == 5 * 4
    assert (out / "replay_chart.svg").read_text().startswith("<svg") and (out / "replay_ope.csv").is_file()
