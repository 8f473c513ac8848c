"""Where a payloom run keeps its files: raw data, the DuckDB warehouse, the feature Parquet,
the model registry and Feast's state (registry and online store).

>>> ws = Workspace.at("/tmp/payloom-example")
>>> ws.warehouse.name, ws.raw_dir.name, ws.features_dir.name, ws.model_registry.name
('warehouse.duckdb', 'raw', 'features', 'models')
>>> ws.feature_store_dir.name
'feature_store'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Workspace", "PROJECT_ROOT", "DBT_PROJECT_DIR", "FEATURE_REPO_DIR"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FEATURE_REPO_DIR = PROJECT_ROOT / "feature_repo"


@dataclass(frozen=True)
class Workspace:
    """A folder holding one payloom world. Paths are absolute so every tool agrees on them."""

    root: Path
    raw_dir: Path
    warehouse: Path
    features_dir: Path
    model_registry: Path
    feature_store_dir: Path

    @classmethod
    def at(cls, root: Path | str, *, raw_dir: Path | str | None = None) -> "Workspace":
        """The standard layout under `root`; `raw_dir` may point at the user's own raw data."""
        root = Path(root).resolve()
        return cls(
            root=root,
            raw_dir=Path(raw_dir).resolve() if raw_dir is not None else root / "raw",
            warehouse=root / "warehouse.duckdb",
            features_dir=root / "features",
            model_registry=root / "models",
            feature_store_dir=root / "feature_store",
        )

    def dbt_environment(self) -> dict[str, str]:
        """Environment variables that point profiles.yml at this workspace."""
        return {
            **os.environ,
            "PAYLOOM_WAREHOUSE": str(self.warehouse),
            "PAYLOOM_FEATURES_DIR": str(self.features_dir),
            "PAYLOOM_MODEL_REGISTRY": str(self.model_registry),
            "DBT_PROFILES_DIR": str(PROJECT_ROOT),
        }

    def feast_environment(self) -> dict[str, str]:
        """Environment variables that point feature_repo/ (feature_store.yaml, sources) at this workspace."""
        return {
            **os.environ,
            "PAYLOOM_FEATURES_DIR": str(self.features_dir),
            "PAYLOOM_FEATURE_STORE_DIR": str(self.feature_store_dir),
        }
