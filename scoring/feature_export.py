"""Gather feature tables that an engine wrote as Parquet part files into one file per table.

DuckDB writes each feature model straight to `<features_dir>/<model>.parquet`. Spark writes a
folder of part files per model (the `export_feature_table` post-hook); this module turns each
folder into the same single file, so Feast, the tests and users read the same layout whatever
engine built it. Spark's timestamps are instants (UTC-adjusted); the contract's are UTC wall
times without a zone, as DuckDB writes them, so the zone is dropped (values are unchanged).

>>> import tempfile, pathlib, datetime, pyarrow as pa, pyarrow.parquet as pq
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "export" / "card_features").mkdir(parents=True)
>>> at = pa.array([datetime.datetime(2025, 1, 1)], pa.timestamp("us", tz="UTC"))
>>> pq.write_table(pa.table({"card_id": ["c1"], "event_timestamp": at}), root / "export" / "card_features" / "part-0.parquet")
>>> [path.name for path in gather_feature_exports(root / "export", root / "features")]
['card_features.parquet']
>>> pq.read_table(root / "features" / "card_features.parquet").schema.field("event_timestamp").type
TimestampType(timestamp[us])
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scoring.errors import PipelineError

__all__ = ["gather_feature_exports"]


def gather_feature_exports(export_dir: Path | str, features_dir: Path | str) -> list[Path]:
    """Write `<features_dir>/<model>.parquet` from every `<export_dir>/<model>/` folder of part files.

    Returns the written files, sorted by name. Each file is replaced atomically.
    """
    export_dir, features_dir = Path(export_dir), Path(features_dir)
    if not export_dir.is_dir():
        raise PipelineError(
            f"no feature exports in {export_dir}: the Spark build writes them with the export_feature_table "
            "post-hook of the feature models; run `payloom build --target spark` first"
        )
    features_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in sorted(path for path in export_dir.iterdir() if path.is_dir()):
        parts = sorted(folder.glob("*.parquet"))
        if not parts:
            raise PipelineError(f"{folder} has no Parquet part files: rebuild the feature model {folder.name!r}")
        table = _without_time_zones(pa.concat_tables([pq.read_table(part) for part in parts], promote_options="none"))
        target = features_dir / f"{folder.name}.parquet"
        partial = target.with_suffix(".parquet.partial")
        pq.write_table(table, partial)
        os.replace(partial, target)
        written.append(target)
    return written


def _without_time_zones(table: pa.Table) -> pa.Table:
    """Zone-aware timestamps as UTC wall times without a zone (the instants are kept)."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            if field.type.tz not in ("UTC", "+00:00", "Etc/UTC"):
                raise PipelineError(f"column {field.name!r} has time zone {field.type.tz}: the Spark session must use UTC (profiles.yml)")
            field = field.with_type(pa.timestamp(field.type.unit))
        fields.append(field)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))
