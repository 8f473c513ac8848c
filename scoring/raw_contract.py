"""The raw data contract, read from the dbt sources file so there is exactly one definition.

>>> contract = load_raw_contract()
>>> contract["payment_attempts"].columns["amount_minor"]
'bigint'
>>> contract["payment_attempts"].required, contract["offers"].required
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from scoring.workspace import DBT_PROJECT_DIR

__all__ = ["RawTableContract", "load_raw_contract", "SOURCES_FILE"]

SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "raw" / "_raw__sources.yml"


@dataclass(frozen=True)
class RawTableContract:
    """One raw table: its name, whether it is required, and its ordered column -> contract type."""

    name: str
    required: bool
    columns: dict[str, str]


def load_raw_contract(sources_file: Path = SOURCES_FILE) -> dict[str, RawTableContract]:
    """Read the `raw` source of the dbt project into table contracts, in declaration order."""
    document = yaml.safe_load(Path(sources_file).read_text())
    (raw_source,) = [source for source in document["sources"] if source["name"] == "raw"]
    return {
        table["name"]: RawTableContract(
            name=table["name"],
            required=bool(table.get("meta", {}).get("required", False)),
            columns={column["name"]: column["data_type"].lower() for column in table["columns"]},
        )
        for table in raw_source["tables"]
    }
