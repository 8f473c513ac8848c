"""payloom's point-in-time path: Feast's `get_historical_features`, through a prepared index of each feature table.

For each entity row (join keys + `event_timestamp`) and each view of a feature service, the
newest feature row of the same keys at or before the row's instant is joined, unless it is
older than the view's TTL, exactly as Feast does. The result has the same columns
(`<view>__<feature>`, Feast's full feature names) and values. It reads the Parquet files dbt
writes, with the view specs of `feature_repo/view_specs.py`, so it needs neither Feast nor its
registry, and it keeps the entity rows in their order.

How, per view (bench/RESULTS.md has the measurements): through the table's *prepared
point-in-time index* (`scoring/point_in_time_index.py`): its rows sorted by (keys, instant),
written once as uncompressed Arrow IPC and NumPy files next to the Parquet
(`Workspace.point_in_time_index_dir`), memory-mapped, and rebuilt whenever the Parquet file
changes. `prepare_training_index` (or `payloom prepare-training-sets`) builds it ahead; otherwise
the first call on a table does. A lookup is a vectorised binary search and a gather of the
matched rows: no Parquet is read. Where the index cannot answer exactly (instants that are not
naive s/ms/µs timestamps, join keys other than strings and integers, more key combinations than
an int64 numbers, an unwritable folder), the two-pass path below serves the view:

1. *Match* (narrow: join keys, `event_timestamp` and the Parquet row number only). Feature rows
   and entity rows get time buckets as wide as the TTL, so the rows a window [t - TTL, t] can
   reach lie in bucket(t - TTL) or bucket(t). An equality hash join on (keys, bucket), filtered
   to the exact window, pairs each entity row with its candidates, and NumPy keeps the newest
   (cheaper than a GROUP BY in DuckDB). DuckDB's ASOF join and a range join on the keys alone
   were both slower. A view without a TTL uses an ASOF join.
2. *Fetch*: only the matched rows' features, by Parquet row number (a semi join DuckDB pushes
   into the Parquet scan as a row filter), then placed in entity-row order by a take split over
   threads, so no ORDER BY over the result. Unmatched rows take an extra NULL row; for pandas,
   DuckDB already turns integer and double features into DOUBLE with NaN (what pandas makes of
   them anyway), so NumPy gathers them straight into the DataFrame's columns.

Both paths return the same values; where a table holds two rows with the same keys and instant
(dbt's contracts forbid it), either may be served, as in Feast (the index takes the later one).

>>> import pandas as pd, tempfile, duckdb
>>> from scoring.workspace import Workspace
>>> workspace = Workspace.at(tempfile.mkdtemp())
>>> workspace.features_dir.mkdir(parents=True)
>>> _ = duckdb.sql("copy (select 'c1' as card_id, timestamp '2025-01-01' as event_timestamp, 5::bigint as attempts_30d) "
...                f"to '{workspace.features_dir / 'card_features.parquet'}'")
>>> entities = pd.DataFrame({"card_id": ["c1", "c1", "c2"],
...     "event_timestamp": pd.to_datetime(["2025-01-02", "2025-01-09", "2025-01-02"])})
>>> historical_features(workspace, entities, views=["card_activity"])["card_activity__attempts_30d"].tolist()
[5.0, nan, nan]
>>> historical_features_arrow(workspace, entities, views=["card_activity"])["card_activity__attempts_30d"].to_pylist()
[5, None, None]
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.errors import FeatureStoreError
from scoring.point_in_time_index import IndexUnsupported, build_index, open_index
from scoring.workspace import FEATURE_REPO_DIR, Workspace

__all__ = ["historical_features", "historical_features_arrow", "prepare_training_index", "view_specs", "service_views"]

_TIMESTAMP = "event_timestamp"
_ROW = "__payloom_row"
_ENTITIES = "__payloom_entities"
_MATCHED = "__payloom_matched"


@cache
def _specs_module() -> ModuleType:
    """feature_repo/view_specs.py (plain data; Feast imports it as a top-level module)."""
    spec = importlib.util.spec_from_file_location("payloom_feature_view_specs", FEATURE_REPO_DIR / "view_specs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def view_specs() -> dict:
    """Name -> ViewSpec of every feature view."""
    return _specs_module().VIEW_SPECS


def service_views(service: str) -> tuple[str, ...]:
    """The views of feature service `service`, in order."""
    services = _specs_module().SERVICE_VIEWS
    if service not in services:
        raise FeatureStoreError(f"unknown feature service {service!r}; expected one of {', '.join(services)}")
    return services[service]


def _quoted(identifier: str) -> str:
    """A DuckDB identifier, quoted.

    >>> _quoted('a"b')
    '"a""b"'
    """
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A DuckDB string literal.

    >>> _literal("/tmp/it's.parquet")
    "'/tmp/it''s.parquet'"
    """
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _stage(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    """Add the seconds the block takes to `timings[name]` (when timings are wanted).

    >>> timings = {}
    >>> with _stage(timings, "match"):
    ...     pass
    >>> list(timings), timings["match"] >= 0
    (['match'], True)
    """
    began = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def _resolved_views(service: str | None, views: Sequence[str] | None) -> list[str]:
    """The view names of `service` or `views` (exactly one of them), checked against the specs.

    >>> _resolved_views(None, ["card_activity"])
    ['card_activity']
    >>> _resolved_views("cross_sell_v1", None)
    ['customer_profile', 'customer_product_affinity']
    """
    if (service is None) == (views is None):
        raise FeatureStoreError("pass either a feature service name or a list of views")
    names = list(service_views(service)) if service is not None else list(views or ())
    specs = view_specs()
    unknown = [name for name in names if name not in specs]
    if unknown:
        raise FeatureStoreError(f"unknown feature views {', '.join(unknown)}; expected some of {', '.join(specs)}")
    return names


def _needed_columns(names: Sequence[str], columns: Sequence[str], service: str | None) -> list[str]:
    """`event_timestamp` and every join key of the views, after checking `columns` hold them all."""
    specs = view_specs()
    needed = [_TIMESTAMP, *dict.fromkeys(key for name in names for key in specs[name].join_keys)]
    missing = [column for column in needed if column not in columns]
    if missing:
        raise FeatureStoreError(f"the entity rows lack columns {', '.join(missing)}; {service or 'the views'} need {', '.join(needed)}")
    return needed


def _normalised_frame(entity_rows: pd.DataFrame) -> pd.DataFrame:
    """A copy of the entity rows (index 0..n-1) whose `event_timestamp` is naive UTC, in microseconds.

    >>> frame = pd.DataFrame({"event_timestamp": pd.to_datetime(["2025-01-01 12:00"]).tz_localize("Europe/Paris")})
    >>> _normalised_frame(frame)["event_timestamp"].tolist()
    [Timestamp('2025-01-01 11:00:00')]
    """
    entities = entity_rows.reset_index(drop=True)
    stamps = pd.to_datetime(entities[_TIMESTAMP])
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    entities[_TIMESTAMP] = stamps.astype("datetime64[us]")
    return entities


def _normalised_table(entity_rows: pa.Table) -> pa.Table:
    """The entity rows with `event_timestamp` as naive UTC microseconds (Arrow keeps aware ones in UTC).

    >>> table = pa.table({"event_timestamp": pa.array([0], pa.timestamp("ns", tz="Asia/Tokyo"))})
    >>> _normalised_table(table).schema.field("event_timestamp").type
    TimestampType(timestamp[us])
    """
    stamps = entity_rows[_TIMESTAMP]
    if not pa.types.is_timestamp(stamps.type):
        raise FeatureStoreError(f"the entity rows' {_TIMESTAMP} is {stamps.type}; an Arrow table needs a timestamp column")
    position = entity_rows.schema.get_field_index(_TIMESTAMP)
    return entity_rows.set_column(position, _TIMESTAMP, stamps.cast(pa.timestamp("us"), safe=False))


def _match_query(path: Path, join_keys: Sequence[str], ttl: timedelta) -> str:
    """SQL pairing entity rows with candidate feature rows: (entity row, feature instant in µs, Parquet row).

    Every feature row of the same keys in [t - TTL, t] is a candidate of the entity row at t; the
    newest one is picked afterwards (`_newest`). With a TTL of w µs, both sides get the bucket
    epoch_us // w. Buckets are at least w wide and in time order, so the candidates lie in
    bucket(t - w) or bucket(t): the entity rows join on (keys, bucket) once per distinct one of
    those two buckets, and the exact window filters the pairs. That equality hash join is far
    cheaper than a range join on the keys alone or DuckDB's ASOF join (bench/RESULTS.md). Without
    a TTL (zero or None, as in Feast), an ASOF join pairs each entity row with its newest row directly.

    >>> print(_match_query(Path("f.parquet"), ["card_id"], timedelta(0)))  # doctest: +NORMALIZE_WHITESPACE
    select e.__payloom_row, epoch_us(f."event_timestamp"), f.file_row_number from __payloom_entities as e asof join
    (select "card_id", "event_timestamp", file_row_number from read_parquet('f.parquet', file_row_number = true)) as f
    on e."card_id" = f."card_id" and e."event_timestamp" >= f."event_timestamp"
    """
    keys = [_quoted(key) for key in join_keys]
    scan = f"read_parquet({_literal(str(path))}, file_row_number = true)"
    keys_equal = " and ".join(f"e.{key} = f.{key}" for key in keys)
    stamp = _quoted(_TIMESTAMP)
    selected = f"select e.{_ROW}, epoch_us(f.{stamp}), f.file_row_number"
    width = int(ttl / timedelta(microseconds=1)) if ttl else 0
    if width <= 0:
        return (f"{selected} from {_ENTITIES} as e asof join"
                f" (select {', '.join(keys)}, {stamp}, file_row_number from {scan}) as f"
                f" on {keys_equal} and e.{stamp} >= f.{stamp}")
    earliest = f"epoch_us({stamp} - to_microseconds({width})) // {width}"
    columns = f"{_ROW}, {', '.join(keys)}, {stamp}"
    return (
        f"with e as (select {columns}, epoch_us({stamp}) // {width} as bucket from {_ENTITIES}"
        f" union all select {columns}, {earliest} from {_ENTITIES} where {earliest} <> epoch_us({stamp}) // {width}),"
        f" f as (select {', '.join(keys)}, {stamp}, file_row_number, epoch_us({stamp}) // {width} as bucket from {scan})"
        f" {selected} from e inner join f on {keys_equal} and e.bucket = f.bucket"
        f" and f.{stamp} <= e.{stamp} and f.{stamp} >= e.{stamp} - to_microseconds({width})"
    )


def _newest(pairs: pa.Table, row_count: int) -> np.ndarray:
    """Per entity row, the Parquet row of its newest candidate, or -1 if it has none.

    `pairs` holds (entity row, feature instant, Parquet row); (keys, instant) are unique in a
    feature table, so each entity row has one newest candidate.

    >>> _newest(pa.table({"row": [0, 0, 2], "at": [5, 9, 1], "file_row": [10, 11, 12]}), 4).tolist()
    [11, -1, 12, -1]
    """
    rows, instants, file_rows = (column.to_numpy() for column in pairs.columns)
    newest = np.full(row_count, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(newest, rows, instants)
    winners = instants == newest[rows]
    matched = np.full(row_count, -1, dtype=np.int64)
    matched[rows[winners]] = file_rows[winners]
    return matched


def _placed(table: pa.Table, index: np.ndarray, as_numpy: Sequence[str] = ()) -> dict[str, pa.ChunkedArray | np.ndarray]:
    """Rows `index` of each column of `table`: an Arrow take, or for the `as_numpy` columns (float64
    without NULLs) a NumPy take into a new, writable array. The columns are split between threads
    (both release the GIL), as this random gather is the largest single-threaded step.

    >>> placed = _placed(pa.table({"x": [1.0, 2.0, 3.0], "s": ["a", "b", None]}), np.array([1, 2, 0]), ["x"])
    >>> placed["x"].tolist(), placed["s"].to_pylist()
    ([2.0, 3.0, 1.0], ['b', None, 'a'])
    """
    names = table.column_names
    parts = max(1, min(len(names), os.cpu_count() or 1))
    groups = [names[start::parts] for start in range(parts)]
    indices = pa.array(index)

    def gather(group: list[str]) -> list[pa.ChunkedArray | np.ndarray]:
        return [np.take(table[name].to_numpy(), index) if name in as_numpy else table[name].take(indices) for name in group]

    with ThreadPoolExecutor(parts) as pool:
        taken = dict(zip((name for group in groups for name in group), (column for part in pool.map(gather, groups) for column in part)))
    return {name: taken[name] for name in names}


def _missing_row(schema: pa.Schema, not_a_number: Sequence[str]) -> pa.Table:
    """One row of `schema`: NaN in the `not_a_number` columns, NULL elsewhere.

    >>> _missing_row(pa.schema([("x", pa.float64()), ("s", pa.string())]), ["x"]).to_pylist()
    [{'x': nan, 's': None}]
    """
    return pa.Table.from_arrays(
        [pa.array([float("nan")], field.type) if field.name in not_a_number else pa.nulls(1, field.type) for field in schema],
        schema=schema,
    )


def _view_features(
    connection: duckdb.DuckDBPyConnection, path: Path, name: str, join_keys: Sequence[str], ttl: timedelta,
    row_count: int, timings: dict[str, float] | None, for_pandas: bool = False,
) -> dict[str, pa.ChunkedArray | np.ndarray]:
    """The `<name>__<feature>` columns of the view over Parquet `path`, one row per entity row, in order
    (Arrow columns; `for_pandas`, the NaN-cast ones as writable NumPy arrays).

    Entity rows without a match take a last, extra row: NULL, or, `for_pandas`, NaN in the integer
    and double columns, which DuckDB casts to DOUBLE with NaN for NULL while fetching. That is what
    pandas makes of them anyway (as Arrow's `to_pandas` and Feast's `to_df` do once any row lacks a
    value), and it leaves `to_pandas` nothing to convert. With every row matched, nothing is cast.
    """
    schema = pq.read_schema(path)
    absent = [column for column in (*join_keys, _TIMESTAMP) if column not in schema.names]
    if absent:
        raise FeatureStoreError(f"feature table {path} lacks columns {', '.join(absent)} of view {name}")
    features = [column for column in schema.names if column not in (*join_keys, _TIMESTAMP)]
    with _stage(timings, "match"):
        matched = _newest(connection.sql(_match_query(path, join_keys, ttl)).to_arrow_table(), row_count)
        found = matched >= 0
    numeric = []
    if for_pandas and not found.all():
        numeric = [feature for feature in features
                   if pa.types.is_integer(schema.field(feature).type) or pa.types.is_float64(schema.field(feature).type)]
    with _stage(timings, "fetch"):
        selected = [f"coalesce(cast({_quoted(feature)} as double), 'nan'::double) as {_quoted(feature)}"
                    if feature in numeric else _quoted(feature) for feature in features]
        connection.register(_MATCHED, pa.table({"file_row_number": matched[found]}))
        try:
            fetched = connection.sql(
                f"select file_row_number, {', '.join(selected)}"
                f" from read_parquet({_literal(str(path))}, file_row_number = true)"
                f" where file_row_number in (select file_row_number from {_MATCHED})"
            ).to_arrow_table()
        finally:
            connection.unregister(_MATCHED)
    with _stage(timings, "place"):
        # Entity row i takes the fetched row holding Parquet row matched[i], or the extra last row.
        fetched_rows = fetched["file_row_number"].to_numpy()
        position = np.zeros(int(fetched_rows.max()) + 1 if len(fetched_rows) else 1, dtype=np.int64)
        position[fetched_rows] = np.arange(len(fetched_rows))
        payload = fetched.drop_columns(["file_row_number"])
        payload = pa.concat_tables([payload, _missing_row(payload.schema, numeric)])  # a chunk more, no copy
        placed = _placed(payload, np.where(found, position[np.where(found, matched, 0)], fetched.num_rows), numeric)
        return {f"{name}__{feature}": placed[feature] for feature in features}


def _indexed_view_features(
    workspace: Workspace, path: Path, name: str, join_keys: Sequence[str], ttl: timedelta, keys: pa.Table,
    timings: dict[str, float] | None, for_pandas: bool,
) -> dict[str, pa.Array | pa.ChunkedArray | np.ndarray] | None:
    """`_view_features` through the prepared index (built now if missing or stale), or None where the
    index cannot serve the table or the entity rows exactly (the caller then takes the two-pass path)."""
    try:
        with _stage(timings, "index"):
            index = open_index(path, join_keys, workspace.point_in_time_index_dir)
        with _stage(timings, "match"):
            rows = index.matched_rows(keys.select([*join_keys, _TIMESTAMP]), ttl)
    except IndexUnsupported:
        return None
    except OSError as error:
        warnings.warn(f"cannot write the point-in-time index of {path} under {workspace.point_in_time_index_dir} ({error}); "
                      "using the slower two-pass path: make that folder writable", stacklevel=4)
        return None
    with _stage(timings, "place"):
        every_row_found = not (rows == index.manifest["rows"]).any()
        features = index.features(rows, numeric_as_nan=for_pandas and not every_row_found)
        return {f"{name}__{feature}": column for feature, column in features.items()}


def _feature_paths(workspace: Workspace, names: Sequence[str]) -> dict[str, Path]:
    """View name -> its feature table, after checking every one exists."""
    specs = view_specs()
    paths = {name: workspace.features_dir / f"{specs[name].dbt_model}.parquet" for name in names}
    for path in paths.values():
        if not path.is_file():
            raise FeatureStoreError(f"feature table {path} is missing: run `payloom build` for this workspace first")
    return paths


def _features(
    workspace: Workspace, keys: pa.Table, names: Sequence[str], connection: duckdb.DuckDBPyConnection | None,
    timings: dict[str, float] | None, for_pandas: bool,
) -> list[dict[str, pa.Array | pa.ChunkedArray | np.ndarray]]:
    """The feature columns of each view for the entity `keys` (join keys and naive `event_timestamp`):
    through the prepared index where it serves, else by the two passes over the Parquet."""
    specs = view_specs()
    paths = _feature_paths(workspace, names)
    found = {name: _indexed_view_features(workspace, paths[name], name, specs[name].join_keys, specs[name].ttl, keys, timings, for_pandas)
             for name in names}
    remaining = [name for name in names if found[name] is None]
    if not remaining:
        return [found[name] for name in names]
    own_connection = connection is None
    connection = connection or duckdb.connect()
    try:
        connection.register(_ENTITIES, keys.append_column(_ROW, pa.array(np.arange(keys.num_rows, dtype=np.int64))))
        try:
            for name in remaining:
                found[name] = _view_features(connection, paths[name], name, specs[name].join_keys, specs[name].ttl, keys.num_rows,
                                             timings, for_pandas)
            return [found[name] for name in names]
        finally:
            connection.unregister(_ENTITIES)
    finally:
        if own_connection:
            connection.close()


def prepare_training_index(workspace: Workspace, service: str | None = None, *, views: Sequence[str] | None = None) -> dict[str, Path]:
    """Build the prepared point-in-time index of the feature tables of `service` (or of `views`)
    now, instead of on their first training set; current indexes are kept. Returns view name -> its
    index directory (views the index cannot serve exactly, which use the two-pass path, are left out).
    """
    names = _resolved_views(service, views)
    specs, paths = view_specs(), _feature_paths(workspace, names)
    prepared = {}
    for name in names:
        directory = build_index(paths[name], specs[name].join_keys, workspace.point_in_time_index_dir)
        if "unsupported" not in (directory / "manifest.json").read_text():
            prepared[name] = directory
    return prepared


def historical_features(
    workspace: Workspace,
    entity_rows: pd.DataFrame,
    service: str | None = None,
    *,
    views: Sequence[str] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    timings: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The entity rows with the features of `service` (or of `views`) as of each row's instant.

    `entity_rows` holds every join key of those views and `event_timestamp` (naive = UTC, or
    time-zone aware). The result keeps the rows in order (index 0..n-1), with `event_timestamp`
    as naive UTC, and appends `<view>__<feature>` columns (integers with NULLs become floats, as
    in Feast's `to_df`). `timings`, if given, receives the seconds of each stage.
    """
    names = _resolved_views(service, views)
    needed = _needed_columns(names, list(entity_rows.columns), service)
    with _stage(timings, "entities"):
        entities = _normalised_frame(entity_rows)
        keys = pa.Table.from_pandas(entities[needed], preserve_index=False)
    tables = _features(workspace, keys, names, connection, timings, for_pandas=True)
    with _stage(timings, "to_pandas"):
        # The NaN-cast feature columns are NumPy arrays already; the rest go through Arrow's to_pandas
        # (writable copies). A DataFrame built from a dict of columns skips pd.concat's copies.
        frames: list[pd.DataFrame | dict] = [entities]
        for columns in tables:
            arrow = {name: column for name, column in columns.items() if not isinstance(column, np.ndarray)}
            converted = pa.table(arrow).to_pandas() if arrow else {}
            frames.append({name: column if isinstance(column, np.ndarray) else converted[name] for name, column in columns.items()})
        names = [name for frame in frames for name in frame]
        if len(set(names)) < len(names):  # an entity column named like a feature: keep both, as concat does
            return pd.concat([frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame) for frame in frames], axis=1)
        return pd.DataFrame({name: frame[name] for frame in frames for name in frame}, copy=False)


def historical_features_arrow(
    workspace: Workspace,
    entity_rows: pd.DataFrame | pa.Table,
    service: str | None = None,
    *,
    views: Sequence[str] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    timings: dict[str, float] | None = None,
) -> pa.Table:
    """`historical_features` as an Arrow table, for callers that need no pandas (no conversion back).

    `entity_rows` may be a pandas DataFrame or an Arrow table (whose `event_timestamp` is an
    Arrow timestamp, naive = UTC or time-zone aware).
    """
    names = _resolved_views(service, views)
    columns = entity_rows.column_names if isinstance(entity_rows, pa.Table) else list(entity_rows.columns)
    needed = _needed_columns(names, columns, service)
    with _stage(timings, "entities"):
        if isinstance(entity_rows, pa.Table):
            entities = _normalised_table(entity_rows)
        else:
            entities = pa.Table.from_pandas(_normalised_frame(entity_rows), preserve_index=False)
    tables = _features(workspace, entities.select(needed), names, connection, timings, for_pandas=False)
    with _stage(timings, "assemble"):
        for columns in tables:
            for name, column in columns.items():
                entities = entities.append_column(name, column)
        return entities
