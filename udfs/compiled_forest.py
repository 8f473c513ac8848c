"""Call a compiled payloom forest library (`model.so`) on columnar data, without XGBoost.

The library's entry point reads one float64 column per feature with its Arrow validity bitmap,
so Arrow arrays from DuckDB are scored in place: no row-major copy, no conversion to a DMatrix.
ctypes releases the GIL during the call, so DuckDB threads (or `predict`'s own thread pool)
score different chunks at the same time.

>>> CompiledForest.split_ranges(10, 4)
[(0, 4), (4, 8), (8, 10)]
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from udfs.errors import ModelArtifactError, ScoringInputError

__all__ = ["CompiledForest"]

ABI_VERSION = 1
_DOUBLE_POINTERS = ctypes.POINTER(ctypes.c_void_p)


class CompiledForest:
    """A loaded model library. `predict` takes one array per feature, in the manifest's order."""

    def __init__(self, library: Path):
        library = Path(library)
        if not library.is_file():
            raise ModelArtifactError(f"compiled model library {library} does not exist")
        try:
            self._library = ctypes.CDLL(str(library.resolve()))
        except OSError as error:
            raise ModelArtifactError(f"cannot load compiled model library {library}: {error}") from error
        for symbol in ("payloom_forest_predict", "payloom_forest_num_features", "payloom_forest_num_outputs"):
            if not hasattr(self._library, symbol):
                raise ModelArtifactError(f"{library} is not a payloom model library (no {symbol}); compile it with scoring.forest_compiler")
        self._library.payloom_forest_abi_version.restype = ctypes.c_int32
        abi = self._library.payloom_forest_abi_version()
        if abi != ABI_VERSION:
            raise ModelArtifactError(f"{library} has ABI version {abi}; this runtime reads version {ABI_VERSION}. Recompile the model.")
        self._predict = self._library.payloom_forest_predict
        self._predict.restype = ctypes.c_int32
        self._predict.argtypes = [_DOUBLE_POINTERS, _DOUBLE_POINTERS, ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p]
        self.num_features = int(self._library.payloom_forest_num_features())
        self.num_outputs = int(self._library.payloom_forest_num_outputs())
        self.path = library

    def predict(self, columns: Sequence[pa.Array | pa.ChunkedArray | np.ndarray], *, margin: bool = False, threads: int | None = 1) -> np.ndarray:
        """Scores as float32, shape (rows, outputs). NULL and NaN are missing values.

        `threads` > 1 (or None: every core) splits the rows over a thread pool.
        """
        arrays = self._as_float64_arrays(columns)
        rows = len(arrays[0]) if arrays else 0
        out = np.empty((rows, self.num_outputs), dtype=np.float32)
        if rows == 0:
            return out
        workers = (os.cpu_count() or 1) if threads is None else max(1, threads)
        if workers == 1 or rows < 4096:
            self._predict_range(arrays, 0, rows, margin, out)
            return out
        with ThreadPoolExecutor(workers) as pool:
            chunk = max(2048, -(-rows // (workers * 8)))
            list(pool.map(lambda span: self._predict_range(arrays, span[0], span[1], margin, out), self.split_ranges(rows, chunk)))
        return out

    def predict_matrix(self, rows: np.ndarray, *, margin: bool = False) -> np.ndarray:
        """Scores of a (rows, features) float64 matrix (NaN = missing) as float32, shape (rows, outputs).

        The fast path for a handful of rows (an online decision): no Arrow arrays are made; a
        column-major copy of the matrix is read in place, one column per feature.
        """
        if rows.ndim != 2 or rows.shape[1] != self.num_features:
            raise ScoringInputError(f"expected a (rows, {self.num_features}) matrix of features; got shape {rows.shape}")
        matrix = np.asfortranarray(rows, dtype=np.float64)
        count = matrix.shape[0]
        out = np.empty((count, self.num_outputs), dtype=np.float32)
        if count == 0:
            return out
        base, stride = matrix.ctypes.data, matrix.strides[1]
        values = (ctypes.c_void_p * self.num_features)(*range(base, base + stride * self.num_features, stride))
        validity = (ctypes.c_void_p * self.num_features)()
        offsets = (ctypes.c_int64 * self.num_features)()
        status = self._predict(values, validity, offsets, count, 1 if margin else 0, out.ctypes.data)
        if status != 0:
            raise ModelArtifactError(f"{self.path} returned status {status}")
        return out

    @staticmethod
    def split_ranges(rows: int, chunk: int) -> list[tuple[int, int]]:
        """[start, stop) ranges of at most `chunk` rows covering `rows`."""
        return [(start, min(start + chunk, rows)) for start in range(0, rows, chunk)]

    def _predict_range(self, arrays: list[pa.Array], start: int, stop: int, margin: bool, out: np.ndarray) -> None:
        count = len(arrays)
        values = (ctypes.c_void_p * count)()
        validity = (ctypes.c_void_p * count)()
        offsets = (ctypes.c_int64 * count)()
        for index, array in enumerate(arrays):
            bitmap, data = array.buffers()[:2]
            values[index] = data.address
            validity[index] = bitmap.address if (bitmap is not None and array.null_count) else None
            offsets[index] = array.offset + start
        target = out[start:stop]
        status = self._predict(values, validity, offsets, stop - start, 1 if margin else 0, target.ctypes.data)
        if status != 0:
            raise ModelArtifactError(f"{self.path} returned status {status}")

    def _as_float64_arrays(self, columns) -> list[pa.Array]:
        if len(columns) != self.num_features:
            raise ScoringInputError(f"the model takes {self.num_features} features; got {len(columns)} columns")
        arrays = []
        lengths = set()
        for index, column in enumerate(columns):
            if isinstance(column, np.ndarray):
                array = pa.array(np.ascontiguousarray(column, dtype=np.float64))
            else:
                array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
                if not pa.types.is_float64(array.type):
                    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type) or pa.types.is_null(array.type)):
                        raise ScoringInputError(f"feature {index} has type {array.type}; expected a number, a boolean or NULL")
                    array = pc.cast(array, pa.float64())
                if array.buffers()[1] is None:  # an all-NULL column may come without a data buffer
                    array = pa.array(np.full(len(array), np.nan))
            lengths.add(len(array))
            arrays.append(array)
        if len(lengths) > 1:
            raise ScoringInputError(f"feature columns differ in length: {sorted(lengths)}")
        return arrays
