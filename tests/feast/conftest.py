"""A copy of the simulated workspace served by Feast: applied and materialised once per session.

The simulated features run from 2025-01-01 to the cutoff 2025-03-17. The store is materialised
in two runs (a first `materialize` up to `first_end`, then the incremental one up to `end`), both
before the cutoff, so online values must come from rows older than each entity's newest row.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from datetime import datetime
from types import ModuleType
from typing import NamedTuple

import pytest

from scoring.feature_store import apply_feature_store, materialize_feature_store, open_feature_store
from scoring.workspace import FEATURE_REPO_DIR, Workspace



class ServedWindow(NamedTuple):
    """The materialisation runs of the session's store (naive datetimes are UTC)."""

    start: datetime
    first_end: datetime
    end: datetime
    cutoff: datetime


WINDOW = ServedWindow(
    start=datetime(2024, 12, 1),
    first_end=datetime(2025, 2, 10, 6, 0),
    end=datetime(2025, 3, 9, 13, 37, 21, 654321),
    cutoff=datetime(2025, 3, 17),
)


@pytest.fixture(scope="session")
def window() -> ServedWindow:
    return WINDOW


@pytest.fixture(scope="session")
def feast_workspace(tmp_path_factory, simulated_workspace) -> Workspace:
    """The simulated workspace's copy, `feast apply`-ed and materialised in two runs."""
    root = tmp_path_factory.mktemp("feast") / "workspace"
    shutil.copytree(simulated_workspace.root, root)
    workspace = Workspace.at(root)
    started = time.perf_counter()
    apply_feature_store(workspace)
    applied = time.perf_counter()
    materialize_feature_store(workspace, WINDOW.start, WINDOW.first_end)
    materialize_feature_store(workspace, WINDOW.start, WINDOW.end)
    print(
        f"\nfeast apply {applied - started:.1f}s, materialise (first + incremental) "
        f"{time.perf_counter() - applied:.1f}s"
    )
    return workspace


@pytest.fixture(scope="session")
def feature_store(feast_workspace):
    """One Feast FeatureStore on the served workspace (reads the registry once)."""
    return open_feature_store(feast_workspace)


@pytest.fixture(scope="session")
def dbt_contract() -> ModuleType:
    """feature_repo/dbt_contract.py, loaded from its file (feature_repo/ is a Feast repo, not a package)."""
    spec = importlib.util.spec_from_file_location("payloom_feature_repo_dbt_contract", FEATURE_REPO_DIR / "dbt_contract.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _reader_matches_feast(store, service_name: str, entity_rows: list[dict]) -> int:
    """Assert ServiceReader reads what Feast's get_online_features returns (values and each view's
    event time, whole seconds as Feast stores them) for every row; returns how many rows had a card."""
    from datetime import timezone

    from scoring.online_reads import ServiceReader

    reader = ServiceReader(store, service_name)
    ours = reader.read_many(entity_rows)
    service = store.get_feature_service(service_name)
    theirs = store.get_online_features(features=service, entity_rows=entity_rows, full_feature_names=True).to_dict(
        include_event_timestamps=True
    )
    found = 0
    for position, read in enumerate(ours):
        assert set(read.values) == set(reader.feature_names)
        for name, value in read.values.items():
            assert value == theirs[name][position], f"row {position} {name}: payloom {value}, Feast {theirs[name][position]}"
        for projection in service.feature_view_projections:
            view = projection.name_to_use()
            stamps = [theirs[f"{view}__{feature.name}__ts"][position] for feature in projection.features]
            newest = max((stamp for stamp in stamps if stamp), default=0)
            event_time = read.event_times[view]
            if newest:
                assert event_time is not None and int(event_time.replace(tzinfo=timezone.utc).timestamp()) == newest, (position, view)
            else:
                assert event_time is None, (position, view)
        found += read.event_times[reader.view_names[0]] is not None
    return found


@pytest.fixture(scope="session")
def reader_matches_feast():
    """A function (store, service name, entity rows) that asserts payloom's direct online reads equal Feast's."""
    return _reader_matches_feast
