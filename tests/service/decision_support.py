"""Helpers of the decision-service tests: payments from offline attempt rows, offline reads."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvicorn

# The replay's own helpers: the tests build the same requests and read the same offline rows.
from scoring.online_offline_parity import PAYMENT_FIELDS, offline_attempts, payment_of  # noqa: F401

MATERIALISE_START = datetime(2024, 12, 1)
PARITY_BEFORE = datetime(2025, 3, 10)
PARITY_CURRENCIES = ("BRL", "EUR", "GBP", "USD")
SERVICE_TOKEN = "service-test-token"

@dataclass
class ParityCase:
    """A real attempt, its offline row and score, and what the decider said when the store held its features."""

    attempt_id: str
    attempted_at: datetime
    payment: dict[str, Any]
    offline: dict[str, Any]
    decision: dict[str, Any]


class ServerThread:
    """A real uvicorn server on a free loopback port, in a daemon thread."""

    def __init__(self, app):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
