"""Build the features of a workspace: register its raw data, then `dbt build` (models + tests)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

import duckdb

from scoring.dbt_runner import run_dbt
from scoring.raw_tables import RegisteredTable, register_raw_tables
from scoring.workspace import Workspace

__all__ = ["register_workspace_raw", "build_features"]


def register_workspace_raw(workspace: Workspace) -> list[RegisteredTable]:
    """Validate the workspace's raw directory and (re)create its `raw.*` views in the warehouse."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(workspace.warehouse)) as connection:
        return register_raw_tables(connection, workspace.raw_dir)


def build_features(
    workspace: Workspace,
    *,
    feature_cutoff_at: datetime | None = None,
    load_started_at: datetime | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    exclude: str | None = None,
    echo: TextIO | None = sys.stderr,
) -> list[RegisteredTable]:
    """Register raw data and run `dbt build`; every dbt test runs and a failing one raises.

    `feature_cutoff_at` stamps each entity's current feature row (default: now); pass the end
    of a simulated period. `load_started_at` is the instant after which timestamps are future.
    """
    registered = register_workspace_raw(workspace)
    variables: dict[str, object] = {}
    if feature_cutoff_at is not None:
        variables["feature_cutoff_at"] = feature_cutoff_at.isoformat(sep=" ")
    if load_started_at is not None:
        variables["load_started_at"] = load_started_at.isoformat(sep=" ")
    arguments = ["build"]
    if full_refresh:
        arguments.append("--full-refresh")
    if select:
        arguments += ["--select", select]
    if exclude:
        arguments += ["--exclude", exclude]
    run_dbt(workspace, arguments, variables=variables, echo=echo)
    return registered
