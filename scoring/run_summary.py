"""A readable summary of a built workspace: rows per table, quarantine, feature tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from scoring.raw_contract import load_raw_contract
from udfs.identifiers import quote_identifier
from scoring.workspace import Workspace

__all__ = ["WorkspaceSummary", "summarize_workspace", "summarize_feature_tables"]


@dataclass
class WorkspaceSummary:
    """Row counts of a built workspace; `format()` renders it for people."""

    raw_rows: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    feature_tables: dict[str, tuple[int, Path]] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)
    training_views: list[str] = field(default_factory=list)

    def format(self) -> str:
        """The summary as text; sections without rows (a Spark build has only feature tables) are left out."""
        lines = ["raw tables (rows = clean + quarantined):"] if self.raw_rows else []
        for table, rows in self.raw_rows.items():
            quarantined = self.quarantined_rows.get(table, 0)
            lines.append(f"  {table:<18} {rows:>12,} raw  {rows - quarantined:>12,} clean  {quarantined:>8,} quarantined")
        if self.quarantine_reasons:
            lines.append("quarantine reasons:")
            for table, reason, rows in self.quarantine_reasons:
                lines.append(f"  {table:<18} {reason:<40} {rows:>8,}")
        if self.mart_rows:
            lines.append("marts:")
        for table, rows in self.mart_rows.items():
            lines.append(f"  {table:<32} {rows:>12,} rows")
        if self.training_views:
            lines.append("training sets (views, computed when read):")
        for view in self.training_views:
            lines.append(f"  training.{view}")
        lines.append("feature tables (Parquet for Feast):")
        for table, (rows, path) in self.feature_tables.items():
            lines.append(f"  {table:<32} {rows:>12,} rows  {path}")
        return "\n".join(lines)


def summarize_workspace(workspace: Workspace) -> WorkspaceSummary:
    """Count rows in a workspace whose dbt build has finished (opens the warehouse read-only)."""
    summary = WorkspaceSummary()
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        for table in load_raw_contract():
            summary.raw_rows[table] = _count(connection, f"raw.{quote_identifier(table, 'duckdb')}")
        for table, reason, rows in connection.execute(
            "select table_name, quarantine_reason, count(*) from marts.quarantined_rows group by all order by 1, 3 desc"
        ).fetchall():
            summary.quarantine_reasons.append((table, reason, rows))
            summary.quarantined_rows[table] = summary.quarantined_rows.get(table, 0) + rows
        for (table,) in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall():
            summary.mart_rows[table] = _count(connection, f"marts.{quote_identifier(table, 'duckdb')}")
        for (view,) in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'training' order by 1"
        ).fetchall():
            summary.training_views.append(view)
        for path in sorted(workspace.features_dir.glob("*.parquet")):
            rows = connection.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]
            summary.feature_tables[path.stem] = (rows, path)
    return summary


def summarize_feature_tables(workspace: Workspace) -> WorkspaceSummary:
    """Rows of the workspace's feature Parquet only: what a Spark build leaves outside its own catalog."""
    summary = WorkspaceSummary()
    for path in sorted(workspace.features_dir.glob("*.parquet")):
        summary.feature_tables[path.stem] = (pq.read_metadata(path).num_rows, path)
    return summary


def _count(connection: duckdb.DuckDBPyConnection, relation: str) -> int:
    return connection.execute(f"select count(*) from {relation}").fetchone()[0]
