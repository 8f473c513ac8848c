"""Serve a workspace's features with Feast: apply `feature_repo/`, materialise, read online.

One repo serves every workspace: `feature_repo/feature_store.yaml` and the sources take their
paths from PAYLOOM_FEATURES_DIR and PAYLOOM_FEATURE_STORE_DIR, which `Workspace.feast_environment`
sets. Feast's state (registry.db, online_store.db) lives in `workspace.feature_store_dir`.

>>> settings = feature_store_settings(Workspace.at("/tmp/payloom-example"))
>>> settings["project"], settings["offline_store"]["type"], settings["online_store"]["type"]
('payloom', 'duckdb', 'sqlite')
>>> settings["registry"]
'/tmp/payloom-example/feature_store/registry.db'

`import feast` takes ~12 s, so Feast is imported inside the functions that need it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scoring.errors import FeatureStoreError
from scoring.workspace import FEATURE_REPO_DIR, Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "apply_feature_store",
    "feature_store_settings",
    "materialize_feature_store",
    "online_features",
    "open_feature_store",
]


def feature_store_settings(workspace: Workspace) -> dict[str, Any]:
    """`feature_repo/feature_store.yaml` with `${VAR}` expanded for `workspace`, as Feast reads it.

    Like Feast (os.path.expandvars), a variable that is not set stays as written.
    """
    environment = workspace.feast_environment()
    text = (FEATURE_REPO_DIR / "feature_store.yaml").read_text()
    expanded = re.sub(r"\$\{(\w+)\}", lambda match: environment.get(match.group(1), match.group(0)), text)
    return yaml.safe_load(expanded)


def apply_feature_store(workspace: Workspace) -> str:
    """Register `feature_repo/` in the workspace's Feast registry and create the online tables.

    Runs the real `feast apply` in a subprocess with the workspace's environment: the definition
    modules read PAYLOOM_FEATURES_DIR when imported, and a fresh process is the only way to import
    them again for another workspace. Returns Feast's output; a failure raises FeatureStoreError.
    """
    parquet_files = sorted(workspace.features_dir.glob("*.parquet")) if workspace.features_dir.is_dir() else []
    if not parquet_files:
        raise FeatureStoreError(
            f"no feature tables in {workspace.features_dir}: run `payloom build` (dbt writes them) for this workspace first"
        )
    feast = shutil.which("feast", path=str(Path(sys.executable).parent)) or shutil.which("feast")
    if feast is None:
        raise FeatureStoreError("the feast executable was not found next to this Python: run `make setup` (pip install -e .)")
    workspace.feature_store_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.run(
        [feast, "--chdir", str(FEATURE_REPO_DIR), "apply"],
        env=workspace.feast_environment(),
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        lines = process.stderr.strip().splitlines() or process.stdout.strip().splitlines() or ["(no output)"]
        raise FeatureStoreError(
            f"feast apply failed (exit {process.returncode}): {lines[-1]}\n" + "\n".join(lines[-30:])
        )
    return process.stdout


def open_feature_store(workspace: Workspace) -> "FeatureStore":
    """A Feast FeatureStore on the workspace's registry and online store (applied before).

    Hold on to it in a long-lived service: opening one reads the registry.
    """
    from feast import FeatureStore, RepoConfig

    settings = feature_store_settings(workspace)
    registry = Path(settings["registry"])
    if not registry.is_file():
        raise FeatureStoreError(f"no Feast registry at {registry}: run apply_feature_store(workspace) first")
    config = RepoConfig(**settings)
    config.repo_path = FEATURE_REPO_DIR
    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), config=config)


def materialize_feature_store(
    workspace: Workspace, start: datetime, end: datetime
) -> dict[str, tuple[datetime, datetime]]:
    """Copy the latest feature rows up to `end` into the online store; return each view's interval.

    A view never materialised gets `materialize(start, end)`: Feast's `materialize_incremental`
    would start at now - ttl and copy nothing from historical data. A view materialised before
    continues from where its last run ended (`materialize_incremental(end)`); `start` is then
    unused and a view already at or past `end` is left alone. Naive datetimes are UTC.
    """
    start, end = _as_utc(start), _as_utc(end)
    if start >= end:
        raise FeatureStoreError(f"materialisation start {start.isoformat()} is not before end {end.isoformat()}")
    store = open_feature_store(workspace)
    views = store.list_feature_views()
    if not views:
        raise FeatureStoreError("the Feast registry has no feature view: run apply_feature_store(workspace) first")
    intervals: dict[str, tuple[datetime, datetime]] = {}
    first_runs = [view.name for view in views if view.most_recent_end_time is None]
    if first_runs:
        store.materialize(start, end, feature_views=first_runs)
        intervals.update({name: (start, end) for name in first_runs})
    continued = {
        view.name: _as_utc(view.most_recent_end_time)
        for view in views
        if view.most_recent_end_time is not None and _as_utc(view.most_recent_end_time) < end
    }
    if continued:
        store.materialize_incremental(end, feature_views=sorted(continued))
        intervals.update({name: (since, end) for name, since in continued.items()})
    return intervals


def online_features(
    workspace: Workspace,
    service_name: str,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    store: "FeatureStore | None" = None,
) -> list[dict[str, Any]]:
    """The online features of feature service `service_name`, one dict per entity row, in order.

    Keys are the entity keys, then `<feature view>__<feature>` in the service's order (views share
    feature names). An entity the online store does not know gets None values, not an error.
    Opening the store costs tens of milliseconds: a caller reading repeatedly passes `store`
    (from `open_feature_store(workspace)`), and a read then takes about a millisecond.
    """
    from feast.errors import FeatureServiceNotFoundException

    if store is None:
        store = open_feature_store(workspace)
    try:
        service = store.get_feature_service(service_name)
    except FeatureServiceNotFoundException:
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
        raise FeatureStoreError(
            f"feature service '{service_name}' is not in the registry (known: {known}); "
            "add it to feature_repo/feature_services.py and run apply_feature_store(workspace)"
        ) from None
    rows = [dict(row) for row in entity_rows]
    # Feast's own error for a missing key lists every key of the project as missing.
    required = list(
        dict.fromkeys(
            column.name
            for projection in service.feature_view_projections
            for column in store.get_feature_view(projection.name).entity_columns
        )
    )
    for index, row in enumerate(rows):
        missing = [key for key in required if key not in row]
        if missing:
            raise FeatureStoreError(
                f"feature service '{service_name}' needs entity keys {', '.join(required)}; "
                f"entity row {index} lacks {', '.join(missing)}"
            )
    response = store.get_online_features(features=service, entity_rows=rows, full_feature_names=True)
    columns = response.to_dict()
    # Feast returns features in an order of its own (not the service's, not stable across
    # processes): put the entity keys first, then the service's features in declared order.
    keys = [key for key in dict.fromkeys(key for row in rows for key in row) if key in columns]
    features = [
        f"{projection.name_to_use()}__{feature.name}"
        for projection in service.feature_view_projections
        for feature in projection.features
    ]
    ordered = keys + features + [name for name in columns if name not in keys and name not in features]
    return [{name: columns[name][index] for name in ordered} for index in range(len(rows))]


def _as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
