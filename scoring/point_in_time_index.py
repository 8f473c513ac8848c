"""The prepared point-in-time index of a feature table: its rows sorted by (join keys, instant), written
once as uncompressed Arrow IPC (Feather v2) and NumPy files, memory-mapped afterwards, so a training set is a
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

The files are written by `scoring/point_in_time_index_build.py`.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from scoring.point_in_time_index_build import SCHEMA_KEY, TIMESTAMP, IndexUnsupported, build_index, key_family, key_tuple_ids, epoch_micros

__all__ = ["IndexUnsupported", "PointInTimeIndex", "open_index", "build_index"]

_OPEN: dict[Path, "PointInTimeIndex"] = {}  # open memory maps of this process, by index directory
_OPEN_LIMIT = 8
_GATHER_STEP = 1 << 13  # entity rows per slot gather: the gathered block stays in cache for its transpose


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
            directory=directory, manifest=manifest, schema=ipc.read_schema(pa.py_buffer(rows.schema.metadata[SCHEMA_KEY])),
            stamps=_numpy_of(rows["__stamp"]), search=_numpy_of(rows["__search"]),
            slots=np.load(directory / "slots.npy", mmap_mode="r").view(np.ndarray), columns=rows.select(manifest["arrow_columns"]),
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
            if key_family(column.type) != key_family(distinct.type):
                raise IndexUnsupported(f"entity column {key} is {column.type}; the feature table has {distinct.type}")
            try:
                columns.append(column.cast(distinct.type))
            except pa.ArrowInvalid as error:
                raise IndexUnsupported(f"entity column {key} does not fit {distinct.type}: {error}") from error
        ids = key_tuple_ids(columns, self.key_values)
        if not len(self.key_ids):  # no usable feature rows
            return np.full(len(ids), -1, dtype=np.int64)
        if len(self.key_ids) != int(np.prod(self.manifest["radices"], dtype=object)):  # some combinations absent: rank the ids
            position = np.minimum(np.searchsorted(self.key_ids, ids), len(self.key_ids) - 1)
            ids = np.where((ids >= 0) & (self.key_ids[position] == ids), position, -1)
        ids[~keys[TIMESTAMP].is_valid().to_numpy(zero_copy_only=False)] = -1
        return ids

    def matched_rows(self, keys: pa.Table, ttl: timedelta | None) -> np.ndarray:
        """Per entity row (join keys and naive `event_timestamp`), the index row of its newest feature row
        at or before its instant and not older than `ttl` (none or zero: any age), else the NULL row."""
        codes = self._codes(keys)
        instants = epoch_micros(keys[TIMESTAMP])
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
        slot_count, nullable = len(self.manifest["slot_columns"]), set(self.manifest["nullable"])
        matched = rows != self.manifest["rows"]  # what a feature without NULLs in the table is valid at
        found: dict[str, pa.Array | np.ndarray] = {}
        for position, (name, kind) in enumerate(self.manifest["slot_columns"]):
            data_type = self.schema.field(name).type
            if numeric_as_nan and pa.types.is_float64(data_type):
                found[name] = gathered[position].view(np.float64)  # NULL was stored as NaN
                continue
            valid = _valid_bits(gathered[slot_count + position // 64], position) if name in nullable else matched
            found[name] = _decoded(gathered[position], valid, data_type, kind, numeric_as_nan)
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


def _valid_bits(words: np.ndarray, position: int) -> np.ndarray:
    """Bit `position % 64` of each int64 validity word, as booleans, read from the one byte that holds it.

    >>> _valid_bits(np.array([0b101, 1 << 9], dtype=np.int64), 9).tolist(), _valid_bits(np.array([0b101]), 2).tolist()
    ([False, True], [True])
    """
    bit = position % 64
    byte = bit // 8 if sys.byteorder == "little" else 7 - bit // 8
    return (words.view(np.uint8)[byte::8] & np.uint8(1 << (bit % 8))) != 0


def _decoded(words: np.ndarray, valid: np.ndarray, data_type: pa.DataType, kind: str, numeric_as_nan: bool) -> pa.Array | np.ndarray:
    """One slot feature back in its own type (see `PointInTimeIndex.features`); `words` is a fresh array."""
    if kind == "boolean":
        data = np.packbits(words != 0, bitorder="little")
    elif kind == "float":
        data = words.view(np.float64) if pa.types.is_float64(data_type) else words.view(np.float64).astype(np.float32)
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
