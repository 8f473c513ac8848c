"""Profile: where one decision request's time goes inside the service process.

The app of `payloom serve` (`create_app` on a trained workspace: the real decider, its decision
spool, metrics, token) is called directly as an ASGI application with real payments (no
sockets: uvicorn's HTTP parsing and the socket work are measured separately, by wrk against
/healthz in bench/bench_service_wrk.py). First the plain timings per request: the whole app
call, and `DeclineDecider.decide` alone on the same payments; then the same app calls under
cProfile, and the share of the app's time in each part of the decision (cumulative time of the
named functions / total).

Writes bench/results/service_profile.json (flat) and prints the top functions.

    .venv/bin/python bench/profile_service_request.py --workspace /tmp/svcdev [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_decisions import real_payments  # noqa: E402
from bench_service_overhead import TOKEN, _drive  # noqa: E402
from scoring.decision_service import create_app  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "service_profile.json"

#: Parts of a request: (result key, function name as pstats lists it, file name ending).
PARTS = (
    ("decide", "decide", "decline_decision.py"),
    ("payment_parse", "parse", "payment_request.py"),
    ("online_read", "read_requests", "online_reads.py"),
    ("forests_predict", "predict_matrix", "forest.py"),
    ("bandit_optimization", "_optimizations", "decline_decision.py"),
    ("decision_assembly", "_decision", "decline_decision.py"),
    ("spool_add_rows", "add_rows", "decision_spool.py"),
    ("metrics_observe", "observe_request", "service_metrics.py"),
)


def cumulative_share(stats: pstats.Stats, function: str, file_end: str, total: float) -> float:
    seconds = sum(entry[3] for (path, _, name), entry in stats.stats.items() if name == function and path.endswith(file_end))
    return seconds / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace `payloom run` trained and materialised")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--without-customer", action="store_true", help="payments without customer_id (no next-best offer)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-service-") as scratch:
        root = Path(scratch) / "workspace"  # a copy: the spool this writes is not the workspace's
        shutil.copytree(arguments.workspace, root, ignore=shutil.ignore_patterns("decision_spool", "warehouse.duckdb*"))
        shutil.copy(Path(arguments.workspace) / "warehouse.duckdb", root / "warehouse.duckdb")
        workspace = Workspace.at(root, redis_address=None)
        payments = real_payments(workspace, 4)
        if arguments.without_customer:
            payments = [{key: value for key, value in payment.items() if key != "customer_id"} for payment in payments]
        bodies = [orjson.dumps(payment) for payment in payments]
        app = create_app(workspace, TOKEN)
        decider = app.state.decider
        results: dict[str, float] = {"host_cpus": os.cpu_count() or 0, "host_load_average_1m_at_start": os.getloadavg()[0],
                                     "payments_name_customer": 0.0 if arguments.without_customer else 1.0}

        async def calls(count: int) -> np.ndarray:
            parts = [await _drive(app, bodies[index % len(bodies)], 1) for index in range(count)]
            return np.concatenate(parts)

        asyncio.run(calls(300))  # warm-up
        app_us = asyncio.run(calls(arguments.requests))
        decide_us = np.empty(arguments.requests)
        for index in range(arguments.requests):
            payment = payments[index % len(payments)]
            began = time.perf_counter()
            decider.decide(payment)
            decide_us[index] = (time.perf_counter() - began) * 1e6
        results.update({
            "app_call_p50_us": float(np.percentile(app_us, 50)), "app_call_p99_us": float(np.percentile(app_us, 99)),
            "decide_p50_us": float(np.percentile(decide_us, 50)), "decide_p99_us": float(np.percentile(decide_us, 99)),
        })
        results["app_overhead_over_decide_p50_us"] = results["app_call_p50_us"] - results["decide_p50_us"]
        results["ratio_app_call_vs_decide_p50"] = results["app_call_p50_us"] / results["decide_p50_us"]

        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(calls(arguments.requests))
        profiler.disable()
        decider.spool.close()
        stats = pstats.Stats(profiler)
        total = stats.total_tt
        for key, function, file_end in PARTS:
            results[f"profile_share_{key}"] = cumulative_share(stats, function, file_end, total)
        printed = io.StringIO()
        pstats.Stats(profiler, stream=printed).sort_stats("tottime").print_stats(15)
        print(printed.getvalue(), file=sys.stderr)
    write_results(results, arguments.results)


if __name__ == "__main__":
    main()
