"""Validate a raw data directory against the contract and register it as views for dbt.

A raw directory holds one entry per table, in any of these shapes::

    <raw_dir>/payment_attempts/*.parquet   (a folder of Parquet files, as the simulator writes)
    <raw_dir>/payment_attempts.parquet     (one Parquet file)
    <raw_dir>/payment_attempts/*.csv       (a folder of CSV files with a header)
    <raw_dir>/payment_attempts.csv         (one CSV file with a header)

Parquet columns must have a type compatible with the contract (an INTEGER where BIGINT is
expected is fine, a VARCHAR is not). CSV columns are read as text and cast in dbt staging,
where a value that does not parse sends its row to quarantine with the reason. A missing
required table, a missing column or an incompatible type raises `RawContractError` naming the
table and the column. Optional tables that are absent become empty views, so the payment
features still build without customer data.

>>> import duckdb, tempfile, pathlib
>>> raw_dir = pathlib.Path(tempfile.mkdtemp())
>>> register_raw_tables(duckdb.connect(), raw_dir)
Traceback (most recent call last):
...
scoring.errors.RawContractError: raw table 'payment_attempts' is missing: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from scoring.errors import RawContractError
from scoring.raw_contract import RawTableContract, load_raw_contract

__all__ = ["RegisteredTable", "register_raw_tables", "RAW_SCHEMA"]

RAW_SCHEMA = "raw"

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}
# For each contract type: the DuckDB types a Parquet column may have and still be read losslessly.
_COMPATIBLE_TYPES: dict[str, set[str]] = {
    "varchar": {"VARCHAR"},
    "bigint": _INTEGER_TYPES,
    "integer": _INTEGER_TYPES,
    "double": _INTEGER_TYPES | {"FLOAT", "DOUBLE", "DECIMAL"},
    "boolean": {"BOOLEAN"},
    "timestamp": _TIMESTAMP_TYPES,
    "date": {"DATE"} | _TIMESTAMP_TYPES,
}


@dataclass(frozen=True)
class RegisteredTable:
    """What was registered for one raw table: its files (if any) and format."""

    name: str
    location: str | None
    file_format: str | None

    @property
    def is_present(self) -> bool:
        return self.location is not None


def register_raw_tables(connection: duckdb.DuckDBPyConnection, raw_dir: Path | str) -> list[RegisteredTable]:
    """Create one view per contract table in schema `raw`, after validating every file set.

    Validation happens for every table before any view is created, so a bad directory leaves
    the database as it was.
    """
    raw_dir = Path(raw_dir).resolve()
    if not raw_dir.is_dir():
        raise RawContractError(f"raw directory {raw_dir} does not exist: pass the folder that holds payment_attempts/ (and optionally customers/, offers/, ...)")
    contract = load_raw_contract()
    plans = [_plan_table(connection, raw_dir, table) for table in contract.values()]
    connection.execute(f"create schema if not exists {RAW_SCHEMA}")
    for table, (registered, select_sql) in zip(contract.values(), plans):
        connection.execute(f"create or replace view {RAW_SCHEMA}.{table.name} as {select_sql}")
    return [registered for registered, _ in plans]


def _plan_table(connection: duckdb.DuckDBPyConnection, raw_dir: Path, table: RawTableContract) -> tuple[RegisteredTable, str]:
    found = _find_files(raw_dir, table.name)
    if found is None:
        if table.required:
            raise RawContractError(
                f"raw table '{table.name}' is missing: expected {raw_dir}/{table.name}/*.parquet, "
                f"{raw_dir}/{table.name}.parquet or the same as .csv. Write that table (columns: {', '.join(table.columns)})."
            )
        empty = ", ".join(f"cast(null as {dtype}) as {name}" for name, dtype in table.columns.items())
        return RegisteredTable(table.name, None, None), f"select {empty}, cast(null as varchar) as _source_file where false"
    location, file_format = found
    reader = _reader_sql(location, file_format)
    actual = {row[0]: row[1] for row in connection.execute(f"describe select * from {reader}").fetchall()}
    for column, contract_type in table.columns.items():
        if column not in actual:
            raise RawContractError(
                f"raw table '{table.name}' ({location}) has no column '{column}' (contract type {contract_type.upper()}). "
                f"Add it; columns found: {', '.join(c for c in actual if c != 'filename')}."
            )
        actual_type = actual[column]
        if file_format == "parquet" and actual_type.split("(")[0] not in _COMPATIBLE_TYPES[contract_type]:
            raise RawContractError(
                f"raw table '{table.name}' column '{column}' has type {actual_type}, expected {contract_type.upper()}. "
                "Write it with the contract type (docs/contract.md), or provide the table as CSV to have unparseable values quarantined."
            )
    columns = ", ".join(table.columns)
    return RegisteredTable(table.name, location, file_format), f"select {columns}, filename as _source_file from {reader}"


def _find_files(raw_dir: Path, name: str) -> tuple[str, str] | None:
    for file_format in ("parquet", "csv"):
        folder = raw_dir / name
        if folder.is_dir() and any(folder.glob(f"*.{file_format}")):
            return f"{folder}/*.{file_format}", file_format
        single = raw_dir / f"{name}.{file_format}"
        if single.is_file():
            return str(single), file_format
    return None


def _reader_sql(location: str, file_format: str) -> str:
    quoted = location.replace("'", "''")
    if file_format == "parquet":
        return f"read_parquet('{quoted}', filename = true, union_by_name = true)"
    return f"read_csv('{quoted}', header = true, all_varchar = true, filename = true, union_by_name = true)"
