"""Open a workspace's warehouse, and say who holds it when another process does.

DuckDB lets one process write a database file at a time (and none read it while one writes).
When the file is held, DuckDB raises an IOException naming the holder's executable and PID;
payloom turns it into `WarehouseLockedError`, which names the holder's whole command line
(e.g. a `dbt build` or `payloom serve`) and what to do.

>>> message = ('IO Error: Could not set lock on file "/ws/warehouse.duckdb": Conflicting lock is held in '
...            '/usr/bin/python3.11 (PID 4136). See also https://duckdb.org/docs/current/connect/concurrency')
>>> error = warehouse_lock_error(message)
>>> error.pid, error.path
(4136, '/ws/warehouse.duckdb')
>>> warehouse_lock_error("IO Error: disk full") is None
True
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from scoring.errors import PipelineError
from scoring.workspace import Workspace

__all__ = ["WarehouseLockedError", "connect_warehouse", "warehouse_lock_error"]

_LOCK = re.compile(r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)')


class WarehouseLockedError(PipelineError):
    """Another process holds the warehouse file."""

    def __init__(self, path: str, pid: int, program: str):
        self.path, self.pid, self.program = path, pid, program
        super().__init__(
            f"the warehouse {path} is held by process {pid} ({_command_line(pid) or program}); "
            "wait for it to finish or stop it (a `payloom serve`, a DuckDB shell or a dbt run left behind), then run this again"
        )


def _command_line(pid: int) -> str | None:
    """The command line of process `pid` (Linux /proc), or None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [word.decode(errors="replace") for word in raw.split(b"\0") if word]
    return " ".join(words) or None


def warehouse_lock_error(message: str) -> WarehouseLockedError | None:
    """The named error for DuckDB's lock message `message` (also found inside dbt's output), else None."""
    match = _LOCK.search(message)
    if match is None:
        return None
    return WarehouseLockedError(match["path"], int(match["pid"]), match["program"])


def connect_warehouse(workspace: Workspace, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the workspace's warehouse; `WarehouseLockedError` when another process holds it."""
    try:
        return duckdb.connect(str(workspace.warehouse), read_only=read_only)
    except duckdb.IOException as error:
        named = warehouse_lock_error(str(error))
        if named is None:
            raise
        raise named from None
