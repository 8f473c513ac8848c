"""Batch sources: the Parquet feature tables that dbt writes (one file per feature model).

The folder comes from PAYLOOM_FEATURES_DIR, the variable that also tells dbt where to write
(profiles.yml), so one repo serves any workspace. The DuckDB offline store reads these files
directly; Feast never opens the warehouse (dbt holds its lock during a build).
"""

import os
from pathlib import Path

from feast import FileSource
from feast.data_source import DataSource
from feast.data_format import ParquetFormat

from dbt_contract import TIMESTAMP_COLUMN, load_feature_contracts
from entities import CUSTOMER_OWNER, PAYMENTS_OWNER


def feature_table_path(model: str) -> str:
    """Absolute path of dbt feature model `model`'s Parquet file in PAYLOOM_FEATURES_DIR."""
    features_dir = os.environ.get("PAYLOOM_FEATURES_DIR", "")
    if not features_dir:
        raise RuntimeError(
            "PAYLOOM_FEATURES_DIR is not set: export it (and PAYLOOM_FEATURE_STORE_DIR) to the workspace's "
            "features/ and feature_store/ folders, or apply with scoring.feature_store.apply_feature_store"
        )
    # abspath, not resolve(): features/ is a link that each build swaps; Feast keeps the stable path.
    path = Path(os.path.abspath(features_dir)) / f"{model}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"feature table {path} is missing: run `payloom build` for this workspace first")
    return str(path)


def _parquet_source(model: str, *, owner: str, domain: str, pii: bool) -> DataSource:
    """The Parquet file of dbt model `model`: a FileSource for the DuckDB offline store (default),
    a SparkSource over the same file when PAYLOOM_OFFLINE_STORE=spark (Feast's Spark store reads
    only SparkSources)."""
    details = {
        "name": model,
        "path": feature_table_path(model),
        "timestamp_field": TIMESTAMP_COLUMN,
        "description": f"dbt model {model} (Parquet, contract enforced). {load_feature_contracts()[model].description}",
        "owner": owner,
        "tags": {"domain": domain, "pii": str(pii).lower(), "dbt_model": model},
    }
    if os.environ.get("PAYLOOM_OFFLINE_STORE", "").strip().lower() == "spark":
        import warnings

        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

        with warnings.catch_warnings():  # "experimental feature in alpha development", on every source
            warnings.simplefilter("ignore", RuntimeWarning)
            return SparkSource(file_format="parquet", **details)
    return FileSource(file_format=ParquetFormat(), **details)


card_features_source = _parquet_source("card_features", owner=PAYMENTS_OWNER, domain="payments", pii=True)
bin_merchant_category_features_source = _parquet_source(
    "bin_merchant_category_features", owner=PAYMENTS_OWNER, domain="payments", pii=False
)
issuer_merchant_category_features_source = _parquet_source(
    "issuer_merchant_category_features", owner=PAYMENTS_OWNER, domain="payments", pii=False
)
gateway_segment_features_source = _parquet_source(
    "gateway_segment_features", owner=PAYMENTS_OWNER, domain="payments", pii=False
)
customer_features_source = _parquet_source("customer_features", owner=CUSTOMER_OWNER, domain="customers", pii=True)
customer_product_affinity_source = _parquet_source(
    "customer_product_affinity", owner=CUSTOMER_OWNER, domain="customers", pii=True
)
holding_pattern_affinity_source = _parquet_source(
    "holding_pattern_affinity", owner=CUSTOMER_OWNER, domain="customers", pii=False
)
