"""Where a payloom run keeps its files: raw data, the DuckDB warehouse, the feature Parquet,
the model registry and Feast's state (registry and online store).

>>> ws = Workspace.at("/tmp/payloom-example")
>>> ws.warehouse.name, ws.raw_dir.name, ws.features_dir.name, ws.model_registry.name
('warehouse.duckdb', 'raw', 'features', 'models')
>>> ws.feature_store_dir.name
'feature_store'
>>> ws.spark_dir.name, ws.spark_export_dir.relative_to(ws.root).as_posix()
('spark', 'spark/export')

The online store is SQLite (in `feature_store_dir`) unless Redis is configured, by argument or by
the environment that `Workspace.at` reads (PAYLOOM_ONLINE_STORE=redis, PAYLOOM_REDIS_URL):

>>> Workspace.at("/tmp/payloom-example", redis_address=None).online_store
'sqlite'
>>> Workspace.at("/tmp/payloom-example", redis_address="localhost:6379").online_store
'redis'
>>> redis_address_from_environment({"PAYLOOM_ONLINE_STORE": "redis", "PAYLOOM_REDIS_URL": "cache:6380,password=s3cret"})
'cache:6380,password=s3cret'
>>> redis_address_from_environment({"PAYLOOM_REDIS_URL": "cache:6380"}) is None   # the selector decides
True
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scoring.errors import FeatureStoreError

__all__ = [
    "Workspace",
    "PROJECT_ROOT",
    "PROJECT_DIR_ENV",
    "find_project_root",
    "DBT_PROJECT_DIR",
    "FEATURE_REPO_DIR",
    "ONLINE_STORE_ENV",
    "REDIS_URL_ENV",
    "DEFAULT_REDIS_ADDRESS",
    "OFFLINE_STORE_ENV",
    "OFFLINE_STORES",
    "offline_store_from_environment",
    "redis_address_from_environment",
]

PROJECT_DIR_ENV = "PAYLOOM_PROJECT_DIR"
"""A folder holding `dbt_project/`, `feature_repo/` and `profiles.yml` to use instead of the
ones payloom ships (e.g. a copy with your own seeds or models)."""


def find_project_root(environ: Mapping[str, str] | None = None) -> Path:
    """The folder with payloom's dbt project, Feast repo and dbt profiles.

    In order: PAYLOOM_PROJECT_DIR; the source checkout this module runs from (`pip install -e`);
    the copy shipped inside the installed package (`pip install .`, see setup.py).
    """
    environ = os.environ if environ is None else environ
    override = environ.get(PROJECT_DIR_ENV, "").strip()
    if override:
        root = Path(override).expanduser().resolve()
        if not (root / "dbt_project" / "dbt_project.yml").is_file():
            raise FeatureStoreError(f"{PROJECT_DIR_ENV}={override!r} has no dbt_project/dbt_project.yml: point it at a folder "
                                    "holding dbt_project/, feature_repo/ and profiles.yml (a copy of payloom's)")
        return root
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dbt_project" / "dbt_project.yml").is_file():
        return checkout
    return Path(__file__).resolve().parent / "project_files"


PROJECT_ROOT = find_project_root()
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FEATURE_REPO_DIR = PROJECT_ROOT / "feature_repo"
SPARK_CONF_DIR = DBT_PROJECT_DIR / "spark_conf"
"""Spark's log4j2.properties for the local `spark` target (errors only); used unless SPARK_CONF_DIR is set."""

ONLINE_STORE_ENV = "PAYLOOM_ONLINE_STORE"
"""`sqlite` (the default when unset or empty) or `redis`."""
REDIS_URL_ENV = "PAYLOOM_REDIS_URL"
"""With PAYLOOM_ONLINE_STORE=redis: Feast's connection string `host:port[,db=N][,password=...]`
(or `redis://[:password@]host[:port][/db]`); unset means DEFAULT_REDIS_ADDRESS."""
DEFAULT_REDIS_ADDRESS = "localhost:6379"
OFFLINE_STORE_ENV = "PAYLOOM_OFFLINE_STORE"
"""`duckdb` (the default when unset or empty) or `spark`: which engine Feast's offline store
(`get_historical_features`, materialisation) reads the feature Parquet with."""
OFFLINE_STORES = ("duckdb", "spark")


class _FromEnvironment:
    """The default of `Workspace.at(redis_address=...)`: read PAYLOOM_ONLINE_STORE / PAYLOOM_REDIS_URL."""

    def __repr__(self) -> str:
        return "FROM_ENVIRONMENT"


FROM_ENVIRONMENT = _FromEnvironment()


def redis_address_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis online store's connection string that the environment configures, or None for SQLite."""
    environ = os.environ if environ is None else environ
    kind = environ.get(ONLINE_STORE_ENV, "").strip().lower()
    if kind in ("", "sqlite"):
        return None
    if kind == "redis":
        return environ.get(REDIS_URL_ENV, "").strip() or DEFAULT_REDIS_ADDRESS
    raise FeatureStoreError(
        f"{ONLINE_STORE_ENV}={environ[ONLINE_STORE_ENV]!r} is not an online store: use sqlite (the default) or redis"
    )


def offline_store_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The Feast offline store the environment configures: `duckdb` (default) or `spark`."""
    environ = os.environ if environ is None else environ
    kind = environ.get(OFFLINE_STORE_ENV, "").strip().lower() or "duckdb"
    if kind not in OFFLINE_STORES:
        raise FeatureStoreError(f"{OFFLINE_STORE_ENV}={environ[OFFLINE_STORE_ENV]!r} is not an offline store: use duckdb (the default) or spark")
    return kind


@dataclass(frozen=True)
class Workspace:
    """A folder holding one payloom world. Paths are absolute so every tool agrees on them."""

    root: Path
    raw_dir: Path
    warehouse: Path
    features_dir: Path
    model_registry: Path
    feature_store_dir: Path
    redis_address: str | None = field(default=None, repr=False)  # may hold a password
    """Feast's connection string of the Redis online store (`host:port[,db=N][,password=...]`);
    None serves online features from SQLite in `feature_store_dir`."""
    offline_store: str = "duckdb"
    """Feast's offline store: `duckdb` (the default) or `spark` (a local SparkSession reads the Parquet)."""

    @classmethod
    def at(
        cls,
        root: Path | str,
        *,
        raw_dir: Path | str | None = None,
        redis_address: str | None | _FromEnvironment = FROM_ENVIRONMENT,
        offline_store: str | _FromEnvironment = FROM_ENVIRONMENT,
    ) -> "Workspace":
        """The standard layout under `root`; `raw_dir` may point at the user's own raw data.

        `redis_address` picks the online store: a connection string for Redis, None for SQLite;
        by default PAYLOOM_ONLINE_STORE and PAYLOOM_REDIS_URL decide (`redis_address_from_environment`).
        `offline_store` picks Feast's offline store, `duckdb` or `spark`; by default
        PAYLOOM_OFFLINE_STORE decides.
        """
        root = Path(root).resolve()
        if isinstance(redis_address, _FromEnvironment):
            redis_address = redis_address_from_environment()
        if isinstance(offline_store, _FromEnvironment):
            offline_store = offline_store_from_environment()
        elif offline_store not in OFFLINE_STORES:
            raise FeatureStoreError(f"offline store {offline_store!r} is not one of {', '.join(OFFLINE_STORES)}")
        return cls(
            root=root,
            raw_dir=Path(raw_dir).resolve() if raw_dir is not None else root / "raw",
            warehouse=root / "warehouse.duckdb",
            features_dir=root / "features",
            model_registry=root / "models",
            feature_store_dir=root / "feature_store",
            redis_address=redis_address or None,
            offline_store=offline_store,
        )

    @property
    def point_in_time_index_dir(self) -> Path:
        """Where the prepared point-in-time indexes of the feature tables live (rebuilt when a table changes)."""
        return self.features_dir / ".pit_index"

    @property
    def online_store(self) -> str:
        """`redis` or `sqlite`: where Feast serves this workspace's online features from."""
        return "sqlite" if self.redis_address is None else "redis"

    @property
    def spark_dir(self) -> Path:
        """The Spark target's folder: Hive metastore (Derby), managed tables, feature exports."""
        return self.root / "spark"

    @property
    def spark_export_dir(self) -> Path:
        """Where Spark writes each feature table as Parquet part files, `<model>/part-*.parquet`."""
        return self.spark_dir / "export"

    @property
    def dbt_dir(self) -> Path:
        """dbt's target (compiled SQL, manifest, run results) and logs of this workspace: `dbt/target`, `dbt/logs`."""
        return self.root / "dbt"

    def dbt_environment(self, *, features_dir: Path | None = None) -> dict[str, str]:
        """Environment variables that point profiles.yml (and dbt's target and log folders) at this workspace.

        `features_dir` is where dbt writes the feature Parquet (default: `features_dir`; a build
        passes its staging folder, `scoring.feature_publication`).
        """
        return {
            "SPARK_CONF_DIR": str(SPARK_CONF_DIR),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            **os.environ,
            "PAYLOOM_WAREHOUSE": str(self.warehouse),
            "PAYLOOM_FEATURES_DIR": str(features_dir or self.features_dir),
            "PAYLOOM_MODEL_REGISTRY": str(self.model_registry),
            "PAYLOOM_SPARK_DIR": str(self.spark_dir),
            "DBT_PROFILES_DIR": str(PROJECT_ROOT),
            "DBT_TARGET_PATH": str(self.dbt_dir / "target"),
            "DBT_LOG_PATH": str(self.dbt_dir / "logs"),
        }

    def feast_environment(self) -> dict[str, str]:
        """Environment variables that point feature_repo/ (feature_store.yaml, sources) at this workspace."""
        return {
            **os.environ,
            "PAYLOOM_FEATURES_DIR": str(self.features_dir),
            "PAYLOOM_FEATURE_STORE_DIR": str(self.feature_store_dir),
            OFFLINE_STORE_ENV: self.offline_store,
            # Spark's Python workers must import what the driver does: this interpreter.
            **({"PYSPARK_PYTHON": sys.executable} if self.offline_store == "spark" else {}),
        }
