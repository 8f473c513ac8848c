"""A small trained workspace served by Feast, a decider on it, and real uvicorn servers.

The online store is materialised in steps up to the instant of each of a few real attempts
(`PARITY_CURRENCIES`: one attempt per currency, the latest before `PARITY_BEFORE`), and each
attempt is decided right after its step. At that moment the store holds exactly the features
as of the attempt: the card's row written at the attempt's own instant and the segments' last
grid rows at or before it, which is what `int_authorization_features` joins offline.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import requests
import uvicorn

from scoring.decision_service import create_app
from scoring.decline_decision import DeclineDecider
from scoring.decline_training_job import train_decline_job
from scoring.feature_store import apply_feature_store, materialize_feature_store
from scoring.workspace import Workspace

# Appended, not prepended: `from conftest import ...` elsewhere must still find tests/conftest.py.
sys.path.append(str(Path(__file__).resolve().parent))

from decision_support import (  # noqa: E402
    MATERIALISE_START,
    PARITY_BEFORE,
    PARITY_CURRENCIES,
    SERVICE_TOKEN,
    ParityCase,
    ServerThread,
    offline_attempts,
    payment_of,
)


def parity_attempts(workspace: Workspace) -> list[dict[str, Any]]:
    """Per currency, the latest attempt before PARITY_BEFORE of a card with history and no other
    attempt at the same instant, in time order."""
    ids = []
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        for currency in PARITY_CURRENCIES:
            found = connection.execute(
                """
                with unique_instants as (
                    select card_id, attempted_at from marts.fct_authorizations group by all having count(*) = 1
                ),
                candidates as (
                    select features.attempt_id, features.card_id, features.attempted_at
                    from intermediate.int_authorization_features as features
                    inner join marts.fct_authorizations as facts using (attempt_id)
                    where features.attempted_at < ? and features.attempts_before >= 3 and facts.currency_code = ?
                )
                select attempt_id
                from candidates
                semi join unique_instants using (card_id, attempted_at)
                order by attempted_at desc
                limit 1
                """,
                [PARITY_BEFORE, currency],
            ).fetchall()
            ids += [row[0] for row in found]
    assert ids, "the simulated workspace has no attempt for the parity cases"
    quoted = ", ".join(f"'{attempt_id}'" for attempt_id in ids)
    return offline_attempts(workspace, f"attempt_id in ({quoted})")


@dataclass
class Served:
    """The session's workspace, its decider, and the parity cases decided along the way."""

    workspace: Workspace
    decider: DeclineDecider
    cases: list[ParityCase]


@pytest.fixture(scope="session")
def served(tmp_path_factory, simulated_workspace) -> Served:
    """Copy the simulated workspace, train small models, apply Feast, then materialise step by step."""
    root = tmp_path_factory.mktemp("service") / "workspace"
    shutil.copytree(simulated_workspace.root, root)
    workspace = Workspace.at(root)
    train_decline_job(workspace, candidates=1, max_trees=60, echo=None)
    apply_feature_store(workspace)
    attempts = parity_attempts(workspace)
    materialize_feature_store(workspace, MATERIALISE_START, attempts[0]["attempted_at"])
    decider = DeclineDecider(workspace)
    cases = []
    for index, row in enumerate(attempts):
        if index:
            materialize_feature_store(workspace, MATERIALISE_START, row["attempted_at"])
        payment = payment_of(row)
        cases.append(ParityCase(row["attempt_id"], row["attempted_at"], payment, row, decider.decide(payment)))
    return Served(workspace=workspace, decider=decider, cases=cases)


@pytest.fixture(scope="session")
def decider(served) -> DeclineDecider:
    return served.decider


@pytest.fixture(scope="session")
def server(served) -> Iterator[ServerThread]:
    """The decision service with a token, served by uvicorn on loopback."""
    with ServerThread(create_app(served.workspace, SERVICE_TOKEN, decider=served.decider)) as running:
        yield running


@pytest.fixture(scope="session")
def open_server(served) -> Iterator[ServerThread]:
    """The decision service without a token."""
    with ServerThread(create_app(served.workspace, None, decider=served.decider)) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
