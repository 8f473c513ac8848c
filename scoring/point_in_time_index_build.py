"""Writing the prepared point-in-time index of a feature table (read by `scoring/point_in_time_index.py`,
whose docstring describes the layout): the table's identity, what the index can serve exactly,
the sort by (key code, instant, Parquet row), and the files.

>>> _time_grain(200_000, 120 * 86_400 * 10**6)   # 200 k cards over 120 days: 1 µs
(1, 10368000000001)
>>> _time_grain(10, 2**62)
(11, 419244183493398901)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from scoring.errors import FeatureStoreError

__all__ = ["IndexUnsupported", "build_index", "source_identity", "key_tuple_ids", "key_family", "epoch_micros", "TIMESTAMP", "SCHEMA_KEY"]

FORMAT = 2
TIMESTAMP = "event_timestamp"
SCHEMA_KEY = b"payloom.features"  # rows.arrow's metadata: the features' own Arrow schema
_SEARCH_LIMIT = 2**62  # key codes * buckets stays below it: no int64 overflow, room for -1 and the NULL row
_NO_ROW = np.iinfo(np.int64).max


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


def key_family(data_type: pa.DataType) -> str | None:
    """`string` or `integer`: the join key types the index compares exactly as DuckDB does."""
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_integer(data_type):
        return "integer"
    return None


def _check_schema(schema: pa.Schema, join_keys: Sequence[str]) -> None:
    """Raise IndexUnsupported unless the instant is a naive s/ms/µs timestamp and the keys strings or integers
    (a table lacking them is left to the two-pass path, which names what is missing)."""
    absent = [column for column in (*join_keys, TIMESTAMP) if column not in schema.names]
    if absent:
        raise IndexUnsupported(f"the table lacks columns {', '.join(absent)}")
    stamp = schema.field(TIMESTAMP).type
    if not (pa.types.is_timestamp(stamp) and stamp.tz is None and stamp.unit in ("s", "ms", "us")):
        raise IndexUnsupported(f"{TIMESTAMP} is {stamp}; the index needs a naive timestamp in s, ms or us")
    for key in join_keys:
        if key_family(schema.field(key).type) is None:
            raise IndexUnsupported(f"join key {key} is {schema.field(key).type}; the index needs strings or integers")


def epoch_micros(stamps: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Naive timestamps as int64 µs since the epoch (NULL as 0: callers mask them)."""
    return pc.fill_null(stamps.cast(pa.timestamp("us")).cast(pa.int64()), 0).to_numpy()


def key_tuple_ids(columns: Sequence[pa.ChunkedArray], values: Sequence[pa.Array]) -> np.ndarray:
    """Mixed-radix ids of the key tuples (code of key 1, code of key 2, ...); -1 if a key is NULL or unknown.

    >>> key_tuple_ids([pa.chunked_array([["a", "b", None, "z"]]), pa.chunked_array([[1, 2, 2, 1]])],
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


def _row_major(table: pa.Table, slot_columns: Sequence[tuple[str, str]]) -> np.ndarray:
    """(rows, width) int64 in Parquet order: the encoded slot features, then the validity words.

    Filled a record batch at a time, so each block of rows is written while it is in cache.
    """
    words = -(-len(slot_columns) // 64)
    if not slot_columns:
        return np.zeros((table.num_rows, 1), dtype=np.int64)  # one unused slot keeps the file's shape simple
    matrix = np.empty((table.num_rows, len(slot_columns) + words), dtype=np.int64)
    begin = 0
    for batch in table.select([name for name, _ in slot_columns]).to_batches(max_chunksize=1 << 16):
        part, block = pa.Table.from_batches([batch]), matrix[begin:begin + batch.num_rows]
        for slot, (name, kind) in enumerate(slot_columns):
            block[:, slot] = _encoded(part[name], kind)
        block[:, len(slot_columns):] = _validity_words(part, slot_columns).T.view(np.int64)
        begin += batch.num_rows
    return matrix


def _write_slots(path: Path, unsorted: np.ndarray, order: np.ndarray, slot_columns: Sequence[tuple[str, str]]) -> None:
    """Write `slots.npy`: rows `order` of the row-major `unsorted` slots (`_row_major`), then an all-NULL
    row (NaN in float slots), a block of rows at a time.

    Reordering whole rows (one to three cache lines each) costs one random access per row; reordering
    feature by feature would cost one per feature and row.
    """
    width, step = unsorted.shape[1], 1 << 14
    null_row = np.zeros(width, dtype=np.int64)
    null_row[[position for position, (_, kind) in enumerate(slot_columns) if kind == "float"]] = np.float64("nan").view(np.int64)
    buffer = np.empty((step, width), dtype=np.int64)  # reused: no fresh pages per block
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int64)),
                                                      "fortran_order": False, "shape": (len(order) + 1, width)})
        for begin in range(0, len(order), step):
            rows = order[begin:begin + step]
            np.take(unsorted, rows, axis=0, out=buffer[:len(rows)])
            handle.write(buffer[:len(rows)].data)
        handle.write(null_row.data)


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
    ids = key_tuple_ids(keys.columns, distinct)
    usable = np.flatnonzero((ids >= 0) & stamps.is_valid().to_numpy(zero_copy_only=False))
    micros = epoch_micros(stamps)[usable]
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
    table = pq.read_table(path, columns=[TIMESTAMP, *features], pre_buffer=False)  # pre-buffering cost 2x the CPU here
    if source_identity(path, join_keys) != identity:
        raise FeatureStoreError(f"feature table {path} changed while it was being indexed; run the call again")
    rows = _sorted_rows(keys, table[TIMESTAMP], distinct, radix)
    slot_columns = [(name, kind) for name in features if (kind := _slot_kind(schema.field(name).type))]
    arrow_columns = [name for name in features if _slot_kind(schema.field(name).type) is None]
    nullable = [name for name, _ in slot_columns if table[name].null_count]
    unsorted = _row_major(table, slot_columns)
    table, order = table.select(arrow_columns), pa.array(rows.order)  # frees the slot features' Arrow copies
    _write_slots(directory / "slots.npy", unsorted, rows.order, slot_columns)
    del unsorted
    columns = {
        "__stamp": _with_null_row(rows.stamps, 0),
        "__search": _with_null_row(rows.search, _NO_ROW),
        **{name: pa.concat_arrays([table[name].take(order).combine_chunks(), pa.nulls(1, schema.field(name).type)])
           for name in arrow_columns},
    }
    feature_schema = pa.schema([schema.field(name) for name in features])
    _write_arrow(directory / "rows.arrow", pa.table(columns).replace_schema_metadata({SCHEMA_KEY: feature_schema.serialize().to_pybytes()}))
    _write_arrow(directory / "keys.arrow", pa.table({
        **{key: _list_of(values) for key, values in zip(join_keys, distinct)},
        "__key_ids": _list_of(pa.array(rows.key_ids, pa.int64())), "__offsets": _list_of(pa.array(rows.offsets, pa.int64())),
    }))
    manifest = {"identity": identity, "rows": len(rows.order), "first_us": rows.first_us, "grain": rows.grain, "buckets": rows.buckets,
                "radices": [len(values) for values in distinct], "slot_columns": slot_columns, "nullable": nullable,
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
