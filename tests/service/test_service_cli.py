"""`payloom serve` started as users start it: the real CLI in its own process, called with curl and requests.

Each service runs on a copy of the session's served workspace (models trained, Feast applied and
materialised), with a token, on a free loopback port; the tests wait for /healthz, call every
endpoint, and stop it with SIGTERM as a process manager would: it must exit 0 and have written
every logged decision to the workspace's decision spool. (uvicorn re-raises the signal after its
graceful shutdown, so the process ends by SIGTERM, status 143 in a shell: a clean stop for
systemd; an unhandled SIGTERM ends the same way but without the lifespan's log line, which the
test requires.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
import requests

from redis_process import free_port

from scoring.decision_service import DECLINE_PATH, HEALTH_PATH, METRICS_PATH, READY_PATH
from scoring.decision_spool import SPOOL_FOLDER

pytestmark = pytest.mark.slow

TOKEN = "cli-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAYLOOM = Path(sys.executable).parent / "payloom"


@dataclass
class RunningService:
    """A `payloom serve` process, its URL, workspace root and stderr file."""

    process: subprocess.Popen
    url: str
    root: Path
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as systemd or Kubernetes stop a service; the return code (-15 after a graceful stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"payloom serve did not stop within {timeout} s of SIGTERM:\n{self.log()[-3000:]}")


def start_service(root: Path, scratch: Path, *, workers: int = 1, environment: dict[str, str] | None = None) -> RunningService:
    """`payloom serve --workspace root --port <free>` (token from the environment, as the README runs it),
    ready when /healthz answers."""
    port = free_port()
    stderr = scratch / f"serve-{port}.log"
    env = {**os.environ, "PAYLOOM_SERVICE_TOKEN": TOKEN, "PAYLOOM_ONLINE_STORE": "sqlite"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # only where a test sets it
    env.update(environment or {})
    command = [str(PAYLOOM), "serve", "--workspace", str(root), "--port", str(port), "--workers", str(workers)]
    with open(stderr, "wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    service = RunningService(process, f"http://127.0.0.1:{port}", root, stderr)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"payloom serve exited with {process.returncode} before answering:\n{service.log()[-3000:]}")
        try:
            if requests.get(service.url + HEALTH_PATH, timeout=2).status_code == 200:
                return service
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    service.stop()
    raise AssertionError(f"payloom serve did not answer {HEALTH_PATH} within 240 s:\n{service.log()[-3000:]}")


def copy_workspace(served, directory: Path) -> Path:
    """A copy of the served workspace without its decision spool: the service's own spool starts empty."""
    root = directory / "workspace"
    shutil.copytree(served.workspace.root, root, ignore=shutil.ignore_patterns(SPOOL_FOLDER))
    return root


def curl(*arguments: str) -> tuple[int, str]:
    """curl's status code and body."""
    result = subprocess.run(["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}", *arguments],
                            capture_output=True, text=True, timeout=60, check=True)
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def spooled_decision_ids(root: Path) -> list[str]:
    files = sorted((root / SPOOL_FOLDER).glob("*.parquet"))
    return [decision_id for path in files for decision_id in pq.read_table(path).column("decision_id").to_pylist()]


@pytest.fixture(scope="module")
def service(served, tmp_path_factory) -> Iterator[RunningService]:
    """One `payloom serve` (1 worker, token) for this module's read-only checks."""
    scratch = tmp_path_factory.mktemp("cli-service")
    running = start_service(copy_workspace(served, scratch), scratch)
    yield running
    running.stop()


def test_decision_with_curl(served, service, tmp_path):
    case = served.cases[-1]
    body = tmp_path / "payment.json"
    body.write_text(json.dumps(case.payment))
    status, text = curl("-X", "POST", service.url + DECLINE_PATH, "-H", f"Authorization: Bearer {TOKEN}",
                        "-H", "Content-Type: application/json", "--data-binary", f"@{body}")
    assert status == 200, text
    decision = json.loads(text)
    assert decision["recommended_action"] == case.decision["recommended_action"]
    assert decision["decline_probability"] == case.decision["decline_probability"]
    assert decision["features_used"] == case.decision["features_used"]
    assert curl("-X", "POST", service.url + DECLINE_PATH, "--data-binary", f"@{body}")[0] == 401


def test_probes(service):
    status, text = curl(service.url + HEALTH_PATH)
    assert status == 200 and json.loads(text) == {"status": "ok"}
    status, text = curl(service.url + READY_PATH)
    ready = json.loads(text)
    assert status == 200 and ready["status"] == "ok", text
    assert ready["models"] == {"issuer_decline": "v0001", "decline_type": "v0001"}
    assert ready["online_store"]["type"] == "sqlite" and ready["online_store"]["reachable"] is True


def test_metrics_count_requests_and_actions(served, service):
    def scrape() -> dict[str, float]:
        lines = requests.get(service.url + METRICS_PATH, timeout=30).text.splitlines()
        return {name: float(value) for name, _, value in (line.rpartition(" ") for line in lines if line and not line.startswith("#"))}

    ok = 'payloom_http_requests_total{method="POST",path="/v1/decisions/decline",status="200"}'
    before = scrape()
    with requests.Session() as http:
        for _ in range(3):
            assert http.post(service.url + DECLINE_PATH, json=served.cases[-1].payment, headers=AUTH, timeout=30).status_code == 200
        assert http.post(service.url + DECLINE_PATH, json={"card_id": 1}, headers=AUTH, timeout=30).status_code == 422
    after = scrape()
    assert after[ok] - before.get(ok, 0.0) == 3
    action = served.cases[-1].decision["recommended_action"]
    decided = f'payloom_decisions_total{{recommended_action="{action}"}}'
    assert after[decided] - before.get(decided, 0.0) == 3
    assert after['payloom_http_requests_total{method="POST",path="/v1/decisions/decline",status="422"}'] >= 1
    count = 'payloom_http_request_duration_seconds_count{path="/v1/decisions/decline"}'
    assert after[count] - before.get(count, 0.0) == 4
    assert 'payloom_online_store_errors_total' in requests.get(service.url + METRICS_PATH, timeout=30).text


def test_openapi_and_docs_behind_the_token(service):
    for path in ("/openapi.json", "/docs", "/redoc"):
        refused = requests.get(service.url + path, timeout=30)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized", path
        assert requests.get(service.url + path, headers=AUTH, timeout=30).status_code == 200, path
    status, text = curl(service.url + "/openapi.json", "-H", f"Authorization: Bearer {TOKEN}")
    document = json.loads(text)
    operation = document["paths"][DECLINE_PATH]["post"]
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"card_id", "amount_minor", "attempted_at", "candidate_gateways", "customer_id"} <= set(request_schema["properties"])
    assert request_schema["properties"]["candidate_gateways"]["anyOf"][0]["maxItems"] == 64
    assert {"200", "400", "401", "413", "422", "503"} <= set(operation["responses"])
    assert "recommended_action" in document["components"]["schemas"]["DecisionModel"]["properties"]
    assert {READY_PATH, HEALTH_PATH} <= set(document["paths"])


def test_body_over_the_limit_is_413(served, service):
    payment = {**served.cases[-1].payment, "padding": "x" * (64 * 1024)}
    response = requests.post(service.url + DECLINE_PATH, data=json.dumps(payment), headers=AUTH, timeout=30)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "body_too_large" and body["field"] == "(body)" and "at most 65536 bytes" in body["reason"]
    many = {**served.cases[-1].payment, "candidate_gateways": [f"gw_{index}" for index in range(65)]}
    response = requests.post(service.url + DECLINE_PATH, json=many, headers=AUTH, timeout=30)
    assert response.status_code == 422 and response.json()["field"] == "candidate_gateways"
    assert "at most 64" in response.json()["reason"] and "a list of 65 gateways" in response.json()["reason"]


@pytest.mark.parametrize("attempted_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_dates_outside_the_utc_range_are_422(served, service, attempted_at):
    payment = {**served.cases[-1].payment, "attempted_at": attempted_at}
    response = requests.post(service.url + DECLINE_PATH, json=payment, headers=AUTH, timeout=30)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_payment" and body["field"] == "attempted_at"
    assert "years 1-9999" in body["reason"] and attempted_at in body["reason"]
    assert response.headers["X-Request-ID"]
    assert '"status":422' in service.log() and response.headers["X-Request-ID"] in service.log()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_cleanly_and_flushes_the_spool(served, tmp_path, workers):
    """Decisions logged just before SIGTERM are in the spool when the service has stopped gracefully;
    with 2 workers the metrics are the sum over both processes (prometheus multiprocess mode)."""
    metrics_dir = tmp_path / "metrics"
    root = copy_workspace(served, tmp_path)
    running = start_service(root, tmp_path, workers=workers,
                            environment={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)} if workers > 1 else None)
    ids = []
    try:
        for index in range(8):
            decision_id = f"cli-{workers}-{index}-{uuid.uuid4().hex[:6]}"
            payment = {**served.cases[-1].payment, "card_network": "visa", "decision_id": decision_id}
            # A new connection per request: with 2 workers the kernel spreads them over both processes.
            response = requests.post(running.url + DECLINE_PATH, json=payment, headers=AUTH, timeout=30)
            assert response.status_code == 200, response.text
            if response.json()["optimization"]["chosen_action"] is not None:
                ids.append(decision_id)
        assert ids, "no decision was eligible for the optimisation bandit: nothing to spool"
        metrics = requests.get(running.url + METRICS_PATH, timeout=30).text
        assert 'payloom_http_requests_total{method="POST",path="/v1/decisions/decline",status="200"} 8.0' in metrics
        if workers > 1:  # the workers wrote their counts where the test told prometheus_client to
            assert list(metrics_dir.glob("counter_*.db")), list(metrics_dir.iterdir())
    finally:
        code = running.stop()
    assert code in (0, -signal.SIGTERM), running.log()[-3000:]
    spooled = spooled_decision_ids(root)
    assert set(ids) <= set(spooled), (ids, spooled, running.log()[-3000:])
    assert not list((root / SPOOL_FOLDER).glob("*.tmp"))
    assert running.log().count('"message":"decision spool closed"') == workers, running.log()[-3000:]
