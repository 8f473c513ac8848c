"""The main job's serving step: apply the Feast repo, materialise, and read one card online.

It proves on every run that what dbt built is servable: the online row of the busiest card
equals its latest offline row (the caller prints both sides).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import duckdb

from scoring.feature_store import apply_feature_store, materialize_feature_store, online_features, open_feature_store
from scoring.sql_identifiers import column_sql
from scoring.workspace import Workspace

__all__ = ["FeatureServingSummary", "busiest_card_last_attempt", "serve_features"]

_SHOWN = ("card_activity__attempts_30d", "card_activity__decline_ratio_30d", "card_activity__days_since_last_approval")


@dataclass
class FeatureServingSummary:
    """Views materialised, and one online lookup with its latency."""

    materialized: dict[str, tuple[datetime, datetime]]
    card_id: str
    online_row: dict[str, Any]
    offline_row: dict[str, Any]
    lookup_milliseconds: float

    def format(self) -> str:
        lines = [f"feature store (Feast, SQLite online store): {len(self.materialized)} feature views materialised"]
        for name, (start, end) in sorted(self.materialized.items()):
            lines.append(f"  {name:<36} {start:%Y-%m-%d} .. {end:%Y-%m-%d %H:%M}")
        shown = ", ".join(f"{name.split('__', 1)[1]}={self.online_row.get(name)}" for name in _SHOWN)
        lines.append(f"  online lookup of card {self.card_id} (issuer_decline_v1, {self.lookup_milliseconds:.1f} ms): {shown}")
        matches = all(_same(self.online_row.get(name), self.offline_row.get(name.split("__", 1)[1])) for name in _SHOWN)
        lines.append(f"  equals its latest offline row in card_features: {'yes' if matches else 'NO'}")
        return "\n".join(lines)


def busiest_card_last_attempt(workspace: Workspace, columns: tuple[str, ...]) -> dict[str, Any]:
    """`columns` of the last attempt (marts.fct_authorizations) of the card with most attempts.

    Each column is a plain SQL identifier, quoted (InvalidIdentifierError otherwise)."""
    selected = ", ".join(column_sql(column, what="fct_authorizations column") for column in columns)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        row = connection.execute(
            f"select {selected} from marts.fct_authorizations"
            " where card_id = (select card_id from marts.fct_authorizations group by card_id order by count(*) desc, card_id limit 1)"
            " order by attempted_at desc limit 1"
        ).fetchone()
    return dict(zip(columns, row))


def _same(online: Any, offline: Any) -> bool:
    """Equal values; Feast's None and pandas' NaN both mean missing."""
    if online is None or (isinstance(online, float) and math.isnan(online)):
        return offline is None or (isinstance(offline, float) and math.isnan(offline))
    return online == offline


def serve_features(workspace: Workspace, *, start: datetime, end: datetime, echo: TextIO | None = sys.stderr) -> FeatureServingSummary:
    """Apply feature_repo/, materialise [start, end] and look up the busiest card online."""
    if echo is not None:
        print("feast apply + materialize", file=echo, flush=True)
    apply_feature_store(workspace)
    materialized = materialize_feature_store(workspace, start, end)
    card_features = str(workspace.features_dir / "card_features.parquet")
    entity_columns = ("card_id", "card_bin", "merchant_category", "issuer_id", "gateway", "card_network",
                      "issuer_country", "transaction_type")
    # The busiest card's last attempt: a real entity row for every view of the service.
    entity = busiest_card_last_attempt(workspace, entity_columns)
    with duckdb.connect(str(workspace.warehouse), read_only=True) as connection:
        offline = connection.execute(
            "select * from read_parquet(?) where card_id = ? and event_timestamp <= ?"
            " order by event_timestamp desc limit 1",
            [card_features, entity["card_id"], end],
        ).df().iloc[0].to_dict()
    store = open_feature_store(workspace)
    online_features(workspace, "issuer_decline_v1", [entity], store=store)  # warm: first call loads the registry
    began = time.perf_counter()
    row = online_features(workspace, "issuer_decline_v1", [entity], store=store)[0]
    milliseconds = (time.perf_counter() - began) * 1000
    return FeatureServingSummary(materialized=materialized, card_id=entity["card_id"], online_row=row, offline_row=offline,
                                 lookup_milliseconds=milliseconds)
