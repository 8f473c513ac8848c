"""The main job: simulate a payments world, build every feature with dbt, train and compile the
decline models, score every attempt in SQL, and print a summary with PR-AUC against the rule
baseline and the simulator's oracle. The features are applied to Feast and materialised to the
online store (SQLite), one card's features are read back online, and one payment is decided
online (Feast features + compiled models + decline policy). The cross-sell step trains the
propensity and expected-payoff models, prints their budget table and writes the contact list
(`scoring.cross_sell_job`). Last, a short closed-loop replay compares the routing policies on
simulated days with a gateway degradation."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from scoring.cross_sell_job import CrossSellReport, train_cross_sell_job
from scoring.decline_training_job import DeclineTrainingReport, train_decline_job
from scoring.feature_build import build_features
from scoring.feature_publication import remove_feature_builds
from scoring.first_decision import OnlineDecision, make_one_decision
from scoring.feature_serving import FeatureServingSummary, serve_features
from scoring.run_summary import WorkspaceSummary, summarize_workspace
from scoring.workspace import Workspace

if TYPE_CHECKING:
    from scoring.replay_report import ReplaySummary

__all__ = ["MainJobResult", "run_main_job"]


@dataclass
class MainJobResult:
    """What the main job produced, with wall time per step in seconds."""

    workspace: Workspace
    summary: WorkspaceSummary
    decline_report: DeclineTrainingReport
    serving: FeatureServingSummary
    decision: OnlineDecision
    replay: ReplaySummary
    seconds: dict[str, float]
    cross_sell_report: CrossSellReport | None = None


def run_main_job(
    workspace: Workspace,
    *,
    attempts: int = 200_000,
    seed: int = 42,
    start: str = "2025-01-01",
    days: int = 120,
    dirty_fraction: float = 0.001,
    candidates: int = 6,
    offer_share: float = 1.5,
    echo: TextIO | None = sys.stderr,
) -> MainJobResult:
    """Simulate into `workspace.raw_dir` (replacing it), build features, train and score, summarise.

    Features are stamped as of the end of the simulated period, the "now" of that world. The
    models of an earlier run stay in the registry as older versions; the new ones are promoted.
    `offer_share` (cross-sell offers per customer and 30 days) is well above the simulator's 5%
    default so the cross-sell models have thousands of past offers to learn from and be judged on.
    """
    from payloom_sim import simulate  # imported here: the CLI's other commands do not need it

    seconds: dict[str, float] = {}
    began = time.perf_counter()
    if workspace.root.exists():
        workspace.warehouse.unlink(missing_ok=True)
        remove_feature_builds(workspace)
    simulate(
        workspace.raw_dir,
        attempts=attempts,
        seed=seed,
        start=start,
        days=days,
        dirty_fraction=dirty_fraction,
        overwrite=True,
        progress=echo,
        offer_share=offer_share,
    )
    seconds["simulate"] = time.perf_counter() - began
    end_of_world = datetime.fromisoformat(start) + timedelta(days=days)
    began = time.perf_counter()
    build_features(workspace, feature_cutoff_at=end_of_world, exclude="tag:scores", echo=echo)
    seconds["dbt_build"] = time.perf_counter() - began
    began = time.perf_counter()
    serving = serve_features(workspace, start=datetime.fromisoformat(start), end=end_of_world, echo=echo)
    seconds["feast_apply_materialize"] = time.perf_counter() - began
    began = time.perf_counter()
    decline_report = train_decline_job(workspace, candidates=candidates, seed=seed, echo=echo)
    seconds["train_compile_score"] = time.perf_counter() - began
    began = time.perf_counter()
    cross_sell_report = train_cross_sell_job(workspace, seed=seed, echo=echo)
    seconds["cross_sell"] = time.perf_counter() - began
    began = time.perf_counter()
    decision = make_one_decision(workspace, end_of_world)
    seconds["online_decision"] = time.perf_counter() - began
    from scoring.replay_report import run_closed_loop_summary  # XGBoost training: only when the job gets this far

    began = time.perf_counter()
    replay = run_closed_loop_summary(days=14, payments_per_day=1_000, seed=seed, out_dir=workspace.root / "replay")
    seconds["closed_loop_replay"] = time.perf_counter() - began
    return MainJobResult(workspace=workspace, summary=summarize_workspace(workspace), decline_report=decline_report,
                         serving=serving, decision=decision, replay=replay, seconds=seconds,
                         cross_sell_report=cross_sell_report)
