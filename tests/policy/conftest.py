"""A routing bandit on simulated attempts (written once per session) for the off-policy truth tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Appended, not prepended: `from conftest import ...` elsewhere must still find tests/conftest.py.
sys.path.append(str(Path(__file__).resolve().parent))

from routing_bandit import RoutingBandit, routing_bandit  # noqa: E402


@pytest.fixture(scope="session")
def bandit(tmp_path_factory: pytest.TempPathFactory) -> RoutingBandit:
    """~5,000 simulated attempts, six routing actions, a known logging policy and a different target."""
    return routing_bandit(tmp_path_factory.mktemp("routing") / "raw", attempts=5_000, seed=11)
