"""Build the features of a workspace: register its raw data, then `dbt build` (models + tests).

The same dbt project builds on DuckDB (target `duckdb`, the default: the warehouse file and
feature Parquet of the workspace) and on Spark (target `spark`: a local SparkSession with its
catalog under `workspace.spark_dir`; docs/scale-out.md). Either way the feature tables end up
as `<features_dir>/<model>.parquet`. On Spark the workspace registry's promoted models become
Spark SQL functions first (`scoring.spark_score_functions`), so the score models build there too.

A build writes its feature tables into a staging folder and publishes them together when dbt
succeeds (`scoring.feature_publication`): a reader never sees files of two builds side by side,
and a failed or killed build leaves the previous tables in place.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from typing import TextIO

import duckdb

from scoring.dbt_runner import run_dbt
from scoring.errors import PipelineError
from scoring.feature_export import gather_feature_exports
from scoring.feature_publication import discard_feature_build, publish_feature_build, stage_feature_build
from scoring.raw_contract import load_raw_contract
from scoring.raw_tables import RegisteredTable, register_raw_tables
from scoring.spark_score_functions import score_function_variables
from scoring.warehouse_lock import connect_warehouse
from scoring.workspace import Workspace

__all__ = ["register_workspace_raw", "build_features", "TARGETS", "raw_tables_variable"]

TARGETS = ("duckdb", "spark")
"""dbt targets of profiles.yml that payloom builds with."""
SCORE_FUNCTIONS_FILE = "score_functions.sql"
"""Under the workspace's Spark folder: the models as Spark SQL functions, one statement a line."""


def register_workspace_raw(workspace: Workspace) -> list[RegisteredTable]:
    """Validate the workspace's raw directory and (re)create its `raw.*` views in the warehouse."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    with connect_warehouse(workspace) as connection:
        return register_raw_tables(connection, workspace.raw_dir)


def raw_tables_variable(registered: list[RegisteredTable]) -> dict[str, dict[str, object]]:
    """The dbt var `raw_tables` from which Spark creates its raw views (macro register_raw_sources).

    >>> raw_tables_variable([RegisteredTable("offers", None, None)])["offers"]["format"]
    'none'
    """
    contract = load_raw_contract()
    return {
        table.name: {
            "location": table.location,
            "format": table.file_format or "none",
            "columns": dict(contract[table.name].columns),
        }
        for table in registered
    }


def build_features(
    workspace: Workspace,
    *,
    feature_cutoff_at: datetime | None = None,
    load_started_at: datetime | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    exclude: str | None = None,
    target: str = "duckdb",
    echo: TextIO | None = sys.stderr,
) -> list[RegisteredTable]:
    """Register raw data and run `dbt build`; every dbt test runs and a failing one raises.

    `feature_cutoff_at` stamps each entity's current feature row (default: now); pass the end
    of a simulated period. `load_started_at` is the instant after which timestamps are future.
    `target` is the dbt target: `duckdb` (the workspace's warehouse file) or `spark` (a local
    SparkSession; the registry's promoted models are created there as SQL functions).
    """
    if target not in TARGETS:
        raise PipelineError(f"unknown build target {target!r}: use one of {', '.join(TARGETS)} (profiles.yml)")
    variables: dict[str, object] = {}
    if target == "duckdb":
        registered = register_workspace_raw(workspace)
    else:
        # Validate with an in-memory DuckDB (the same checks); Spark creates its own raw views.
        workspace.root.mkdir(parents=True, exist_ok=True)
        with duckdb.connect() as connection:
            registered = register_raw_tables(connection, workspace.raw_dir)
        variables["raw_tables"] = raw_tables_variable(registered)
        variables.update(score_function_variables(workspace.model_registry, workspace.spark_dir / SCORE_FUNCTIONS_FILE))
        shutil.rmtree(workspace.spark_export_dir, ignore_errors=True)
    if feature_cutoff_at is not None:
        variables["feature_cutoff_at"] = feature_cutoff_at.isoformat(sep=" ")
    if load_started_at is not None:
        variables["load_started_at"] = load_started_at.isoformat(sep=" ")
    arguments = ["build", "--target", target]
    if full_refresh:
        arguments.append("--full-refresh")
    if select:
        arguments += ["--select", select]
    if exclude:
        arguments += ["--exclude", exclude]
    staged = stage_feature_build(workspace)
    views_in_warehouse = target == "duckdb"
    try:
        run_dbt(workspace, arguments, variables=variables, features_dir=staged, echo=echo)
        if target == "spark":
            gather_feature_exports(workspace.spark_export_dir, staged)
    except BaseException:
        discard_feature_build(workspace, staged, repoint_views=views_in_warehouse)
        raise
    publish_feature_build(workspace, staged, repoint_views=views_in_warehouse)
    return registered
