"""Benchmark: latency of the online decline decision, in process and over HTTP on loopback.

On a trained workspace (`payloom run --workspace W ...`: Feast applied and materialised into
SQLite, models published), with real attempts of the workspace as payments:

- in process, one payment decided `--calls` times: `DeclineDecider.decide` end to end, the
  online-feature fetch alone (one Feast read of issuer_decline_v1), and scoring alone (feature
  row from the fetched values + both compiled forests + the policy's inputs), as p50 / p99;
- over HTTP: the service (`scoring.decision_service.serve`, uvicorn, one process) started in a
  subprocess on a free loopback port; first sequential requests (p50 / p99), then a simple
  concurrent load generator (`--threads` threads, one requests.Session each, `--seconds`
  long, payments cycling over many real attempts) reporting achieved requests/s, latency and
  errors (any status other than 200, or a failed connection).

Writes bench/results/decisions.json: flat name -> number, units in the names, ratios named
ratio_<what>_vs_<baseline>.

    .venv/bin/python bench/bench_decisions.py --workspace /tmp/svcdev [--calls 2000] [--seconds 20] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.decision_service import DECLINE_PATH, HEALTH_PATH  # noqa: E402
from scoring.decline_decision import DeclineDecider  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "decisions.json"
TOKEN = "bench-token"
TEXT_FIELDS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country",
    "transaction_type", "card_type", "optimization", "currency_code",
)


def real_payments(workspace: Workspace, count: int) -> list[dict[str, Any]]:
    """The latest `count` attempts of the workspace as payment requests (JSON-ready)."""
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        cursor = connection.execute(
            f"""
            select features.{', features.'.join(TEXT_FIELDS[:-1])}, facts.currency_code, facts.amount_minor,
                   features.attempted_at, facts.card_expires_on, features.other_approved_cards
            from intermediate.int_authorization_features as features
            inner join marts.fct_authorizations as facts using (attempt_id)
            order by features.attempted_at desc
            limit {int(count)}
            """
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    payments = []
    for row in rows:
        payment = {name: row[name] for name in TEXT_FIELDS}
        payment["amount_minor"] = int(row["amount_minor"])
        payment["attempted_at"] = row["attempted_at"].isoformat() + "Z"
        payment["card_expires_on"] = row["card_expires_on"].isoformat() if row["card_expires_on"] is not None else None
        payment["other_approved_cards"] = int(row["other_approved_cards"])
        payments.append(payment)
    return payments


def timed(function: Callable[[], Any], calls: int, warmup: int = 50) -> np.ndarray:
    """Milliseconds of each of `calls` calls of `function` (after `warmup` untimed calls)."""
    for _ in range(warmup):
        function()
    out = np.empty(calls)
    for index in range(calls):
        began = time.perf_counter()
        function()
        out[index] = (time.perf_counter() - began) * 1000
    return out


def percentiles(prefix: str, milliseconds: np.ndarray) -> dict[str, float]:
    return {f"{prefix}_p50_ms": float(np.percentile(milliseconds, 50)), f"{prefix}_p99_ms": float(np.percentile(milliseconds, 99))}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workspace: Workspace, port: int) -> subprocess.Popen:
    """The service in its own process (uvicorn, one worker), ready when /healthz answers."""
    code = (
        "from scoring.decision_service import serve; from scoring.workspace import Workspace; "
        f"serve(Workspace.at({str(workspace.root)!r}), '127.0.0.1', {port}, {TOKEN!r})"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-c", code], env=environment, cwd=str(ROOT))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=2).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the service did not answer /healthz within 120 s")


def load(url: str, payments: list[dict[str, Any]], threads: int, seconds: float) -> dict[str, float]:
    """`threads` clients posting payments back to back for `seconds`; throughput, latency, errors."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        with requests.Session() as session:
            position = index
            while time.perf_counter() < stop_at:
                payment = payments[position % len(payments)]
                position += threads
                began = time.perf_counter()
                try:
                    ok = session.post(url, json=payment, headers=headers, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                latencies[index].append((time.perf_counter() - began) * 1000)
                errors[index] += 0 if ok else 1

    began = time.perf_counter()
    workers = [threading.Thread(target=client, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    everything = np.array([value for values in latencies for value in values])
    return {
        "http_load_threads": threads,
        "http_load_seconds": elapsed,
        "http_load_requests": int(len(everything)),
        "http_load_requests_per_second": len(everything) / elapsed,
        "http_load_errors": int(sum(errors)),
        **percentiles("http_load", everything),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace `payloom run` trained and materialised")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=8)
    arguments = parser.parse_args()
    workspace = Workspace.at(arguments.workspace)

    # The host's size and how busy it was: latencies on a shared machine are only comparable with these.
    results: dict[str, float] = {"host_cpus": os.cpu_count() or 0, "host_load_average_1m_at_start": os.getloadavg()[0]}
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        results["workspace_attempts"] = connection.execute("select count(*) from marts.fct_authorizations").fetchone()[0]
    payments = real_payments(workspace, 1000)
    began = time.perf_counter()
    decider = DeclineDecider(workspace)
    results["decider_startup_seconds"] = time.perf_counter() - began
    payment = payments[0]
    request = decider.parse(payment)
    online = decider.fetch_online(request)

    def scoring_only() -> None:
        row = decider.feature_row(request, online)
        decider.score(row)

    print(f"in process: {arguments.calls} calls each on one payment", file=sys.stderr)
    decide = timed(lambda: decider.decide(payment), arguments.calls)
    lookup = timed(lambda: decider.fetch_online(request), arguments.calls)
    scoring = timed(scoring_only, arguments.calls)
    results.update(percentiles("decide", decide))
    results.update(percentiles("feast_lookup", lookup))
    results.update(percentiles("scoring", scoring))
    mixed = np.empty(min(arguments.calls, len(payments)))
    for index in range(len(mixed)):
        began = time.perf_counter()
        decider.decide(payments[index])
        mixed[index] = (time.perf_counter() - began) * 1000
    results.update(percentiles("decide_mixed_payments", mixed))
    results["ratio_decide_vs_feast_lookup_p50"] = results["decide_p50_ms"] / results["feast_lookup_p50_ms"]
    results["ratio_decide_vs_scoring_p50"] = results["decide_p50_ms"] / results["scoring_p50_ms"]
    results["ratio_feast_lookup_vs_scoring_p50"] = results["feast_lookup_p50_ms"] / results["scoring_p50_ms"]

    port = free_port()
    print(f"HTTP: service on 127.0.0.1:{port} (subprocess)", file=sys.stderr)
    server = start_server(workspace, port)
    try:
        url = f"http://127.0.0.1:{port}{DECLINE_PATH}"
        with requests.Session() as session:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            sequential = timed(lambda: session.post(url, json=payment, headers=headers, timeout=10).raise_for_status(), arguments.calls)
        results.update(percentiles("http_sequential", sequential))
        results["ratio_http_sequential_vs_decide_p50"] = results["http_sequential_p50_ms"] / results["decide_p50_ms"]
        print(f"HTTP load: {arguments.threads} threads for {arguments.seconds:g} s", file=sys.stderr)
        results.update(load(url, payments, arguments.threads, arguments.seconds))
        results["ratio_http_load_vs_sequential_p50"] = results["http_load_p50_ms"] / results["http_sequential_p50_ms"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    results["host_load_average_1m_at_end"] = os.getloadavg()[0]
    rounded = {name: round(float(value), 4) for name, value in sorted(results.items())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rounded, indent=2) + "\n")
    print(json.dumps(rounded, indent=2))


if __name__ == "__main__":
    main()
