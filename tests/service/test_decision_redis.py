"""The decision service on the Redis online store, against a real redis-server: the same decisions
as on SQLite, a clear 503 and an unready /readyz while Redis is down (/healthz, liveness, stays
200), and recovery when it returns."""

from __future__ import annotations

import shutil
import time

import pytest
import requests

from scoring.decision_service import DECLINE_PATH, HEALTH_PATH, READY_PATH, create_app
from scoring.decline_decision import DeclineDecider
from scoring.feature_store import apply_feature_store, materialize_feature_store
from scoring.workspace import Workspace

from decision_support import MATERIALISE_START, ServerThread
from redis_process import RedisServer, free_port, redis_executable

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """This module's own redis-server: it is stopped and emptied here, so no other test may share it."""
    server = RedisServer(redis_executable(), tmp_path_factory.mktemp("service-redis-server"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_served(served, redis_server, tmp_path_factory):
    """A copy of the served workspace on its own Redis, materialised up to the same instant as its SQLite store."""
    root = tmp_path_factory.mktemp("service-redis") / "workspace"
    shutil.copytree(served.workspace.root, root)
    workspace = Workspace.at(root, redis_address=redis_server.address)
    apply_feature_store(workspace)
    last = served.cases[-1].attempted_at
    materialize_feature_store(workspace, MATERIALISE_START, last, reload=True)
    decider = DeclineDecider(workspace)
    with ServerThread(create_app(workspace, None, decider=decider)) as running:
        yield workspace, decider, running, last


def assert_same_decision(on_redis: dict, on_sqlite: dict) -> None:
    """Equal decisions; event times may differ below a second (SQLite keeps whole seconds, Redis microseconds)."""
    for view, freshness in on_redis["feature_freshness"].items():
        other = on_sqlite["feature_freshness"][view]
        assert {k: v for k, v in freshness.items() if k not in ("event_timestamp", "age_seconds")} == {
            k: v for k, v in other.items() if k not in ("event_timestamp", "age_seconds")
        }, view
        if freshness["found"]:
            assert 0 <= other["age_seconds"] - freshness["age_seconds"] < 1, view
    assert {k: v for k, v in on_redis.items() if k != "feature_freshness"} == {
        k: v for k, v in on_sqlite.items() if k != "feature_freshness"
    }


def test_redis_decisions_equal_sqlite_decisions(served, redis_served):
    _, decider, _, _ = redis_served
    payment = served.cases[-1].payment
    decision = decider.decide(payment)
    assert all(view["found"] for view in decision["feature_freshness"].values())
    assert_same_decision(decision, served.decider.decide(payment))
    unknown = {**payment, "card_id": "card_never_seen", "gateway": "gw_new"}
    assert_same_decision(decider.decide(unknown), served.decider.decide(unknown))


def test_redis_down_is_a_clear_503_and_the_service_recovers(served, redis_served, redis_server):
    workspace, decider, running, last = redis_served
    payment = served.cases[-1].payment
    with requests.Session() as http:
        before = http.post(running.url + DECLINE_PATH, json=payment, timeout=30)
        assert before.status_code == 200
        assert http.get(running.url + READY_PATH, timeout=30).json()["online_store"]["reachable"] is True

        redis_server.stop()
        try:
            down = http.post(running.url + DECLINE_PATH, json=payment, timeout=30)
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["error"] == "online_store_unavailable"
            assert f"Redis online store at {redis_server.address} is unreachable" in body["reason"]
            assert "start Redis there" in body["reason"]
            ready = http.get(running.url + READY_PATH, timeout=30)
            assert ready.status_code == 503 and ready.json()["online_store"]["reachable"] is False
            assert http.get(running.url + HEALTH_PATH, timeout=30).status_code == 200  # alive, not ready
            metrics = http.get(running.url + "/metrics", timeout=30).text
            assert 'payloom_online_store_errors_total{operation="decision"} 1.0' in metrics
            assert 'payloom_online_store_errors_total{operation="readiness"} 1.0' in metrics
        finally:
            redis_server.start()  # same port, empty: no persistence

        # Back, but empty until materialised again: decisions answer (features missing), then refill.
        deadline = time.monotonic() + 20
        while http.get(running.url + READY_PATH, timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the service did not see Redis come back"
            time.sleep(0.2)
        empty = http.post(running.url + DECLINE_PATH, json=payment, timeout=30)
        assert empty.status_code == 200
        assert not any(view["found"] for view in empty.json()["feature_freshness"].values())
        materialize_feature_store(workspace, MATERIALISE_START, last, reload=True)
        after = http.post(running.url + DECLINE_PATH, json=payment, timeout=30)
        assert after.status_code == 200 and after.json() == before.json()
