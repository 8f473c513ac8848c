"""Cheap Arrow columns straight from numpy buffers: ids, categoricals, numbers, timestamps.

Everything is built with `pa.Array.from_buffers` (no per-value conversion, and no pandas
import, which `pa.array` triggers). Ids are a prefix and zero-padded digits written byte-wise;
categoricals are dictionary arrays over one shared dictionary per vocabulary, which Parquet
stores dictionary-encoded and readers (DuckDB, pyarrow without the stored Arrow schema) see
as plain strings.

>>> fixed_ids("att_", np.array([0, 42, 123456789]), 9).to_pylist()
['att_000000000', 'att_000000042', 'att_123456789']
>>> fixed_ids("att_", np.array([42]), 12).to_pylist()
['att_000000000042']
>>> categorical(("visa", "amex"), np.array([1, 0, 1]), mask=np.array([False, False, True])).to_pylist()
['amex', 'visa', None]
>>> timestamps(np.datetime64("2025-01-01"), np.array([0, 3_600_000_000])).to_pylist()[1]
datetime.datetime(2025, 1, 1, 1, 0)
>>> boolean(np.array([True, False, True])).to_pylist(), numeric(np.array([1.5, 2.0]), pa.float64(), mask=np.array([True, False])).to_pylist()
([True, False, True], [None, 2.0])
>>> strings(["a", None, "ccc"]).to_pylist()
['a', None, 'ccc']
>>> IdColumn("card_", 1_000, 7).take(np.array([3, 999])).to_pylist()
['card_0000003', 'card_0000999']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa

__all__ = ["fixed_ids", "IdColumn", "categorical", "timestamps", "dates", "numeric", "boolean", "strings", "dictionary_of"]

_FOUR_DIGITS = np.array([[ord(c) for c in f"{i:04d}"] for i in range(10_000)], dtype=np.uint8).view(np.uint32).ravel()
_NUMPY_TYPE = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64, pa.float64(): np.float64,
               pa.date32(): np.int32, pa.timestamp("us"): np.int64}


def _validity(mask: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    if mask is None:
        return None, 0
    mask = np.asarray(mask, dtype=bool)
    nulls = int(mask.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(~mask, bitorder="little")), nulls


def numeric(values: np.ndarray, type: pa.DataType, mask: np.ndarray | None = None) -> pa.Array:
    """A numeric (or date32 / timestamp[us]) Arrow array over `values`; `mask` marks NULLs."""
    data = np.ascontiguousarray(values, dtype=_NUMPY_TYPE[type])
    validity, nulls = _validity(mask)
    return pa.Array.from_buffers(type, len(data), [validity, pa.py_buffer(data)], null_count=nulls)


def boolean(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A boolean Arrow array (bit-packed from a numpy bool array)."""
    values = np.asarray(values, dtype=bool)
    validity, nulls = _validity(mask)
    return pa.Array.from_buffers(pa.bool_(), len(values), [validity, pa.py_buffer(np.packbits(values, bitorder="little"))], null_count=nulls)


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string Arrow array from a (short) Python sequence."""
    encoded = [b"" if value is None else value.encode() for value in values]
    offsets = np.concatenate([[0], np.cumsum([len(value) for value in encoded])]).astype(np.int32)
    validity, nulls = _validity(np.array([value is None for value in values], dtype=bool))
    return pa.Array.from_buffers(pa.string(), len(encoded), [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))], null_count=nulls)


def _id_bytes(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids must be in [0, 10**{width}) for width {width}")
    if len(prefix.encode()) == 4 and width % 4 == 0:  # aligned: whole 4-byte words
        words = np.empty((len(numbers), 1 + width // 4), dtype=np.uint32)
        words[:, 0] = np.frombuffer(prefix.encode(), dtype=np.uint32)[0]
        rest = numbers
        for column in range(width // 4, 0, -1):
            rest, digits = np.divmod(rest, 10_000)
            words[:, column] = _FOUR_DIGITS[digits]
        return words.view(np.uint8)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    row = len(head) + width
    buffer = np.empty((len(numbers), row), dtype=np.uint8)
    buffer[:, : len(head)] = head
    rest, end = numbers, row
    while end > len(head):
        begin = max(end - 4, len(head))
        digits = _FOUR_DIGITS[rest % 10_000].view(np.uint8).reshape(-1, 4)
        buffer[:, begin:end] = digits[:, 4 - (end - begin):]
        rest, end = rest // 10_000, begin
    return buffer


def _fixed_width_strings(buffer: np.ndarray, mask: np.ndarray | None) -> pa.Array:
    n, row = buffer.shape
    offsets = np.arange(0, (n + 1) * row, row, dtype=np.int32)
    validity, nulls = _validity(mask)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buffer)), validity, null_count=nulls)


def fixed_ids(prefix: str, numbers: np.ndarray, width: int, mask: np.ndarray | None = None) -> pa.Array:
    """`prefix` + `numbers` zero-padded to `width` digits, as an Arrow string array."""
    return _fixed_width_strings(_id_bytes(prefix, numbers, width), mask)


class IdColumn:
    """Ids of a fixed population (cards, customers), rendered once and gathered per chunk."""

    def __init__(self, prefix: str, size: int, width: int) -> None:
        rendered = _id_bytes(prefix, np.arange(size), width)
        self._row = rendered.shape[1]
        self._items = np.ascontiguousarray(rendered).view(f"V{self._row}").ravel()

    def take(self, index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        """The ids of population members `index`, as an Arrow string array."""
        gathered = self._items[index].view(np.uint8).reshape(-1, self._row)
        return _fixed_width_strings(gathered, mask)


@lru_cache(maxsize=64)
def _dictionary(values: tuple[str, ...]) -> pa.Array:
    return strings(values)


def dictionary_of(values: Sequence[str] | np.ndarray) -> pa.Array:
    """One shared Arrow dictionary per vocabulary (so chunks concatenate and encode cheaply)."""
    return _dictionary(tuple(np.asarray(values).tolist()) if isinstance(values, np.ndarray) else tuple(values))


def categorical(values: Sequence[str] | np.ndarray, codes: np.ndarray, mask: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary array of `codes` into `values` (int32 indices); `mask` marks NULLs."""
    return pa.DictionaryArray.from_arrays(numeric(codes, pa.int32(), mask), dictionary_of(values), safe=False)


def timestamps(start: np.datetime64, micros: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """timestamp('us') (no time zone) of `start` + `micros` microseconds."""
    base = np.datetime64(start, "us").astype(np.int64)
    return numeric(np.asarray(micros, dtype=np.int64) + base, pa.timestamp("us"), mask)


def dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """date32 from numpy datetime64[D] values."""
    return numeric(np.asarray(days, dtype="datetime64[D]").astype(np.int64), pa.date32(), mask)
