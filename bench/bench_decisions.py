"""Benchmark: the online decline decision, in process and over HTTP, on SQLite and Redis.

On a trained workspace (`payloom run --workspace W ...`: Feast applied and materialised into
SQLite, models published), with the workspace's latest real attempts as payments:

In process (SQLite store), p50 / p99 over many calls, cycling over different payments:

- baseline: Feast's `get_online_features` of feature service issuer_decline_v1, 1 and 100
  entities (what a Feast user calls);
- payloom's direct read (`scoring.online_reads.ServiceReader`), 1 and 100 entities;
- `DeclineDecider.decide` end to end (read + request-time features + both compiled forests +
  policy + gateway ranking), and `decide_many` of 100 payments;
- `DeclineDecider.decide` with the payer's next-best offer (`customer_id` in the request), and
  the offer alone (`OnlineOfferDecider.offer`).

Over HTTP on loopback, per online store (`--stores sqlite,redis`; Redis: a redis-server started
here on a free port, the workspace copied, applied and materialised into it): the service runs
in its own process (`payloom serve`, `--workers` processes) and an open-loop load generator
(`bench/open_loop_load.py`: request i is due at start + i / rate, latency counts from its due
time, so queueing is not hidden; `--clients` real payments in turn, 64 keep-alive connections)
offers a fixed rate. A sweep of rates (`--rates`, `--step-seconds` each) finds the highest rate
that holds p99 <= 5 ms with no errors and at least 95 % of the offered rate achieved; then
`--seconds` (default 60) at `--target-rate` (default 1000/s). The load generator shares the 2
cores with the service; the host's load average is recorded at each step.

Writes bench/results/decisions.json: flat name -> number, units in the names, ratios named
ratio_<what>_vs_<baseline>.

    make redis         # redis-server for the Redis run
    .venv/bin/python bench/bench_decisions.py --workspace /tmp/svcdev
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from open_loop_load import offer_open_loop  # noqa: E402
from scoring.decision_service import DECLINE_PATH, READY_PATH  # noqa: E402
from scoring.decline_decision import FEATURE_SERVICE, DeclineDecider  # noqa: E402
from scoring.online_reads import ServiceReader  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "decisions.json"
TOKEN = "bench-token"
P99_BUDGET_MS = 5.0
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
                   features.attempted_at, facts.card_expires_on, features.other_approved_cards, facts.customer_id
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
        payment["customer_id"] = row["customer_id"]
        payments.append(payment)
    return payments


def timed_cycle(function: Callable[[Any], Any], inputs: list[Any], calls: int, warmup: int = 50) -> np.ndarray:
    """Milliseconds of each of `calls` calls of `function`, cycling over `inputs` (after a warm-up)."""
    for index in range(warmup):
        function(inputs[index % len(inputs)])
    out = np.empty(calls)
    for index in range(calls):
        argument = inputs[index % len(inputs)]
        began = time.perf_counter()
        function(argument)
        out[index] = (time.perf_counter() - began) * 1000
    return out


def percentiles(prefix: str, milliseconds: np.ndarray) -> dict[str, float]:
    return {f"{prefix}_p50_ms": float(np.percentile(milliseconds, 50)), f"{prefix}_p99_ms": float(np.percentile(milliseconds, 99))}


def in_process(workspace: Workspace, payments: list[dict[str, Any]], calls: int) -> dict[str, float]:
    """Feast's read (baseline), payloom's read, decide and decide_many, on the SQLite store."""
    results: dict[str, float] = {}
    began = time.perf_counter()
    decider = DeclineDecider(workspace)
    results["decider_startup_seconds"] = time.perf_counter() - began
    store, reader = decider.store, ServiceReader(decider.store, FEATURE_SERVICE)
    service = store.get_feature_service(FEATURE_SERVICE)
    with_customer = payments
    payments = [{key: value for key, value in payment.items() if key != "customer_id"} for payment in payments]
    rows = [decider.parse(payment).entity_row() for payment in payments]
    batches = [rows[start: start + 100] for start in range(0, len(rows) - 99, 100)]

    def feast_read(entity_rows: list[dict]) -> None:
        store.get_online_features(features=service, entity_rows=entity_rows, full_feature_names=True).to_dict()

    print(f"in process: {calls} calls each, cycling over {len(payments)} payments", file=sys.stderr)
    results.update(percentiles("feast_read_1_entity", timed_cycle(lambda row: feast_read([row]), rows, calls)))
    results.update(percentiles("payloom_read_1_entity", timed_cycle(reader.read, rows, calls)))
    results.update(percentiles("feast_read_100_entities", timed_cycle(feast_read, batches, max(20, calls // 20), warmup=3)))
    results.update(percentiles("payloom_read_100_entities", timed_cycle(reader.read_many, batches, max(20, calls // 20), warmup=3)))
    results.update(percentiles("decide_1_payment", timed_cycle(decider.decide, payments, calls)))
    if decider.offers is not None:
        # The same payments naming their customer: + the next-best offer (two more reads, 2 x ~7 candidates scored).
        results.update(percentiles("decide_1_payment_with_offer", timed_cycle(decider.decide, with_customer, calls)))
        customers = [(payment["customer_id"], decider.parse(payment).attempted_at) for payment in with_customer]
        results.update(percentiles("offer_1_customer", timed_cycle(lambda pair: decider.offers.offer(*pair), customers, calls)))
    payment_batches = [payments[start: start + 100] for start in range(0, len(payments) - 99, 100)]
    results.update(percentiles("decide_many_100_payments", timed_cycle(decider.decide_many, payment_batches, max(20, calls // 20), warmup=3)))
    for size in ("1_entity", "100_entities"):
        results[f"ratio_payloom_read_speed_vs_feast_read_{size}_p50"] = (
            results[f"feast_read_{size}_p50_ms"] / results[f"payloom_read_{size}_p50_ms"]
        )
    results["ratio_decide_vs_feast_read_1_entity_p50"] = results["decide_1_payment_p50_ms"] / results["feast_read_1_entity_p50_ms"]
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free loopback port, without persistence; (process, host:port)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not on PATH: run `make redis`")
    port = free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            return process, f"127.0.0.1:{port}"
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer within 10 s")


def redis_copy(workspace: Workspace, directory: Path, address: str) -> Workspace:
    """A copy of `workspace` served from the Redis at `address`, applied and materialised."""
    from scoring.feature_store import apply_feature_store, materialize_feature_store

    root = directory / "workspace"
    shutil.copytree(workspace.root, root, ignore=shutil.ignore_patterns("*.db"))
    copy = Workspace.at(root, redis_address=address)
    apply_feature_store(copy)
    with duckdb.connect() as connection:
        start, end = connection.execute(
            f"select min(event_timestamp), max(event_timestamp) from read_parquet('{copy.features_dir / 'card_features.parquet'}')"
        ).fetchone()
    # Every feature row of the copy's window, as the SQLite store of `payloom run` holds them.
    materialize_feature_store(copy, start - timedelta(days=1), end + timedelta(days=2))
    return copy


def start_service(workspace: Workspace, port: int, workers: int) -> subprocess.Popen:
    """`payloom serve` in its own process group, ready when /readyz answers 200 (models loaded, store reachable)."""
    environment = {**os.environ, "PAYLOOM_SERVICE_TOKEN": TOKEN}
    if workspace.redis_address is not None:
        environment.update(PAYLOOM_ONLINE_STORE="redis", PAYLOOM_REDIS_URL=workspace.redis_address)
    else:
        environment["PAYLOOM_ONLINE_STORE"] = "sqlite"
    command = [str(Path(sys.executable).parent / "payloom"), "serve", "--workspace", str(workspace.root),
               "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=environment, cwd=str(ROOT), start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}{READY_PATH}", timeout=2).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    os.killpg(process.pid, 15)
    raise RuntimeError("the service was not ready (/readyz) within 180 s")


def stop_service(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def offer_load(url: str, bodies: list[Path], rate: float, seconds: float) -> dict[str, float]:
    """`rate` requests/s offered open-loop for `seconds` (bench/open_loop_load.py); latency of every request."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    load_before = os.getloadavg()[0]
    result = offer_open_loop(host, int(port), path, [body.read_bytes() for body in bodies], {"Authorization": f"Bearer {TOKEN}"},
                             rate=rate, seconds=seconds)
    milliseconds = np.array(result.latencies_ms)
    return {
        "offered_per_second": rate,
        "achieved_per_second": len(milliseconds) / result.seconds,
        "errors": sum(1 for status in result.statuses if status != 200),
        "p50_ms": float(np.percentile(milliseconds, 50)) if len(milliseconds) else float("nan"),
        "p99_ms": float(np.percentile(milliseconds, 99)) if len(milliseconds) else float("nan"),
        "host_load_average_1m": max(load_before, os.getloadavg()[0]),
    }


def holds(step: dict[str, float]) -> bool:
    """p99 within budget, no errors, and at least 95 % of the offered rate served."""
    return step["p99_ms"] <= P99_BUDGET_MS and step["errors"] == 0 and step["achieved_per_second"] >= 0.95 * step["offered_per_second"]


def over_http(workspace: Workspace, store: str, payments: list[dict[str, Any]], arguments: argparse.Namespace) -> dict[str, float]:
    """The rate sweep and the long run at the target rate against one online store."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-decisions-{store}-") as scratch:
        directory = Path(scratch)
        redis_process = None
        if store == "redis":
            redis_process, address = start_redis(directory)
            print(f"HTTP ({store}): materialising a copy of the workspace into redis {address}", file=sys.stderr)
            workspace = redis_copy(workspace, directory, address)
        bodies = []
        for index, payment in enumerate(payments[: arguments.clients]):
            body = directory / f"payment_{index}.json"
            body.write_text(json.dumps(payment))
            bodies.append(body)
        port = free_port()
        service = start_service(workspace, port, arguments.workers)
        try:
            url = f"http://127.0.0.1:{port}{DECLINE_PATH}"
            offer_load(url, bodies, 200, 3)  # warm-up
            best = 0.0
            for rate in arguments.rates:
                step = offer_load(url, bodies, rate, arguments.step_seconds)
                print(f"  {store} {rate:>6.0f}/s offered: {step['achieved_per_second']:.0f}/s served, p50 {step['p50_ms']:.2f} ms, "
                      f"p99 {step['p99_ms']:.2f} ms, {step['errors']} errors, load {step['host_load_average_1m']:.1f}", file=sys.stderr)
                for name, value in step.items():
                    results[f"http_{store}_sweep_{int(rate)}_{name}"] = value
                if holds(step):
                    best = max(best, rate)
            results[f"http_{store}_highest_rate_holding_p99_5ms_per_second"] = best
            results[f"ratio_http_{store}_highest_rate_vs_baseline_rate"] = best / arguments.baseline_rate
            print(f"  {store}: {arguments.seconds:g} s at {arguments.target_rate:g}/s", file=sys.stderr)
            long_run = offer_load(url, bodies, arguments.target_rate, arguments.seconds)
            print(f"  {store} long run: {long_run}", file=sys.stderr)
            for name, value in long_run.items():
                results[f"http_{store}_target_{name}"] = value
            results[f"http_{store}_target_holds_p99_5ms"] = 1.0 if holds(long_run) else 0.0
        finally:
            stop_service(service)
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace `payloom run` trained and materialised")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=4, help="distinct real payments sent in turn")
    parser.add_argument("--rates", default="250,500,750,1000,1250,1500,2000")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--target-rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--without-customer", action="store_true",
                        help="HTTP: payments without customer_id (no next-best offer), as issue 4 measured them")
    parser.add_argument("--baseline-rate", type=float, default=500.0,
                        help="the rate to compare the highest holding rate with (default 500/s: issue 4's, 1 worker)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS.relative_to(ROOT)})")
    arguments = parser.parse_args()
    arguments.rates = [float(rate) for rate in arguments.rates.split(",")]
    workspace = Workspace.at(arguments.workspace, redis_address=None)

    # The host's size and how busy it was: latencies on a shared machine are only comparable with these.
    results: dict[str, float] = {"host_cpus": os.cpu_count() or 0, "host_load_average_1m_at_start": os.getloadavg()[0],
                                 "http_workers": arguments.workers}
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        results["workspace_attempts"] = connection.execute("select count(*) from marts.fct_authorizations").fetchone()[0]
    payments = real_payments(workspace, 1000)
    if not arguments.skip_in_process:
        results.update(in_process(workspace, payments, arguments.calls))
    if arguments.without_customer:
        payments = [{key: value for key, value in payment.items() if key != "customer_id"} for payment in payments]
    results["http_payments_name_customer"] = 0.0 if arguments.without_customer else 1.0
    for store in [name.strip() for name in arguments.stores.split(",") if name.strip()]:
        results.update(over_http(workspace, store, payments, arguments))
    write_results(results, arguments.results)


if __name__ == "__main__":
    main()
