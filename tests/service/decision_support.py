"""Helpers of the decision-service tests: payments from offline attempt rows, offline reads."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import uvicorn

from scoring.workspace import Workspace

MATERIALISE_START = datetime(2024, 12, 1)
PARITY_BEFORE = datetime(2025, 3, 10)
PARITY_CURRENCIES = ("BRL", "EUR", "GBP", "USD")
SERVICE_TOKEN = "service-test-token"

PAYMENT_FIELDS = (
    "card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network", "issuer_country",
    "transaction_type", "card_type", "optimization", "currency_code",
)


@dataclass
class ParityCase:
    """A real attempt, its offline row and score, and what the decider said when the store held its features."""

    attempt_id: str
    attempted_at: datetime
    payment: dict[str, Any]
    offline: dict[str, Any]
    decision: dict[str, Any]


def payment_of(row: dict[str, Any]) -> dict[str, Any]:
    """The request the payment service would send for an offline attempt row (JSON-ready)."""
    payment = {name: row[name] for name in PAYMENT_FIELDS}
    payment["amount_minor"] = int(row["amount_minor"])
    payment["attempted_at"] = row["attempted_at"].isoformat() + "Z"
    payment["card_expires_on"] = row["card_expires_on"].isoformat() if row["card_expires_on"] is not None else None
    payment["other_approved_cards"] = int(row["other_approved_cards"])
    return payment


def offline_attempts(workspace: Workspace, where: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of int_authorization_features joined with the request fields and the SQL scores."""
    query = f"""
        select features.*, facts.amount_minor, facts.currency_code, facts.card_expires_on,
               scores.decline_probability, scores.p_insufficient_funds, scores.p_do_not_honor, scores.p_hard_decline,
               scores.p_authentication_required, scores.p_technical, scores.recommended_action
        from intermediate.int_authorization_features as features
        inner join marts.fct_authorizations as facts using (attempt_id)
        inner join scores.scores_issuer_decline as scores using (attempt_id)
        where {where}
        order by features.attempted_at, features.attempt_id
        {f'limit {limit}' if limit else ''}
    """
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        cursor = connection.execute(query)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values)) for values in cursor.fetchall()]


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
