"""Where a running service logs its decisions: Parquet spool files, loaded into the decision log later.

The decision log (`scoring.decision_log`) lives in the workspace's DuckDB warehouse, and DuckDB
lets one process write a database file at a time: a decision service with several worker
processes, running while dbt rebuilds the warehouse, cannot write there on the request path. So
each service process keeps its decisions in memory and flushes them, off the request path, to
its own Parquet files in the spool folder (`<workspace>/decision_spool/`, schema
`decision_log.DECISION_SCHEMA`): every `max_rows` decisions, every `max_seconds` (a background
thread), and when the process stops. A file appears whole (written under a temporary name, then
renamed), so a reader never sees half of one.

With the background thread, `add_rows` never writes on the caller's path: a full buffer wakes
the thread. The thread builds the Arrow table in chunks of `CHUNK_ROWS` rows and yields the GIL
between chunks: building 1,000 rows at once held the GIL for ~10 ms, long enough to push a
service's requests past a 5 ms p99.

`load_spooled_decisions(connection, folder)` appends every spool file to `decisions.decision_log`
with `append_decisions` (idempotent by decision_id; bad rows are quarantined with a reason) and
moves the loaded files to `<folder>/loaded/`; `payloom load-decisions --workspace W` does it for a
workspace. Counts reconcile: rows in the files = written + already logged + duplicates + quarantined.

>>> import duckdb, tempfile
>>> from datetime import datetime
>>> from pathlib import Path
>>> from scoring.decision_log import Candidate, Decision
>>> folder = Path(tempfile.mkdtemp())
>>> with DecisionSpool(folder, max_rows=10) as spool:
...     spool.add(Decision("d1", "optimization_bandit", "v0001", "card_1@2025-03-01T12:00:00", datetime(2025, 3, 1, 12),
...                        (Candidate("none", 0.9, 0.8), Candidate("3ds", 0.1, 0.7)), "none"))
>>> result = load_spooled_decisions(duckdb.connect(), folder)
>>> result.files, result.rows, result.append.written
(1, 1, 1)
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.decision_log import DECISION_SCHEMA, AppendResult, Decision, append_decisions, create_decision_log

__all__ = ["DecisionSpool", "SpoolLoad", "load_spooled_decisions", "SPOOL_FOLDER"]

#: The spool folder's name inside a workspace.
SPOOL_FOLDER = "decision_spool"
#: Rows converted to Arrow per GIL hold when flushing (~1 ms each).
CHUNK_ROWS = 100


class DecisionSpool:
    """Buffers decisions in memory and writes them as Parquet files to `folder` (module docstring).

    Thread-safe. Use as a context manager, or call `close()`: decisions still buffered are then
    written. `max_seconds` > 0 starts a daemon thread that flushes a non-empty buffer that often.
    """

    def __init__(self, folder: Path | str, *, max_rows: int = 1000, max_seconds: float = 1.0):
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_rows, self.max_seconds = max_rows, max_seconds
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._prefix = f"decisions-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0
        self.files_written = 0
        self.rows_written = 0
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._timer: threading.Thread | None = None
        if max_seconds > 0:
            self._timer = threading.Thread(target=self._flush_periodically, name="decision-spool", daemon=True)
            self._timer.start()

    def add(self, decision: Decision) -> None:
        """Buffer one decision; writes a file when `max_rows` are buffered."""
        self.add_rows([decision.row()])

    def add_rows(self, rows: list[dict]) -> None:
        """Buffer DECISION_SCHEMA rows (dicts); a file is written when `max_rows` are buffered
        (by the background thread, woken here, when there is one)."""
        if self._closed.is_set():
            raise RuntimeError("this decision spool is closed; make a new DecisionSpool")
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= self.max_rows
        if full:
            if self._timer is not None:
                self._wake.set()
            else:
                self.flush()

    def flush(self) -> Path | None:
        """Write the buffered decisions to a new spool file now (None when there were none)."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return None
        chunks = []
        for start in range(0, len(rows), CHUNK_ROWS):
            chunks.append(pa.Table.from_pylist(rows[start: start + CHUNK_ROWS], schema=DECISION_SCHEMA))
            time.sleep(0)  # let a waiting thread (a service's event loop) take the GIL between chunks
        table = pa.concat_tables(chunks)
        with self._write_lock:
            self._sequence += 1
            path = self.folder / f"{self._prefix}-{self._sequence:06d}.parquet"
            temporary = path.with_suffix(".parquet.tmp")
            pq.write_table(table, temporary)
            temporary.rename(path)
            self.files_written += 1
            self.rows_written += table.num_rows
        return path

    def _flush_periodically(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.max_seconds)
            self._wake.clear()
            if self._closed.is_set():
                break
            self.flush()

    def close(self) -> None:
        """Stop the flushing thread and write what is still buffered."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        self.flush()

    def __enter__(self) -> "DecisionSpool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class SpoolLoad:
    """One load: spool files read, rows in them, and how `append_decisions` accounted for them."""

    files: int
    rows: int
    append: AppendResult


def load_spooled_decisions(connection: duckdb.DuckDBPyConnection, folder: Path | str) -> SpoolLoad:
    """Append every finished spool file of `folder` to decisions.decision_log; move them to `loaded/`."""
    folder = Path(folder)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    create_decision_log(connection)
    if not files:
        return SpoolLoad(0, 0, AppendResult(0, 0, 0, 0, {}))
    table = pa.concat_tables([pq.read_table(path, schema=DECISION_SCHEMA) for path in files])
    result = append_decisions(connection, table)
    loaded = folder / "loaded"
    loaded.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for path in files:
        path.rename(loaded / f"{stamp}-{path.name}")
    return SpoolLoad(len(files), table.num_rows, result)
