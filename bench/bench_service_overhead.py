"""Benchmark: what the HTTP framework and request validation cost per decision request.

The decision itself is replaced by a stub (it checks the payment with `PaymentRequest.parse`,
as the decider does, and returns a fixed decision of the real shape), and each app is called
directly as an ASGI application (no sockets), so the figures are the framework's and the
validation's own cost per request. Variants, called in interleaved rounds (the machine is shared):

- `starlette_route`: the endpoint before issue 17, a plain Starlette route reading the body with
  orjson (undocumented in OpenAPI);
- `fastapi_route`: a FastAPI route taking `Request`, documented with `openapi_extra` and
  `responses` (scoring.service_schema), the same body handling;
- `plain_api_route`: the same route as a `PlainEndpointRoute` (scoring.service_schema):
  documented by FastAPI, called like the Starlette route;
- `fastapi_pydantic_body`: a FastAPI route with the pydantic `PaymentModel` as its body
  parameter (FastAPI parses and validates it), then `PaymentRequest.parse` of its dump (the
  service's own checks and error messages must still run);
- `service_app`: `scoring.decision_service.create_app` as shipped (token check, body limit,
  metrics middleware, request-id, the `PlainEndpointRoute`).

And without any framework, per body: `orjson.loads` + `PaymentRequest.parse` (what the
service does) vs `PaymentModel.model_validate_json` (pydantic alone).

Writes bench/results/service_overhead.json (flat; microseconds per request, `ratio_*`).

    .venv/bin/python bench/bench_service_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from scoring.decision_service import DECLINE_PATH, create_app  # noqa: E402
from scoring.payment_request import PaymentRequest  # noqa: E402
from scoring.service_schema import DECLINE_RESPONSES, PaymentModel, PlainEndpointRoute, decline_openapi  # noqa: E402
from scoring.workspace import Workspace  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "service_overhead.json"
TOKEN = "bench-token"
PAYMENT = {
    "card_id": "card_0000455", "card_bin": "470817", "merchant_category": "5814", "issuer_id": "iss_us_02",
    "gateway": "gw_alpha", "card_network": "visa", "issuer_country": "US", "transaction_type": "one_off",
    "card_type": "credit", "optimization": "network_token+retry", "amount_minor": 20265, "currency_code": "MXN",
    "attempted_at": "2025-04-30T23:35:08Z", "card_expires_on": "2028-11-30", "other_approved_cards": 1,
}


def stub_decision() -> dict[str, Any]:
    """A decision of the real shape and size (46 inputs, 4 views, 3 gateways, the bandit's choice)."""
    freshness = {"found": True, "event_timestamp": "2025-04-30T23:35:08Z", "age_seconds": 0.11, "ttl_seconds": 259200.0,
                 "stale": False, "newer_than_attempt": False}
    return {
        "decline_probability": 0.0502, "recommended_action": "proceed",
        "decline_type": {"insufficient_funds": 0.061, "do_not_honor": 0.732, "hard_decline": 0.008,
                         "authentication_required": 0.067, "technical": 0.132},
        "gateway_ranking": [{"gateway": f"gw_{name}", "approval_probability": 0.95, "segment_found": True}
                            for name in ("alpha", "beta", "gamma")],
        "model_versions": {"issuer_decline": "v0001", "decline_type": "v0001"},
        "feature_freshness": {view: dict(freshness) for view in ("card_activity", "bin_mcc", "issuer_mcc", "gateway_segment")},
        "missing_features": [], "stale_features": [],
        "features_used": {f"feature_{index:02d}": float(index) for index in range(46)},
        "optimization": {"decision_id": "d1", "policy_name": "optimization_bandit", "policy_version": "v0001",
                         "requested_optimization": "none", "chosen_action": "network_token", "propensity": 0.9,
                         "candidates": [{"action": "3ds", "probability": 0.1, "predicted_approval": 0.87}] * 4},
        "next_best_offer": None,
    }


class StubDecider:
    """Checks the payment as the decider does, answers a fixed decision."""

    spool = None
    model_versions = {"issuer_decline": "v0001", "decline_type": "v0001"}

    def __init__(self) -> None:
        self.decision = stub_decision()

    def decide(self, payment: Any) -> dict[str, Any]:
        PaymentRequest.parse(payment)
        return self.decision

    def fetch_online(self, request: PaymentRequest) -> None:
        return None


def starlette_route_app(decider: StubDecider) -> FastAPI:
    app = FastAPI()

    async def decide(request: Request) -> Response:
        return Response(orjson.dumps(decider.decide(orjson.loads(await request.body()))), media_type="application/json")

    app.add_route(DECLINE_PATH, decide, methods=["POST"])
    return app


def fastapi_route_app(decider: StubDecider) -> FastAPI:
    app = FastAPI()

    @app.post(DECLINE_PATH, response_model=None, responses=DECLINE_RESPONSES, openapi_extra=decline_openapi())
    async def decide(request: Request) -> Response:
        return Response(orjson.dumps(decider.decide(orjson.loads(await request.body()))), media_type="application/json")

    return app


def plain_api_route_app(decider: StubDecider) -> FastAPI:
    app = FastAPI()

    async def decide(request: Request) -> Response:
        return Response(orjson.dumps(decider.decide(orjson.loads(await request.body()))), media_type="application/json")

    app.router.add_api_route(DECLINE_PATH, decide, methods=["POST"], response_model=None, responses=DECLINE_RESPONSES,
                             openapi_extra=decline_openapi(), route_class_override=PlainEndpointRoute)
    return app


def fastapi_pydantic_app(decider: StubDecider) -> FastAPI:
    app = FastAPI()

    @app.post(DECLINE_PATH, response_model=None)
    async def decide(payment: PaymentModel) -> Response:
        return Response(orjson.dumps(decider.decide(payment.model_dump())), media_type="application/json")

    return app


async def _drive(app: Callable, body: bytes, count: int) -> np.ndarray:
    """Microseconds of each of `count` ASGI calls of `app` with `body`."""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"authorization", f"Bearer {TOKEN}".encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": DECLINE_PATH, "raw_path": DECLINE_PATH.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
    statuses: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    out = np.empty(count)
    clock = time.perf_counter
    for index in range(count):
        began = clock()
        await app(dict(scope), receive, send)
        out[index] = (clock() - began) * 1e6
    if set(statuses) != {200}:
        raise RuntimeError(f"a variant answered {sorted(set(statuses))}, not 200")
    return out


def _timed(function: Callable[[], Any], count: int) -> np.ndarray:
    out = np.empty(count)
    for index in range(count):
        began = time.perf_counter()
        function()
        out[index] = (time.perf_counter() - began) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="calls per variant (in rounds of 1,000)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    arguments = parser.parse_args()

    decider = StubDecider()
    with tempfile.TemporaryDirectory() as scratch:
        apps = {
            "starlette_route": starlette_route_app(decider),
            "fastapi_route": fastapi_route_app(decider),
            "plain_api_route": plain_api_route_app(decider),
            "fastapi_pydantic_body": fastapi_pydantic_app(decider),
            "service_app": create_app(Workspace.at(scratch, redis_address=None), TOKEN, decider=decider),  # type: ignore[arg-type]
        }
    body = orjson.dumps(PAYMENT)
    results: dict[str, float] = {"host_cpus": os.cpu_count() or 0, "host_load_average_1m_at_start": os.getloadavg()[0],
                                 "body_bytes": len(body)}
    samples: dict[str, list[np.ndarray]] = {name: [] for name in apps}
    micro = {
        "orjson_loads_and_payment_parse": lambda: PaymentRequest.parse(orjson.loads(body)),
        "pydantic_validate_json": lambda: PaymentModel.model_validate_json(body),
        "pydantic_validate_json_and_payment_parse": lambda: PaymentRequest.parse(PaymentModel.model_validate_json(body).model_dump()),
    }
    micro_samples: dict[str, list[np.ndarray]] = {name: [] for name in micro}

    async def rounds() -> None:
        for name, app in apps.items():  # warm-up: builds each middleware stack
            await _drive(app, body, 500)
        for _ in range(max(1, arguments.requests // 1000)):
            for name, app in apps.items():
                samples[name].append(await _drive(app, body, 1000))
            for name, function in micro.items():
                micro_samples[name].append(_timed(function, 1000))

    asyncio.run(rounds())
    for name, parts in {**samples, **micro_samples}.items():
        values = np.concatenate(parts)
        results[f"{name}_p50_us"] = float(np.percentile(values, 50))
        results[f"{name}_p99_us"] = float(np.percentile(values, 99))
        results[f"{name}_mean_us"] = float(values.mean())
    for name in ("fastapi_route", "plain_api_route", "fastapi_pydantic_body", "service_app"):
        results[f"ratio_{name}_vs_starlette_route_p50"] = results[f"{name}_p50_us"] / results["starlette_route_p50_us"]
        results[f"{name}_extra_vs_starlette_route_p50_us"] = results[f"{name}_p50_us"] - results["starlette_route_p50_us"]
    results["ratio_pydantic_validate_json_vs_orjson_loads_and_payment_parse_p50"] = (
        results["pydantic_validate_json_p50_us"] / results["orjson_loads_and_payment_parse_p50_us"])
    write_results(results, arguments.results)


if __name__ == "__main__":
    main()
