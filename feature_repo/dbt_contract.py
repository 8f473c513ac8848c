"""Feast fields derived from the dbt contracts of the feature models, so the two cannot drift.

The feature models in `dbt_project/models/features/` enforce a contract: every column states its
`data_type`. This module reads those yml files and turns each column into a Feast `Field` with the
mapped type and the column's description. A column type without a mapping stops `feast apply`
with the model and column named.

>>> feast_type_name("bigint"), feast_type_name("double"), feast_type_name("varchar")
('INT64', 'FLOAT64', 'STRING')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from feast import Field
from feast.types import Bool, FeastType, Float64, Int32, Int64, String, UnixTimestamp

__all__ = [
    "DBT_FEATURE_MODELS_DIR",
    "FEAST_TYPES",
    "TIMESTAMP_COLUMN",
    "ContractColumn",
    "DbtContractError",
    "FeatureModelContract",
    "feast_type",
    "feast_type_name",
    "feature_fields",
    "load_feature_contracts",
]

DBT_FEATURE_MODELS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "features"
TIMESTAMP_COLUMN = "event_timestamp"

# dbt (DuckDB) contract data_type -> Feast type. Lower case, as the contracts spell them.
FEAST_TYPES: dict[str, FeastType] = {
    "bigint": Int64,
    "integer": Int32,
    "double": Float64,
    "varchar": String,
    "boolean": Bool,
    "timestamp": UnixTimestamp,
}


class DbtContractError(ValueError):
    """A dbt feature contract cannot be turned into Feast fields (unknown model or type, missing key)."""


@dataclass(frozen=True)
class ContractColumn:
    """One column of a dbt feature model's contract."""

    name: str
    data_type: str
    description: str


@dataclass(frozen=True)
class FeatureModelContract:
    """The contract of one dbt feature model: its description and ordered columns."""

    model: str
    description: str
    columns: tuple[ContractColumn, ...]

    def column(self, name: str) -> ContractColumn:
        """The column called `name`; DbtContractError when the contract has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise DbtContractError(
            f"dbt model '{self.model}' has no column '{name}' in its contract; "
            f"columns: {', '.join(c.name for c in self.columns)}"
        )


def feast_type(data_type: str, *, model: str = "?", column: str = "?") -> FeastType:
    """The Feast type of a dbt `data_type`; DbtContractError naming model and column if unknown."""
    try:
        return FEAST_TYPES[data_type.strip().lower()]
    except KeyError:
        where = "" if model == "?" else f" (model '{model}', column '{column}')"
        raise DbtContractError(
            f"dbt data_type '{data_type}'{where} has no Feast type; known: {', '.join(sorted(FEAST_TYPES))}. "
            "Cast the column in the dbt model (e.g. to bigint) or add the mapping to feature_repo/dbt_contract.py"
        ) from None


def feast_type_name(data_type: str) -> str:
    """The Feast type's name for a dbt `data_type` (for messages and doctests)."""
    return feast_type(data_type).name


@cache
def load_feature_contracts(models_dir: Path = DBT_FEATURE_MODELS_DIR) -> dict[str, FeatureModelContract]:
    """Every contracted model in the `_*__models.yml` files of `models_dir`, by model name."""
    paths = sorted(Path(models_dir).glob("_*__models.yml"))
    if not paths:
        raise DbtContractError(f"no _*__models.yml file in {models_dir}: is the dbt project next to feature_repo/?")
    contracts: dict[str, FeatureModelContract] = {}
    for path in paths:
        for model in yaml.safe_load(path.read_text()).get("models", []):
            columns = []
            for column in model.get("columns", []):
                if "data_type" not in column:
                    raise DbtContractError(
                        f"{path.name}: column '{column['name']}' of model '{model['name']}' declares no data_type"
                    )
                columns.append(
                    ContractColumn(
                        name=column["name"],
                        data_type=column["data_type"],
                        description=" ".join(column.get("description", "").split()),
                    )
                )
            contracts[model["name"]] = FeatureModelContract(
                model=model["name"],
                description=" ".join(model.get("description", "").split()),
                columns=tuple(columns),
            )
    return contracts


def feature_fields(model: str, *, join_keys: Sequence[str]) -> list[Field]:
    """Feast fields for dbt model `model`: its join keys, then every other column but the timestamp.

    Types and descriptions come from the contract; the join keys must be contract columns.
    """
    contracts = load_feature_contracts()
    if model not in contracts:
        raise DbtContractError(f"no dbt contract for feature model '{model}'; contracted models: {', '.join(sorted(contracts))}")
    contract = contracts[model]
    contract.column(TIMESTAMP_COLUMN)
    key_fields = [_field(contract, contract.column(key)) for key in join_keys]
    feature_columns = [c for c in contract.columns if c.name not in join_keys and c.name != TIMESTAMP_COLUMN]
    return key_fields + [_field(contract, column) for column in feature_columns]


def _field(contract: FeatureModelContract, column: ContractColumn) -> Field:
    dtype = feast_type(column.data_type, model=contract.model, column=column.name)
    return Field(name=column.name, dtype=dtype, description=column.description)
