"""The decision service over HTTP: FastAPI around one `DeclineDecider` per process.

    POST /v1/decisions/decline   body: the payment (JSON object) -> the decision (200)
    GET  /healthz                liveness: the process answers (no store read; always 200)
    GET  /readyz                 readiness: models loaded (with versions), online store reachable (else 503)
    GET  /metrics                Prometheus metrics (scoring.service_metrics), summed over --workers
    GET  /openapi.json, /docs, /redoc   the OpenAPI document and its viewers

Errors are JSON objects `{"error": ..., "field": ..., "reason": ...}`:

- 400 `malformed_json`: the body is not JSON (`reason` says where it broke; `field` is "(body)");
- 413 `body_too_large`: the body is over the limit (64 KiB by default, `max_body_bytes`);
- 422 `invalid_payment`: a field is missing, of the wrong type or value (`field` names it,
  `reason` says what was expected and what came): also a non-object body, NaN or Infinity,
  an integer beyond a BIGINT, an `attempted_at` outside years 1-9999 in UTC, more than 64
  `candidate_gateways`;
- 401 `unauthorized`: a token is configured and the request lacks `Authorization: Bearer <token>`
  (on the decision and on /openapi.json, /docs, /redoc; the probes and /metrics stay open, so
  load balancers and Prometheus reach them without it);
- 503 `online_store_unavailable`: the online store cannot be read now (Redis down: `reason`
  says where and what to do); the service answers again as soon as the store does;
- 500 `internal_error`: anything else; logged with its traceback and the request id.

Every error is logged as one JSON line (scoring.service_logging) with the request id (the
client's `X-Request-ID`, echoed back, or a new one sent back in that header).

`serve(workspace, host, port, token, workers=N)` runs it with uvicorn (the CLI calls this). The
app's lifespan closes the decision spool on shutdown (SIGTERM, Ctrl-C): decisions still
buffered are written to `<workspace>/decision_spool/`. At startup it freezes the objects alive
then (`gc.freeze`): a full garbage collection of Feast's ~200,000 objects took ~200 ms, a stall
that no p99 budget survives.

Decisions run on the event loop, not in a thread pool: a decision is ~0.5 ms of CPU under the
GIL, so a pool would only add a hand-over per request. Scale with `workers` (processes, each
with its own decider), up to the cores left after the load balancer and the online store.

The decision route reads its body itself (orjson) and checks it with `PaymentRequest.parse`;
its request and answers are documented in OpenAPI from pydantic models (scoring.service_schema)
through `openapi_extra` and `responses`, not validated by them. What each way costs per request,
through the ASGI app with a stub decider (bench/bench_service_overhead.py, 20,000 requests per
variant, p50; results/service_overhead.json; shared 2-core machine): the plain Starlette route
of before, 30.8 µs; a FastAPI route taking `Request`, +15.9 µs (dependency solving); the
`PlainEndpointRoute` used here (documented by FastAPI, called like Starlette), +3.0 µs; pydantic
validation as a FastAPI body parameter, +35.5 µs (2.1x); this app as shipped (token, body
limit, metrics middleware, request id), +7.4 µs in one process (prometheus' multiprocess mode
adds ~7 µs with --workers: 10.4 against 3.6 µs for a request's metrics). pydantic's
`model_validate_json` alone is cheap (2.7 µs against 8.8 µs for orjson + `PaymentRequest.parse`),
but it cannot replace the parse, whose messages are the 422 contract. Against a decision of
~0.7-1.1 ms these are 1-4 %.
"""

from __future__ import annotations

import gc
import hmac
import logging
import os
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from scoring.decision_spool import SPOOL_FOLDER, DecisionSpool
from scoring.decline_decision import DeclineDecider
from scoring.errors import FeatureStoreError
from scoring.payment_request import DecisionInputError, PaymentRequest
from scoring.service_limits import (
    DEFAULT_MAX_BODY_BYTES, BodyTooLarge, MalformedBody, error_response, parse_json_body, read_limited_body,
)
from scoring.service_logging import SERVICE_LOGGER, service_log_config
from scoring.service_metrics import MetricsMiddleware, ServiceMetrics, multiprocess_metrics_dir
from scoring.service_schema import DECLINE_RESPONSES, PlainEndpointRoute, decline_openapi
from scoring.workspace import ONLINE_STORE_ENV, REDIS_URL_ENV, Workspace

__all__ = ["DECLINE_PATH", "HEALTH_PATH", "METRICS_PATH", "READY_PATH", "app_from_environment", "create_app", "serve"]

DECLINE_PATH = "/v1/decisions/decline"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
_DOC_PATHS = ("/openapi.json", "/docs", "/redoc")

#: A payment no online store knows: /readyz reads it to prove the store answers.
_PROBE_PAYMENT: dict[str, Any] = {
    "card_id": "__readyz__", "card_bin": "__readyz__", "merchant_category": "__readyz__", "issuer_id": "__readyz__",
    "gateway": "__readyz__", "card_network": "__readyz__", "issuer_country": "__readyz__", "transaction_type": "one_off",
    "card_type": "credit", "optimization": "none", "amount_minor": 0, "currency_code": "USD",
    "attempted_at": "2025-01-01T00:00:00Z", "card_expires_on": None,
}

#: `serve` hands the workspace, token and body limit to worker processes through these variables.
WORKSPACE_ENV = "PAYLOOM_SERVICE_WORKSPACE"
TOKEN_ENV = "PAYLOOM_SERVICE_TOKEN"
MAX_BODY_ENV = "PAYLOOM_SERVICE_MAX_BODY_BYTES"

log = logging.getLogger(SERVICE_LOGGER)


def _request_id(request: Request) -> str:
    return request.headers.get("x-request-id") or uuid.uuid4().hex


def _refuse(request: Request, status: int, error: str, reason: str, field: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """An error answer, logged as one line with its fields and the request id."""
    request_id = _request_id(request)
    fields = {"request_id": request_id, "method": request.method, "path": request.url.path, "status": status,
              "error": error, "field": field, "reason": reason}
    log.log(logging.ERROR if status >= 500 else logging.INFO, "request refused", extra={"fields": fields})
    return error_response(status, error, reason, field, headers={**(headers or {}), "X-Request-ID": request_id})


def create_app(workspace: Workspace, token: str | None = None, *, decider: DeclineDecider | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, freeze_gc: bool = True) -> FastAPI:
    """The FastAPI app of `workspace`'s decision service; `token` (if not None) guards the decisions and the docs.

    The decider (Feast store, compiled models) is built here, once, unless one is passed in; one
    built here logs its optimisation decisions to the workspace's decision spool
    (`scoring.decision_spool`; `payloom load-decisions` appends them to the decision log), and
    the spool is flushed and closed when the app shuts down (its lifespan). `freeze_gc`: at
    startup, move every object alive then out of the garbage collector's reach (`gc.freeze`).
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
    if decider is None:
        decider = DeclineDecider(workspace, spool=DecisionSpool(workspace.root / SPOOL_FOLDER))
    online_store_type = workspace.online_store
    expected_header = f"Bearer {token}".encode() if token else None
    metrics = ServiceMetrics(paths=[DECLINE_PATH, HEALTH_PATH, READY_PATH, METRICS_PATH, *_DOC_PATHS])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if freeze_gc:
            # The process holds ~200,000 long-lived objects (Feast, its registry, pandas): a full
            # collection of them took ~200 ms, a stall every few thousand requests. Frozen, they
            # are never scanned again; the collector still sees everything made later.
            gc.collect()
            gc.freeze()
        log.info("decision service ready", extra={"fields": {
            "workspace": str(workspace.root), "models": decider.model_versions, "online_store": online_store_type,
            "token_required": expected_header is not None, "max_body_bytes": max_body_bytes,
            "metrics": "multiprocess" if metrics.multiprocess else "this process", "gc_frozen_objects": gc.get_freeze_count()}})
        try:
            yield
        finally:
            if decider.spool is not None:
                decider.spool.close()
                log.info("decision spool closed", extra={"fields": {
                    "folder": str(decider.spool.folder), "files_written": decider.spool.files_written,
                    "decisions_written": decider.spool.rows_written}})
            metrics.close()

    app = FastAPI(
        title="payloom decision service",
        description="Online decline decisions: P(decline), the likely decline type and the recommended action.",
        version="1",
        lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,  # served below, behind the token
    )
    app.state.decider = decider
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    def authorized(request: Request) -> bool:
        if expected_header is None:
            return True
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected_header)

    def unauthorized(request: Request) -> Response:
        return _refuse(request, 401, "unauthorized", "send the service token as 'Authorization: Bearer <token>'",
                       headers={"WWW-Authenticate": "Bearer"})

    async def decide_decline(request: Request) -> Response:
        """Score one payment in flight and return the decline decision (docs/decision_service.md)."""
        if not authorized(request):
            return unauthorized(request)
        try:
            payment = parse_json_body(await read_limited_body(request, max_body_bytes))
        except BodyTooLarge as error:
            return _refuse(request, 413, "body_too_large", str(error), "(body)")
        except MalformedBody as error:
            return _refuse(request, 400, "malformed_json", str(error), "(body)")
        try:
            decision = decider.decide(payment)
        except DecisionInputError as error:
            return _refuse(request, 422, "invalid_payment", error.reason, error.field)
        except FeatureStoreError as error:
            metrics.count_store_error("decision")
            return _refuse(request, 503, "online_store_unavailable", str(error))
        except Exception:  # noqa: BLE001 - answered in the service's error shape, logged with the traceback
            request_id = _request_id(request)
            log.exception("decision failed", extra={"fields": {"request_id": request_id, "path": DECLINE_PATH, "status": 500}})
            return error_response(500, "internal_error", f"the decision failed unexpectedly; the service logged it "
                                  f"with request id {request_id}: report it with that id", headers={"X-Request-ID": request_id})
        metrics.count_decision(decision["recommended_action"])
        request_id = request.headers.get("x-request-id")
        return Response(orjson.dumps(decision), media_type="application/json",
                        headers={"X-Request-ID": request_id} if request_id else None)

    app.router.add_api_route(DECLINE_PATH, decide_decline, methods=["POST"], summary="Decide on a payment in flight",
                             response_model=None, responses=DECLINE_RESPONSES, openapi_extra=decline_openapi(),
                             route_class_override=PlainEndpointRoute)

    @app.get(HEALTH_PATH, summary="Liveness: the process answers")
    async def health() -> Response:
        """Liveness: always 200 while the process serves; reads nothing (use /readyz for the store)."""
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get(READY_PATH, summary="Readiness: models loaded, online store reachable (503 otherwise)")
    async def ready() -> JSONResponse:
        """Models loaded (name -> version) and whether the online store answers a read."""
        began = time.perf_counter()
        try:
            await run_in_threadpool(decider.fetch_online, PaymentRequest.parse(_PROBE_PAYMENT))
            store: dict[str, Any] = {"type": online_store_type, "reachable": True}
        except Exception as error:  # noqa: BLE001 - any failure to read means "not reachable"; report it
            metrics.count_store_error("readiness")
            store = {"type": online_store_type, "reachable": False, "error": f"{type(error).__name__}: {error}"}
            log.warning("online store unreachable", extra={"fields": {"path": READY_PATH, "error": store["error"]}})
        store["read_ms"] = round((time.perf_counter() - began) * 1000, 3)
        content = {
            "status": "ok" if store["reachable"] else "degraded",
            "models": decider.model_versions,
            "feature_service": "issuer_decline_v1",
            "online_store": store,
        }
        return JSONResponse(status_code=200 if store["reachable"] else 503, content=content)

    @app.get(METRICS_PATH, summary="Prometheus metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> Response:
        if not authorized(request):
            return unauthorized(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger_page(request: Request) -> Response:
        if not authorized(request):
            return unauthorized(request)
        # With a token the browser cannot fetch /openapi.json by itself: the page carries the document.
        parameters = {"spec": app.openapi()} if expected_header is not None else None
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs", swagger_ui_parameters=parameters)

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page(request: Request) -> Response:
        if not authorized(request):
            return unauthorized(request)
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")

    return app


def app_from_environment() -> FastAPI:
    """The app of the workspace named by PAYLOOM_SERVICE_WORKSPACE (uvicorn's factory for workers)."""
    root = os.environ.get(WORKSPACE_ENV)
    if not root:
        raise RuntimeError(f"set {WORKSPACE_ENV} to a trained workspace (payloom serve does this for its workers)")
    return create_app(Workspace.at(root), os.environ.get(TOKEN_ENV) or None,
                      max_body_bytes=int(os.environ.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY_BYTES))


def serve(workspace: Workspace, host: str = "127.0.0.1", port: int = 8080, token: str | None = None, *, workers: int = 1,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, log_level: str = "info") -> None:
    """Build the app (loads models, opens Feast) and run it with uvicorn until SIGTERM or Ctrl-C.

    `workers` > 1 starts that many processes on the same port, each with its own decider; their
    metrics are summed through prometheus_client's multiprocess mode. `log_level` is the service
    logger's (JSON lines on stderr); uvicorn's own logs stay at warning.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    log_config = service_log_config(log_level)
    if workers == 1:
        uvicorn.run(create_app(workspace, token, max_body_bytes=max_body_bytes), host=host, port=port,
                    log_config=log_config, log_level="warning", access_log=False)
        return
    os.environ[WORKSPACE_ENV] = str(workspace.root)
    os.environ[ONLINE_STORE_ENV] = workspace.online_store
    os.environ[MAX_BODY_ENV] = str(max_body_bytes)
    if workspace.redis_address is not None:
        os.environ[REDIS_URL_ENV] = workspace.redis_address
    if token:
        os.environ[TOKEN_ENV] = token
    with multiprocess_metrics_dir():
        uvicorn.run("scoring.decision_service:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_config=log_config, log_level="warning", access_log=False)
