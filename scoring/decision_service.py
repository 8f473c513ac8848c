"""The decision service over HTTP: FastAPI around one `DeclineDecider` per process.

    POST /v1/decisions/decline   body: the payment (JSON object) -> the decision (200)
    GET  /healthz                models loaded (with versions), online store reachable

Errors are JSON objects `{"error": ..., "field": ..., "reason": ...}`:

- 400 `malformed_json`: the body is not JSON (`reason` says where it broke; `field` is "(body)");
- 422 `invalid_payment`: a field is missing, of the wrong type or value (`field` names it,
  `reason` says what was expected and what came);
- 401 `unauthorized`: a token is configured and the request lacks `Authorization: Bearer <token>`
  (/healthz stays open, so load balancers can probe it without the token);
- 503 `online_store_unavailable`: the online store cannot be read now (Redis down: `reason`
  says where and what to do); the service answers again as soon as the store does;
- 503 from /healthz when the online store cannot be read.

`serve(workspace, host, port, token, workers=N)` runs it with uvicorn (the CLI calls this).

Decisions run on the event loop, not in a thread pool: a decision is ~0.5 ms of CPU under the
GIL, so a pool would only add a hand-over per request. Scale with `workers` (processes, each
with its own decider), up to the cores left after the load balancer and the online store.
Responses are serialised with orjson.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from scoring.decision_spool import SPOOL_FOLDER, DecisionSpool
from scoring.decline_decision import DeclineDecider
from scoring.errors import FeatureStoreError
from scoring.feature_store import feature_store_settings
from scoring.payment_request import DecisionInputError, PaymentRequest
from scoring.workspace import ONLINE_STORE_ENV, REDIS_URL_ENV, Workspace

__all__ = ["DECLINE_PATH", "HEALTH_PATH", "app_from_environment", "create_app", "serve"]

DECLINE_PATH = "/v1/decisions/decline"
HEALTH_PATH = "/healthz"

#: A payment no online store knows: /healthz reads it to prove the store answers.
_PROBE_PAYMENT: dict[str, Any] = {
    "card_id": "__healthz__", "card_bin": "__healthz__", "merchant_category": "__healthz__", "issuer_id": "__healthz__",
    "gateway": "__healthz__", "card_network": "__healthz__", "issuer_country": "__healthz__", "transaction_type": "one_off",
    "card_type": "credit", "optimization": "none", "amount_minor": 0, "currency_code": "USD",
    "attempted_at": "2025-01-01T00:00:00Z", "card_expires_on": None,
}


#: `serve` hands the workspace and token to worker processes through these variables.
WORKSPACE_ENV = "PAYLOOM_SERVICE_WORKSPACE"
TOKEN_ENV = "PAYLOOM_SERVICE_TOKEN"


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _error(status: int, error: str, reason: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "field": field, "reason": reason}, headers=headers)


def create_app(workspace: Workspace, token: str | None = None, *, decider: DeclineDecider | None = None) -> FastAPI:
    """The FastAPI app of `workspace`'s decision service; `token` (if not None) guards the decisions.

    The decider (Feast store, compiled models) is built here, once, unless one is passed in; one
    built here logs its optimisation decisions to the workspace's decision spool
    (`scoring.decision_spool`; `payloom load-decisions` appends them to the decision log), and
    the spool is flushed when the app shuts down.
    """
    if decider is None:
        decider = DeclineDecider(workspace, spool=DecisionSpool(workspace.root / SPOOL_FOLDER))
    online_store_type = str(feature_store_settings(workspace)["online_store"].get("type", "unknown"))
    expected_header = f"Bearer {token}".encode() if token else None
    app = FastAPI(
        title="payloom decision service",
        description="Online decline decisions: P(decline), the likely decline type and the recommended action.",
        version="1",
    )
    app.state.decider = decider
    if decider.spool is not None:
        app.add_event_handler("shutdown", decider.spool.close)

    async def decide_decline(request: Request) -> Response:
        """Score one payment in flight and return the decline decision."""
        if expected_header is not None:
            supplied = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(supplied, expected_header):
                return _error(401, "unauthorized", "send the service token as 'Authorization: Bearer <token>'",
                              headers={"WWW-Authenticate": "Bearer"})
        body = await request.body()
        try:
            payment = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return _error(400, "malformed_json", f"the body is not valid JSON: {error}", field="(body)")
        try:
            decision = decider.decide(payment)
        except DecisionInputError as error:
            return _error(422, "invalid_payment", error.reason, field=error.field)
        except FeatureStoreError as error:
            return _error(503, "online_store_unavailable", str(error))
        return _json(decision)

    # A plain Starlette route: FastAPI's dependency solving costs ~0.1 ms a request and this
    # endpoint reads its body itself.
    app.add_route(DECLINE_PATH, decide_decline, methods=["POST"])

    @app.get(HEALTH_PATH)
    async def health() -> JSONResponse:
        """Models loaded (name -> version) and whether the online store answers a read."""
        began = time.perf_counter()
        try:
            await run_in_threadpool(decider.fetch_online, PaymentRequest.parse(_PROBE_PAYMENT))
            store: dict[str, Any] = {"type": online_store_type, "reachable": True}
        except Exception as error:  # noqa: BLE001 - any failure to read means "not reachable"; report it
            store = {"type": online_store_type, "reachable": False, "error": f"{type(error).__name__}: {error}"}
        store["read_ms"] = round((time.perf_counter() - began) * 1000, 3)
        content = {
            "status": "ok" if store["reachable"] else "degraded",
            "models": decider.model_versions,
            "feature_service": "issuer_decline_v1",
            "online_store": store,
        }
        return JSONResponse(status_code=200 if store["reachable"] else 503, content=content)

    return app


def app_from_environment() -> FastAPI:
    """The app of the workspace named by PAYLOOM_SERVICE_WORKSPACE (uvicorn's factory for workers)."""
    root = os.environ.get(WORKSPACE_ENV)
    if not root:
        raise RuntimeError(f"set {WORKSPACE_ENV} to a trained workspace (payloom serve does this for its workers)")
    return create_app(Workspace.at(root), os.environ.get(TOKEN_ENV) or None)


def serve(workspace: Workspace, host: str = "127.0.0.1", port: int = 8080, token: str | None = None, *, workers: int = 1) -> None:
    """Build the app (loads models, opens Feast) and run it with uvicorn until interrupted.

    `workers` > 1 starts that many processes on the same port, each with its own decider.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        uvicorn.run(create_app(workspace, token), host=host, port=port, log_level="warning", access_log=False)
        return
    os.environ[WORKSPACE_ENV] = str(workspace.root)
    os.environ[ONLINE_STORE_ENV] = workspace.online_store
    if workspace.redis_address is not None:
        os.environ[REDIS_URL_ENV] = workspace.redis_address
    if token:
        os.environ[TOKEN_ENV] = token
    uvicorn.run("scoring.decision_service:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)
