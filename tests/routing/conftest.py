"""Routing and bandit test fixtures: synthetic routing logs, trained routing models, a registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Appended, not prepended: `from conftest import ...` elsewhere must still find tests/conftest.py.
sys.path.append(str(Path(__file__).resolve().parent))

from routing_logs import FORTY_SIXTY_FEATURES, GATEWAYS, forty_sixty_log  # noqa: E402

from scoring.ipw_routing import RoutingModels, train_routing_models  # noqa: E402
from scoring.routing_log import RoutingLog, routing_log_from_table  # noqa: E402


@pytest.fixture(scope="session")
def forty_sixty() -> RoutingLog:
    return routing_log_from_table(forty_sixty_log(), FORTY_SIXTY_FEATURES, gateways=GATEWAYS)


@pytest.fixture(scope="session")
def forty_sixty_models(forty_sixty: RoutingLog) -> dict[str, RoutingModels]:
    """Naive and IPW models (softmax regression + a small XGBoost) on the 40/60 log."""
    return {weighting: train_routing_models(forty_sixty, weighting=weighting, samples_per_gateway=5, num_boost_round=20, nthread=1)
            for weighting in ("naive", "ipw")}


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("routing_registry")


@pytest.fixture(scope="session")
def bandit_world_data(tmp_path_factory: pytest.TempPathFactory):
    """~6,000 simulated payments with logged optimisations, propensities and the truth."""
    from bandit_world import bandit_world

    return bandit_world(tmp_path_factory.mktemp("bandit") / "raw", attempts=6_000, seed=3)


@pytest.fixture(scope="session")
def oracle(bandit_world_data, registry_root):
    """A small IPW-weighted XGBoost oracle, compiled and published as `score_optimization_oracle`."""
    import warnings

    import numpy as np
    from bandit_world import CONTEXT_FEATURES

    from scoring.bandit_oracle import publish_oracle, train_oracle

    payments = bandit_world_data.payments
    context = np.column_stack([payments[name].to_numpy() for name in CONTEXT_FEATURES])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # the hand-routed rows (propensity NULL) are excluded
        booster = train_oracle(context, payments["optimization"].to_pylist(), payments["is_approved"].to_numpy(zero_copy_only=False),
                               payments["propensity"].to_numpy(), num_boost_round=30, max_depth=3, nthread=1)
    return publish_oracle(registry_root, "optimization_oracle", booster, CONTEXT_FEATURES), booster
