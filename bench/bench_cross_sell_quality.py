"""Issue 6's quality targets, judged by the simulator's truth on worlds of a chosen size.

For each world seed (`--worlds`, default 42, 7, 123), simulates the main job's world at
`--attempts` attempts (customers scale with attempts; offer share 1.5, 120 days, 0.1% dirty
rows, as the main job), builds it with dbt, then runs the main job's cross-sell step
(`scoring.cross_sell_job.train_cross_sell_job`: trains the BCE, payoff and cost-weighted models,
compiles and publishes them, scores the test offers in SQL and judges them) with the main job's
XGBoost seed (the world seed). Per world and budget (5, 10, 20% of the test period's customers):

- `payoff_vs_oracle_expected`: the payoff model's expected net sales (the truth's sum of
  p r̄ - c over the contacted offers) over the oracle's; the target: >= 0.95 at 10%;
- `payoff_vs_oracle_realised`: the same with the realised revenue;
- `payoff_vs_bce_realised` (the target: >= 1.3 at 10%) and `payoff_vs_bce_expected`;
- `catch_change_vs_bce`: accepted offers contacted, payoff over BCE, minus 1 (the catch-rate cost);
- `training_acceptances`: accepted offers in the training period (what the models learn from);
- `true_payoff_vs_true_propensity_expected`: the ceiling of the payoff-over-BCE ratio, from the
  truth alone: ranking the test offers by the true p r̄ - c (the oracle) over ranking them by the
  true p (what a perfect BCE model would do), in expected net sales. Both models tend to these
  rankings as the offer history grows, so the realised payoff / BCE ratio tends to this figure.

The gap to the oracle is the noise of a finite offer history (docs/cross_sell.md): the main job's
200,000 attempts give about 1,250 training acceptances; 800,000 (the default here) about 4,800.
Writes bench/results/cross_sell_quality.json (or `--results`); about 2 minutes per world at the
default size on the 2 cores (quiet machine, stop 15).

    .venv/bin/python bench/bench_cross_sell_quality.py [--attempts 800000] [--worlds 42,7,123]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from scoring.cross_sell_evaluation import BUDGETS, evaluate_budgets  # noqa: E402
from scoring.cross_sell_job import SCORER_NAMES, CrossSellReport, train_cross_sell_job  # noqa: E402
from scoring.cross_sell_models import load_cross_sell_frame, offer_arrays  # noqa: E402
from scoring.cross_sell_oracle import offer_truth  # noqa: E402
from scoring.training_sets import time_ordered_split  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cross_sell_quality.json"


def build_world(workspace: Workspace, seed: int, attempts: int) -> float:
    """Simulate and build the main job's world of `attempts` attempts; returns the seconds taken."""
    from payloom_sim import simulate
    from scoring.feature_build import build_features

    began = time.perf_counter()
    simulate(workspace.raw_dir, attempts=attempts, seed=seed, start="2025-01-01", days=120, dirty_fraction=0.001,
             overwrite=True, offer_share=1.5)
    build_features(workspace, feature_cutoff_at=datetime(2025, 1, 1) + timedelta(days=120), exclude="tag:scores", echo=None)
    return time.perf_counter() - began


def world_figures(report: CrossSellReport, training_acceptances: int) -> dict[str, float]:
    """The flat figures of one world's cross-sell report (module docstring)."""
    rows = report.budget_table.rows
    payoff, bce = SCORER_NAMES["payoff"], SCORER_NAMES["propensity"]
    figures: dict[str, float] = {"training_acceptances": float(training_acceptances)}
    for budget in BUDGETS:
        at = f"at_{round(budget * 100)}pct"
        figures[f"payoff_vs_oracle_expected_{at}"] = report.oracle_ratio(budget)
        figures[f"payoff_vs_oracle_realised_{at}"] = rows[payoff][budget].net_sales / rows[SCORER_NAMES["oracle"]][budget].net_sales
        figures[f"payoff_vs_bce_realised_{at}"] = report.net_sales_ratio(budget)
        figures[f"payoff_vs_bce_expected_{at}"] = report.net_sales_ratio(budget, expected=True)
        figures[f"catch_change_vs_bce_{at}"] = rows[payoff][budget].accepted / max(rows[bce][budget].accepted, 1e-9) - 1
    return figures


def true_ranking_ratios(workspace: Workspace) -> dict[str, float]:
    """Expected net sales of ranking the job's test offers by the true payoff over ranking them by
    the true p, per budget (the asymptote of payoff / BCE; module docstring)."""
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        test = time_ordered_split(load_cross_sell_frame(connection))[2]
    accepted, revenue, cost = offer_arrays(test)
    truth = offer_truth(workspace.raw_dir, test.keys, cost)
    if truth is None:
        raise SystemExit(f"{workspace.raw_dir} has no simulator truth (_truth/offers)")
    table = evaluate_budgets({"payoff": truth[0], "propensity": truth[1]}, accepted, revenue, cost,
                             customers=len(np.unique(test.extras["customer_id"])), expected_payoff=truth[0])
    return {f"true_payoff_vs_true_propensity_expected_at_{round(budget * 100)}pct": table.ratio("payoff", "propensity", budget, expected=True)
            for budget in BUDGETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=800_000, help="world size (customers scale with it); main job: 200,000")
    parser.add_argument("--worlds", default="42,7,123", help="world seeds, comma-separated (each also the XGBoost seed, as in the main job)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    arguments = parser.parse_args()
    worlds = [int(seed) for seed in arguments.worlds.split(",")]
    figures: dict[str, float] = {"attempts": float(arguments.attempts), "worlds": float(len(worlds))}
    per_world: list[dict[str, float]] = []
    for seed in worlds:
        workspace = Workspace.at(Path(tempfile.mkdtemp(prefix=f"cross_sell_quality_{seed}_")))
        print(f"world seed {seed}: simulating and building {arguments.attempts:,} attempts in {workspace.root}", file=sys.stderr, flush=True)
        build_seconds = build_world(workspace, seed, arguments.attempts)
        began = time.perf_counter()
        report = train_cross_sell_job(workspace, seed=seed, echo=None)
        job_seconds = time.perf_counter() - began
        world = world_figures(report, report.training_acceptances)
        world.update(true_ranking_ratios(workspace))
        world["build_seconds"], world["cross_sell_job_seconds"] = build_seconds, job_seconds
        per_world.append(world)
        figures.update({f"world_{seed}_{name}": value for name, value in world.items()})
        print(report.format(), file=sys.stderr, flush=True)
        shutil.rmtree(workspace.root, ignore_errors=True)
    for name in per_world[0]:
        values = [world[name] for world in per_world]
        figures[f"mean_{name}"] = float(np.mean(values))
        figures[f"min_{name}"] = float(np.min(values))
    for key, value in figures.items():
        print(f"  {key:<58} {value:>12.4f}")
    arguments.results.parent.mkdir(parents=True, exist_ok=True)
    arguments.results.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {arguments.results}")


if __name__ == "__main__":
    main()
