"""Benchmark: the decision service over HTTP measured by an independent generator, wrk.

bench/bench_decisions.py drives the service with payloom's own open-loop generator. This one
uses wrk (`make wrk`: Debian's package), a closed-loop C generator: `-c N` connections each send
a request as soon as their previous answer arrives, so the offered rate is whatever the
service sustains at that concurrency, and latency is per answer (no coordinated-omission
correction: wrk2 is not packaged). Stepping N up (1, 2, 4, 8, ...) traces throughput against
latency; the highest throughput whose p99 stays <= 5 ms with no errors is this generator's
answer to "the highest rate holding p99 <= 5 ms", to set beside the open-loop sweep.

Per `--workers` value: `payloom serve` (SQLite store, a token) on the workspace, warmed up, then
per connection count `--seconds` of POST /v1/decisions/decline cycling over `--clients` real
payments (one wrk thread; the generator shares the 2 cores). Then GET /healthz at the highest
connection count: the HTTP stack's own ceiling (uvicorn + FastAPI, no decision), the floor a
decision adds to.

Writes bench/results/service_wrk.json (flat; `wrk_<workers>w_c<N>_*`, `ratio_*`).

    make wrk
    .venv/bin/python bench/bench_service_wrk.py --workspace /tmp/svcdev
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_decisions import TOKEN, free_port, real_payments, start_service, stop_service  # noqa: E402
from scoring.decision_service import DECLINE_PATH, HEALTH_PATH  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "service_wrk.json"
P99_BUDGET_MS = 5.0

#: wrk script: POST the bodies in turn; at the end print one JSON line of the summary (µs).
LUA = """
local bodies = {%(bodies)s}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("%(method)s", "%(path)s", headers, %(body_expression)s)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def lua_literal(text: str) -> str:
    return "[==[" + text + "]==]"


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    """One wrk run (1 thread, `connections` connections); requests/s, latency percentiles (ms), errors."""
    output = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url],
                            capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    found = re.search(r"WRKJSON (\{.*\})", output)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    summary = json.loads(found.group(1))
    return {
        "requests_per_second": summary["requests"] / (summary["duration_us"] / 1e6),
        "errors": float(summary["errors"]),
        "p50_ms": summary["p50_us"] / 1000, "p90_ms": summary["p90_us"] / 1000, "p99_ms": summary["p99_us"] / 1000,
        "p999_ms": summary["p999_us"] / 1000, "max_ms": summary["max_us"] / 1000,
        "host_load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace `payloom run` trained and materialised")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4, help="distinct real payments sent in turn")
    parser.add_argument("--without-customer", action="store_true",
                        help="payments without customer_id (no next-best offer), as issue 4 measured them")
    parser.add_argument("--results", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH: run `make wrk`")
    workspace = Workspace.at(arguments.workspace, redis_address=None)
    payments = real_payments(workspace, arguments.clients)
    if arguments.without_customer:
        payments = [{key: value for key, value in payment.items() if key != "customer_id"} for payment in payments]
    results: dict[str, float] = {"host_cpus": os.cpu_count() or 0, "host_load_average_1m_at_start": os.getloadavg()[0],
                                 "payments_name_customer": 0.0 if arguments.without_customer else 1.0}
    connection_counts = [int(value) for value in arguments.connections.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        decision_script = Path(scratch) / "decisions.lua"
        decision_script.write_text(LUA % {
            "bodies": ", ".join(lua_literal(json.dumps(payment)) for payment in payments), "token": TOKEN,
            "method": "POST", "path": DECLINE_PATH, "body_expression": "bodies[(counter % #bodies) + 1]"})
        health_script = Path(scratch) / "healthz.lua"
        health_script.write_text(LUA % {"bodies": "", "token": TOKEN, "method": "GET", "path": HEALTH_PATH, "body_expression": "nil"})
        for workers in [int(value) for value in arguments.workers.split(",")]:
            port = free_port()
            service = start_service(workspace, port, workers)
            url = f"http://127.0.0.1:{port}"
            try:
                run_wrk(url, decision_script, 2, 3)  # warm-up
                best = 0.0
                for connections in connection_counts:
                    step = run_wrk(url, decision_script, connections, arguments.seconds)
                    print(f"  {workers} worker(s), {connections} connections: {step['requests_per_second']:.0f}/s, "
                          f"p50 {step['p50_ms']:.2f} ms, p99 {step['p99_ms']:.2f} ms, {step['errors']:.0f} errors, "
                          f"load {step['host_load_average_1m']:.1f}", file=sys.stderr)
                    for name, value in step.items():
                        results[f"wrk_{workers}w_c{connections}_{name}"] = value
                    if step["p99_ms"] <= P99_BUDGET_MS and step["errors"] == 0:
                        best = max(best, step["requests_per_second"])
                results[f"wrk_{workers}w_highest_rate_holding_p99_5ms_per_second"] = best
                health = run_wrk(url, health_script, connection_counts[-1], arguments.seconds)
                print(f"  {workers} worker(s), GET /healthz at {connection_counts[-1]} connections: "
                      f"{health['requests_per_second']:.0f}/s, p99 {health['p99_ms']:.2f} ms", file=sys.stderr)
                for name, value in health.items():
                    results[f"wrk_{workers}w_healthz_{name}"] = value
            finally:
                stop_service(service)
    if "wrk_1w_highest_rate_holding_p99_5ms_per_second" in results and "wrk_2w_highest_rate_holding_p99_5ms_per_second" in results:
        results["ratio_highest_rate_2_workers_vs_1_worker"] = (
            results["wrk_2w_highest_rate_holding_p99_5ms_per_second"] / max(results["wrk_1w_highest_rate_holding_p99_5ms_per_second"], 1.0))
    write_results(results, arguments.results)


if __name__ == "__main__":
    main()
