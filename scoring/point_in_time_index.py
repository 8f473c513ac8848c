"""The prepared point-in-time index of a feature table: its rows sorted by (join keys, instant), written
once as uncompressed Arrow IPC (Feather v2) and memory-mapped afterwards, so a training set is a
vectorised search plus a gather, not two scans of the compressed Parquet (bench/RESULTS.md).

One directory per source *identity* (resolved path, size, mtime, inode, a digest of the Parquet
footer, join keys, format), under `Workspace.point_in_time_index_dir`:

- `rows.arrow`: the n usable feature rows (non-NULL keys and instant) in (key, instant, Parquet
  row) order, plus one all-NULL row that unmatched entity rows point at. Columns: `__stamp` (µs),
  `__search` (key code * buckets + (µs - first) // grain: one globally sorted int64) and the
  features that are not fixed-width (strings, ...).
- `slots.npy`: the same n + 1 rows of the fixed-width features (integers, floats, booleans,
  dates and times) as int64 words, row-major, then validity bit words: a row's features sit in
  one to three cache lines, where a columnar gather would miss the cache once per feature.
- `keys.arrow`: one row: each join key's distinct values, the ids of the key tuples present and
  the first row of each tuple.
- `manifest.json`: the identity, the time grain and the column layout.

A lookup factorises the entity keys against the distinct values (`pyarrow.compute.index_in`),
searches the sorted queries with `np.searchsorted(side='right') - 1`, keeps the row if it has the
same keys and lies in [t - TTL, t], and gathers the rows' slots. A grain above 1 µs (only when
keys * µs span would not fit in int64) is corrected by stepping back over rows newer than t.
`open_index` raises `IndexUnsupported` for what it cannot serve exactly; callers then use the
two-pass path.

>>> _time_grain(200_000, 120 * 86_400 * 10**6)   # 200 k cards over 120 days: 1 µs
(1, 10368000000001)
>>> _time_grain(10, 2**62)
(11, 419244183493398901)
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from scoring.errors import FeatureStoreError

__all__ = ["IndexUnsupported", "PointInTimeIndex", "open_index", "build_index", "source_identity"]

FORMAT = 1
TIMESTAMP = "event_timestamp"
_SEARCH_LIMIT = 2**62  # key codes * buckets stays below it: no int64 overflow, room for -1 and the NULL row
_NO_ROW = np.iinfo(np.int64).max
_OPEN: dict[Path, "PointInTimeIndex"] = {}  # open memory maps of this process, by index directory
_OPEN_LIMIT = 8
_SCHEMA_KEY = b"payloom.features"  # rows.arrow's metadata: the features' own Arrow schema
_GATHER_STEP = 1 << 13  # entity rows per slot gather: the gathered block stays in cache for its transpose


class IndexUnsupported(FeatureStoreError):
    """The index cannot serve this table or these entity rows exactly (the caller falls back)."""


def _footer_digest(path: Path) -> str:
    """SHA-256 of the Parquet footer (schema, row groups and their statistics): a rewrite of the
    same size within one mtime tick still changes it."""
    with path.open("rb") as handle:
        handle.seek(-8, os.SEEK_END)
        length = int.from_bytes(handle.read(4), "little")
        handle.seek(-8 - min(length, path.stat().st_size - 8), os.SEEK_END)
        return hashlib.sha256(handle.read()).hexdigest()


def source_identity(path: Path, join_keys: Sequence[str]) -> dict:
    """What an index of the Parquet file `path` is valid for; any change means a rebuild."""
    resolved = path.resolve()
    status = resolved.stat()
    return {"format": FORMAT, "path": str(resolved), "size": status.st_size, "mtime_ns": status.st_mtime_ns,
            "inode": status.st_ino, "footer_sha256": _footer_digest(resolved), "join_keys": list(join_keys)}


def _directory_of(root: Path, identity: dict) -> Path:
    """`<root>/<table>-<digest of identity>`."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    return root / f"{Path(identity['path']).stem}-{digest}"


def _time_grain(key_count: int, span: int) -> tuple[int, int]:
    """(grain µs, buckets): the finest grain with key_count * buckets < 2**62, buckets = span // grain + 1."""
    room = (_SEARCH_LIMIT - 1) // max(key_count, 1)  # the most buckets allowed
    grain = 1 if span < room else span // room + 1
    return grain, span // grain + 1


def _slot_kind(data_type: pa.DataType) -> str | None:
    """How a feature is stored in the int64 slots, or None for an Arrow column."""
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_float32(data_type) or pa.types.is_float64(data_type):
        return "float"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type) or pa.types.is_time(data_type) or pa.types.is_duration(data_type):
        return "temporal"
    return None


def _key_family(data_type: pa.DataType) -> str | None:
    """`string` or `integer`: the join key types the index compares exactly as DuckDB does."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_integer(data_type):
        return "integer"
    return None


def _check_schema(schema: pa.Schema, join_keys: Sequence[str]) -> None:
    """Raise IndexUnsupported unless the instant is a naive s/ms/µs timestamp and the keys strings or integers."""
    stamp = schema.field(TIMESTAMP).type
    if not (pa.types.is_timestamp(stamp) and stamp.tz is None and stamp.unit in ("s", "ms", "us")):
        raise IndexUnsupported(f"{TIMESTAMP} is {stamp}; the index needs a naive timestamp in s, ms or us")
    for key in join_keys:
        if _key_family(schema.field(key).type) is None:
            raise IndexUnsupported(f"join key {key} is {schema.field(key).type}; the index needs strings or integers")


def _micros(stamps: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Naive timestamps as int64 µs since the epoch (NULL as 0: callers mask them)."""
    return pc.fill_null(stamps.cast(pa.timestamp("us")).cast(pa.int64()), 0).to_numpy()


def _key_ids(columns: Sequence[pa.ChunkedArray], values: Sequence[pa.Array]) -> np.ndarray:
    """Mixed-radix ids of the key tuples (code of key 1, code of key 2, ...); -1 if a key is NULL or unknown.

    >>> _key_ids([pa.chunked_array([["a", "b", None, "z"]]), pa.chunked_array([[1, 2, 2, 1]])],
    ...          [pa.array(["b", "a"]), pa.array([2, 1])]).tolist()
    [3, 0, -1, -1]
    """
    ids = np.zeros(len(columns[0]), dtype=np.int64)
    unknown = np.zeros(len(ids), dtype=bool)
    for column, distinct in zip(columns, values):
        codes = pc.fill_null(pc.index_in(column, value_set=distinct), -1).to_numpy().astype(np.int64)
        unknown |= codes < 0
        ids = ids * len(distinct) + codes
    ids[unknown] = -1
    return ids


def _dense_codes(ids: np.ndarray, radix: int) -> tuple[np.ndarray, np.ndarray]:
    """(the key id of each code, the code of each id): codes number the distinct ids in order.

    >>> [part.tolist() for part in _dense_codes(np.array([7, 2, 7, 4]), 10)]
    [[2, 4, 7], [2, 0, 2, 1]]
    """
    if radix <= 4 * len(ids) + 1024:
        present = np.bincount(ids, minlength=radix) > 0
        return np.flatnonzero(present), (np.cumsum(present) - 1)[ids]
    distinct, codes = np.unique(ids, return_inverse=True)
    return distinct, codes.reshape(-1)


def _encoded(column: pa.ChunkedArray, kind: str) -> np.ndarray:
    """A feature as int64 words (NULL as 0, or NaN for floats, which pandas shows for NULL).

    >>> _encoded(pa.chunked_array([[1.5, None]]), "float").view(np.float64).tolist()
    [1.5, nan]
    >>> _encoded(pa.chunked_array([pa.array([86_400_000_000, None], pa.timestamp("us"))]), "temporal").tolist()
    [86400000000, 0]
    """
    if kind == "float":  # NULL becomes NaN
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64).view(np.int64)
    if kind == "temporal":
        column = column.cast(pa.int64() if column.type.bit_width == 64 else pa.int32())
    if column.null_count:
        column = pc.fill_null(column, False if kind == "boolean" else 0)
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _validity_words(table: pa.Table, slot_columns: Sequence[tuple[str, str]]) -> np.ndarray:
    """(words, rows) uint64: bit i % 64 of word i // 64 says slot feature i is not NULL (Parquet order)."""
    words = np.zeros((-(-len(slot_columns) // 64), table.num_rows), dtype=np.uint64)
    scratch = np.empty(table.num_rows, dtype=np.uint64)
    for position, (name, _) in enumerate(slot_columns):
        shift = np.uint64(position % 64)
        words[position // 64] |= np.uint64(1) << shift
        if table[name].null_count:  # clear the bit where NULL, without a new array per feature
            np.copyto(scratch, table[name].is_null().to_numpy(), casting="unsafe")
            np.left_shift(scratch, shift, out=scratch)
            np.bitwise_xor(words[position // 64], scratch, out=words[position // 64])
    return words


def _write_slots(path: Path, table: pa.Table, order: np.ndarray, slot_columns: Sequence[tuple[str, str]]) -> None:
    """Write `slots.npy`: (n + 1, width) int64, the slot features of Parquet rows `order`, then the
    validity words; the last row all NULL (NaN in float slots).

    The matrix is written in place through a memory map of the file. The features are encoded in
    Parquet order, then gathered a block of rows at a time, every slot of the block at once, so
    each cache line is written while it is in cache (column by column, each feature would sweep
    the whole matrix again).
    """
    sources = [_encoded(table[name], kind) for name, kind in slot_columns]
    sources += list(_validity_words(table, slot_columns).view(np.int64))
    matrix = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(len(order) + 1, max(len(sources), 1)))
    step = 1 << 14
    for begin in range(0, len(order), step):
        rows = order[begin:begin + step]
        block = matrix[begin:begin + len(rows)]
        for slot, source in enumerate(sources):
            block[:, slot] = source[rows]
    matrix[len(order)] = 0
    matrix[len(order), [position for position, (_, kind) in enumerate(slot_columns) if kind == "float"]] = np.float64("nan").view(np.int64)
    matrix.flush()


@dataclass(frozen=True)
class _SortedRows:
    """The usable rows of a feature table in index order, with what the search needs."""

    order: np.ndarray  # Parquet row of each index row
    stamps: np.ndarray
    search: np.ndarray
    key_ids: np.ndarray  # the mixed-radix id of each key code
    offsets: np.ndarray  # the first index row of each key code, then n
    first_us: int
    grain: int
    buckets: int


def _sorted_rows(keys: pa.Table, stamps: pa.ChunkedArray, distinct: Sequence[pa.Array], radix: int) -> _SortedRows:
    """Sort the rows with non-NULL keys and instant by (key code, instant, Parquet row)."""
    ids = _key_ids(keys.columns, distinct)
    usable = np.flatnonzero((ids >= 0) & stamps.is_valid().to_numpy(zero_copy_only=False))
    micros = _micros(stamps)[usable]
    key_ids, codes = _dense_codes(ids[usable], radix)
    first = int(micros.min()) if len(micros) else 0
    grain, buckets = _time_grain(len(key_ids), int(micros.max()) - first if len(micros) else 0)
    search = codes * buckets + (micros - first) // grain
    sort = np.argsort(search, kind="stable") if grain == 1 else np.lexsort((micros, search))
    return _SortedRows(order=usable[sort], stamps=micros[sort], search=search[sort], key_ids=key_ids,
                       offsets=np.searchsorted(codes[sort], np.arange(len(key_ids) + 1)), first_us=first, grain=grain, buckets=buckets)


def _with_null_row(values: np.ndarray, last: int) -> np.ndarray:
    """`values` and then `last`."""
    extended = np.empty(len(values) + 1, dtype=values.dtype)
    extended[:-1], extended[-1] = values, last
    return extended


def _write_arrow(path: Path, table: pa.Table) -> None:
    """`table` as one uncompressed record batch of an Arrow IPC file."""
    table = table.combine_chunks()
    with ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))


def _list_of(values: pa.Array) -> pa.ListArray:
    """One list holding `values` (a one-row column of keys.arrow)."""
    return pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)


def _distinct_keys(path: Path, join_keys: Sequence[str]) -> tuple[pa.Table, list[pa.Array], int]:
    """(the key columns, each key's distinct non-NULL values, the number of value combinations);
    IndexUnsupported if the table's types or combinations do not suit the index."""
    _check_schema(pq.read_schema(path), join_keys)
    keys = pq.read_table(path, columns=list(join_keys))
    distinct = [pc.unique(keys[key]).drop_null() for key in join_keys]
    radix = int(np.prod([max(len(values), 1) for values in distinct], dtype=object))
    if radix >= _SEARCH_LIMIT:
        raise IndexUnsupported(f"join keys {', '.join(join_keys)} have {radix} value combinations; the index needs fewer than 2**62")
    return keys, distinct, radix


def _write_index(path: Path, join_keys: Sequence[str], identity: dict, directory: Path) -> None:
    """Read the Parquet file, sort its usable rows and write the index files into `directory`
    (only a manifest naming the reason if the index cannot serve the table exactly)."""
    try:
        keys, distinct, radix = _distinct_keys(path, join_keys)
    except IndexUnsupported as error:
        (directory / "manifest.json").write_text(json.dumps({"identity": identity, "unsupported": str(error)}, indent=1))
        return
    schema = pq.read_schema(path)
    features = [name for name in schema.names if name not in (*join_keys, TIMESTAMP)]
    table = pq.read_table(path, columns=[TIMESTAMP, *features])
    if source_identity(path, join_keys) != identity:
        raise FeatureStoreError(f"feature table {path} changed while it was being indexed; run the call again")
    rows = _sorted_rows(keys, table[TIMESTAMP], distinct, radix)
    slot_columns = [(name, kind) for name in features if (kind := _slot_kind(schema.field(name).type))]
    arrow_columns = [name for name in features if _slot_kind(schema.field(name).type) is None]
    _write_slots(directory / "slots.npy", table, rows.order, slot_columns)
    table, order = table.select(arrow_columns), pa.array(rows.order)  # frees the slot features' Arrow copies
    columns = {
        "__stamp": _with_null_row(rows.stamps, 0),
        "__search": _with_null_row(rows.search, _NO_ROW),
        **{name: pa.concat_arrays([table[name].take(order).combine_chunks(), pa.nulls(1, schema.field(name).type)])
           for name in arrow_columns},
    }
    feature_schema = pa.schema([schema.field(name) for name in features])
    _write_arrow(directory / "rows.arrow", pa.table(columns).replace_schema_metadata({_SCHEMA_KEY: feature_schema.serialize().to_pybytes()}))
    _write_arrow(directory / "keys.arrow", pa.table({
        **{key: _list_of(values) for key, values in zip(join_keys, distinct)},
        "__key_ids": _list_of(pa.array(rows.key_ids, pa.int64())), "__offsets": _list_of(pa.array(rows.offsets, pa.int64())),
    }))
    manifest = {"identity": identity, "rows": len(rows.order), "first_us": rows.first_us, "grain": rows.grain, "buckets": rows.buckets,
                "radices": [len(values) for values in distinct], "slot_columns": slot_columns,
                "arrow_columns": arrow_columns, "features": features}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))


def build_index(path: Path, join_keys: Sequence[str], root: Path) -> Path:
    """Write the index of Parquet `path` under `root` unless a current one is there; return its directory.

    It is written into a temporary directory and renamed into place, so a reader sees a whole
    index or none. Indexes of older versions of the same file are removed.
    """
    identity = source_identity(path, join_keys)
    directory = _directory_of(root, identity)
    if (directory / "manifest.json").is_file():
        return directory
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".building-{uuid.uuid4().hex}"
    building.mkdir()
    try:
        _write_index(path, join_keys, identity, building)
        try:
            building.rename(directory)
        except OSError:
            if not (directory / "manifest.json").is_file():  # another process won the race: keep its copy
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _remove_stale(root, identity, directory)
    return directory


def _remove_stale(root: Path, identity: dict, keep: Path) -> None:
    """Delete the indexes of earlier versions of the same source file and join keys."""
    for other in root.glob(f"{Path(identity['path']).stem}-*"):
        if other == keep or not (other / "manifest.json").is_file():
            continue
        previous = json.loads((other / "manifest.json").read_text())["identity"]
        if previous["path"] == identity["path"] and previous["join_keys"] == identity["join_keys"]:
            shutil.rmtree(other, ignore_errors=True)


def _mapped_table(path: Path) -> pa.Table:
    """The Arrow IPC file at `path`, memory-mapped read-only (pages mapped up front where Linux allows)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mapped = mmap.mmap(descriptor, 0, flags=flags, prot=mmap.PROT_READ)
    finally:
        os.close(descriptor)
    return ipc.open_file(pa.BufferReader(pa.py_buffer(mapped))).read_all()


def _numpy_of(column: pa.ChunkedArray) -> np.ndarray:
    """The values of a one-chunk primitive column, zero-copy."""
    return column.chunk(0).to_numpy() if column.num_chunks == 1 else column.to_numpy()


@dataclass(frozen=True)
class PointInTimeIndex:
    """An open (memory-mapped) index: see the module docstring for the layout."""

    directory: Path
    manifest: dict
    schema: pa.Schema
    stamps: np.ndarray
    search: np.ndarray
    slots: np.ndarray
    columns: pa.Table
    key_values: tuple[pa.Array, ...]
    key_ids: np.ndarray
    offsets: np.ndarray

    @classmethod
    def load(cls, directory: Path) -> "PointInTimeIndex":
        """Map the files of an index directory."""
        manifest = json.loads((directory / "manifest.json").read_text())
        if "unsupported" in manifest:
            raise IndexUnsupported(manifest["unsupported"])
        rows = _mapped_table(directory / "rows.arrow")
        keys = _mapped_table(directory / "keys.arrow")
        return cls(
            directory=directory, manifest=manifest, schema=ipc.read_schema(pa.py_buffer(rows.schema.metadata[_SCHEMA_KEY])),
            stamps=_numpy_of(rows["__stamp"]), search=_numpy_of(rows["__search"]),
            slots=np.load(directory / "slots.npy", mmap_mode="r"), columns=rows.select(manifest["arrow_columns"]),
            key_values=tuple(keys[key].chunk(0).values for key in manifest["identity"]["join_keys"]),
            key_ids=keys["__key_ids"].chunk(0).values.to_numpy(), offsets=keys["__offsets"].chunk(0).values.to_numpy(),
        )

    def _codes(self, keys: pa.Table) -> np.ndarray:
        """The key code of each entity row (-1: NULL or unknown keys, or a NULL instant)."""
        columns = []
        for key, distinct in zip(self.manifest["identity"]["join_keys"], self.key_values):
            column = keys[key]
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if _key_family(column.type) != _key_family(distinct.type):
                raise IndexUnsupported(f"entity column {key} is {column.type}; the feature table has {distinct.type}")
            try:
                columns.append(column.cast(distinct.type))
            except pa.ArrowInvalid as error:
                raise IndexUnsupported(f"entity column {key} does not fit {distinct.type}: {error}") from error
        ids = _key_ids(columns, self.key_values)
        if len(self.key_ids) != int(np.prod(self.manifest["radices"], dtype=object)):
            position = np.minimum(np.searchsorted(self.key_ids, ids), max(len(self.key_ids) - 1, 0))
            ids = np.where((ids >= 0) & (self.key_ids[position] == ids), position, -1) if len(self.key_ids) else ids * 0 - 1
        ids[~keys[TIMESTAMP].is_valid().to_numpy(zero_copy_only=False)] = -1
        return ids

    def matched_rows(self, keys: pa.Table, ttl: timedelta | None) -> np.ndarray:
        """Per entity row (join keys and naive `event_timestamp`), the index row of its newest feature row
        at or before its instant and not older than `ttl` (none or zero: any age), else the NULL row."""
        codes = self._codes(keys)
        instants = _micros(keys[TIMESTAMP])
        grain, buckets = self.manifest["grain"], self.manifest["buckets"]
        queries = codes * buckets + np.clip((instants - self.manifest["first_us"]) // grain, -1, buckets - 1)
        queries[codes < 0] = -1  # searches to row -1, before every key's first row
        order = np.argsort(queries)  # sorted queries keep the binary search in cache
        instants, starts = instants[order], self.offsets[np.maximum(codes[order], 0)]
        rows = np.searchsorted(self.search, queries[order], side="right") - 1
        if grain > 1:
            rows = _stepped_back(self.stamps, rows, starts, instants)
        stamps = self.stamps[rows]  # row -1 reads the NULL row's stamp; `rows >= starts` rejects it
        found = (rows >= starts) & (stamps <= instants)
        width = int(ttl / timedelta(microseconds=1)) if ttl else 0
        if width > 0:
            found &= stamps >= instants - min(width, 2**62)
        matched = np.empty(len(rows), dtype=np.int64)
        matched[order] = np.where(found, rows, self.manifest["rows"])
        return matched

    def features(self, rows: np.ndarray, numeric_as_nan: bool) -> dict[str, pa.Array | np.ndarray]:
        """The features of index `rows`, in the table's column order: Arrow arrays, or, `numeric_as_nan`,
        the integer and double features as new float64 arrays with NaN for NULL."""
        gathered = _gathered_slots(self.slots, rows)
        slot_count = len(self.manifest["slot_columns"])
        found: dict[str, pa.Array | np.ndarray] = {}
        for position, (name, kind) in enumerate(self.manifest["slot_columns"]):
            valid = (gathered[slot_count + position // 64].view(np.uint64) >> np.uint64(position % 64)) & np.uint64(1)
            found[name] = _decoded(gathered[position], valid.astype(bool), self.schema.field(name).type, kind, numeric_as_nan)
        if self.manifest["arrow_columns"]:
            indices = pa.array(rows)
            found.update({name: self.columns[name].take(indices) for name in self.manifest["arrow_columns"]})
        return {name: found[name] for name in self.manifest["features"]}


def _stepped_back(stamps: np.ndarray, rows: np.ndarray, starts: np.ndarray, instants: np.ndarray) -> np.ndarray:
    """With a grain above 1 µs, the searched row may be newer than the instant (same bucket): step
    back within the key until it is not (a key's rows are in time order).

    >>> _stepped_back(np.array([5, 7, 9, 3, 0]), np.array([2, 2, 3]), np.array([0, 0, 3]), np.array([8, 4, 3])).tolist()
    [1, -1, 3]
    """
    rows = rows.copy()
    moving = np.flatnonzero((rows >= starts) & (stamps[rows] > instants))
    while len(moving):
        rows[moving] -= 1
        moving = moving[(rows[moving] >= starts[moving]) & (stamps[rows[moving]] > instants[moving])]
    return rows


def _gathered_slots(slots: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(width, len(rows)): the slot rows `rows`, transposed, gathered in cache-sized steps over two threads."""
    gathered = np.empty((slots.shape[1], len(rows)), dtype=np.int64)

    def gather(start: int) -> None:
        for begin in range(start, len(rows), 2 * _GATHER_STEP):
            gathered[:, begin:begin + _GATHER_STEP] = slots[rows[begin:begin + _GATHER_STEP]].T

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(gather, (0, _GATHER_STEP)))
    return gathered


def _decoded(words: np.ndarray, valid: np.ndarray, data_type: pa.DataType, kind: str, numeric_as_nan: bool) -> pa.Array | np.ndarray:
    """One slot feature back in its own type (see `PointInTimeIndex.features`); `words` is a fresh array."""
    if kind == "boolean":
        data = np.packbits(words != 0, bitorder="little")
    elif kind == "float":
        data = words.view(np.float64) if pa.types.is_float64(data_type) else words.view(np.float64).astype(np.float32)
        if numeric_as_nan and pa.types.is_float64(data_type):
            return data  # NULL was stored as NaN
    else:
        data = words.astype(data_type.to_pandas_dtype() if kind == "integer" else (np.int64 if data_type.bit_width == 64 else np.int32),
                            copy=False)
        if numeric_as_nan and kind == "integer":
            values = words.view(np.float64)
            np.copyto(values, data, casting="unsafe")  # in place: element i is read before it is written
            values[~valid] = np.nan
            return values
    nulls = len(valid) - int(np.count_nonzero(valid))
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(data_type, len(words), [validity, pa.py_buffer(data)], null_count=nulls)


def open_index(path: Path, join_keys: Sequence[str], root: Path) -> PointInTimeIndex:
    """The current index of Parquet `path` under `root`: this process's open one, the one on disk, or a new one."""
    directory = build_index(path, join_keys, root)
    if directory not in _OPEN:
        table = directory.name.rsplit("-", 1)[0]
        for other in [other for other in _OPEN if other.parent == directory.parent and other.name.rsplit("-", 1)[0] == table]:
            del _OPEN[other]  # an older version of the same table
        while len(_OPEN) >= _OPEN_LIMIT:
            del _OPEN[next(iter(_OPEN))]
        _OPEN[directory] = PointInTimeIndex.load(directory)
    return _OPEN[directory]
