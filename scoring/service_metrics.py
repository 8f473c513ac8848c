"""Prometheus metrics of the decision service, correct with one process or several.

`ServiceMetrics` holds the service's metrics:

- `payloom_http_requests_total{method, path, status}`: every answered request (a path the
  service does not serve is counted as `other`, so a scan cannot grow the label set);
- `payloom_http_request_duration_seconds{path}`: a histogram of the time from the request's
  arrival in the app to its answer (buckets from 0.5 ms: the decision's budget is 5 ms at p99);
- `payloom_decisions_total{recommended_action}`: decisions answered, by recommended action;
- `payloom_online_store_errors_total{operation}`: online-store reads that failed, on the
  decision path (`decision`) or in the readiness probe (`readiness`).

`MetricsMiddleware` (pure ASGI, ~10 µs a request) counts and times every HTTP request.

With one process, the metrics live in the app's own registry. With `payloom serve --workers N`
they must add up over the processes: prometheus_client's multiprocess mode, where every process
writes its values to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR` and `/metrics`, whichever
process answers it, merges every process's files. The variable must be set before
prometheus_client is imported in the workers; `multiprocess_metrics_dir()` sets it (a fresh
temporary folder, or the operator's, emptied) before uvicorn starts them, and removes the
temporary folder afterwards.

>>> metrics = ServiceMetrics(paths=["/v1/decisions/decline"])
>>> metrics.observe_request("POST", "/v1/decisions/decline", 200, 0.0012)
>>> metrics.observe_request("GET", "/wp-admin", 404, 0.0001)
>>> metrics.count_decision("proceed")
>>> text = metrics.exposition()[0].decode()
>>> 'payloom_decisions_total{recommended_action="proceed"} 1.0' in text
True
>>> 'payloom_http_requests_total{method="GET",path="other",status="404"} 1.0' in text
True
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client import multiprocess

__all__ = ["METRICS_DIR_ENV", "MetricsMiddleware", "ServiceMetrics", "multiprocess_metrics_dir", "multiprocess_mode"]

#: prometheus_client's switch to multiprocess mode: the folder the processes share.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Latency buckets (seconds), fine around the 5 ms budget.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes this process's values to PROMETHEUS_MULTIPROC_DIR.

    prometheus_client decides when it is first imported: the variable set later has no effect.
    """
    return values.ValueClass is not values.MutexValue


class ServiceMetrics:
    """The decision service's metrics (module docstring); one per app."""

    def __init__(self, *, paths: Iterable[str]):
        self.multiprocess = multiprocess_mode()
        self.registry = CollectorRegistry(auto_describe=True)
        if self.multiprocess:
            # Every process's files, merged; the metrics themselves must not be registered here too.
            multiprocess.MultiProcessCollector(self.registry)
        target = None if self.multiprocess else self.registry
        self.known_paths = frozenset(paths)
        self.requests = Counter("payloom_http_requests", "HTTP requests answered, by method, path and status.",
                                ["method", "path", "status"], registry=target)
        self.latency = Histogram("payloom_http_request_duration_seconds",
                                 "Time from a request's arrival in the app to its answer, by path.",
                                 ["path"], buckets=LATENCY_BUCKETS, registry=target)
        self.decisions = Counter("payloom_decisions", "Decline decisions answered, by recommended action.",
                                 ["recommended_action"], registry=target)
        self.store_errors = Counter("payloom_online_store_errors", "Online-store reads that failed, by operation.",
                                    ["operation"], registry=target)
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._decision_children: dict[str, Any] = {}

    def observe_request(self, method: str, path: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        path = path if path in self.known_paths else "other"
        key = (method, path, status)
        counter = self._request_children.get(key)
        if counter is None:  # `labels()` costs a few µs; keep each child once
            counter = self._request_children[key] = self.requests.labels(method, path, str(status))
        counter.inc()
        histogram = self._latency_children.get(path)
        if histogram is None:
            histogram = self._latency_children[path] = self.latency.labels(path)
        histogram.observe(seconds)

    def count_decision(self, action: str) -> None:
        """Count one decision by its recommended action."""
        counter = self._decision_children.get(action)
        if counter is None:
            counter = self._decision_children[action] = self.decisions.labels(action)
        counter.inc()

    def count_store_error(self, operation: str) -> None:
        """Count one failed online-store read (`decision` or `readiness`)."""
        self.store_errors.labels(operation).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This process stops: let the other processes' scrapes forget its live values."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request into `metrics`."""

    def __init__(self, app: Callable, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # an exception before the answer started

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe_request(scope["method"], scope["path"], status, time.perf_counter() - began)


@contextmanager
def multiprocess_metrics_dir() -> Iterator[Path]:
    """Put prometheus_client in multiprocess mode for worker processes started inside the block.

    Uses PROMETHEUS_MULTIPROC_DIR when the operator set it (its old `*.db` files are removed:
    the folder must start empty), else a temporary folder, removed at the end.
    """
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="payloom-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
