"""Feast at scale: the Spark offline store (a real local SparkSession reading the dbt Parquet) with
the Redis online store (a real redis-server). Materialising through Spark into Redis serves what
DuckDB into SQLite serves, and Feast's training sets through Spark equal payloom's point-in-time path."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from scoring.feature_store import apply_feature_store, feature_store_settings, materialize_feature_store, online_features, open_feature_store
from scoring.point_in_time import historical_features
from scoring.workspace import Workspace
from tests.feast.test_redis_store import sampled_entity_rows

pytestmark = [pytest.mark.spark, pytest.mark.redis]

SERVICES = ["issuer_decline_v1", "cross_sell_v2"]


@pytest.fixture(scope="module")
def spark_workspace(tmp_path_factory, simulated_workspace, redis_server, window) -> Workspace:
    """A copy of the simulated workspace with offline store Spark and online store Redis (its own
    database number on the session's server), applied and materialised once up to window.end."""
    root = tmp_path_factory.mktemp("feast-spark") / "workspace"
    shutil.copytree(simulated_workspace.root, root)
    workspace = Workspace.at(root, offline_store="spark", redis_address=f"{redis_server.address},db=3")
    started = time.perf_counter()
    apply_feature_store(workspace)
    applied = time.perf_counter()
    materialize_feature_store(workspace, window.start, window.end)
    print(f"\nfeast apply (Spark offline store) {applied - started:.1f}s, materialise Spark -> Redis {time.perf_counter() - applied:.1f}s")
    return workspace


@pytest.fixture(scope="module")
def spark_store(spark_workspace):
    return open_feature_store(spark_workspace)


def test_settings_and_sources_are_spark(spark_workspace, spark_store):
    settings = feature_store_settings(spark_workspace)
    assert settings["offline_store"]["type"] == "spark" and settings["online_store"]["type"] == "redis"
    assert spark_store.config.offline_store.type == "spark"
    sources = {type(view.batch_source).__name__ for view in spark_store.list_feature_views()}
    assert sources == {"SparkSource"}


@pytest.mark.parametrize("service_name", SERVICES)
def test_spark_into_redis_serves_what_duckdb_into_sqlite_serves(spark_workspace, spark_store, feast_workspace, feature_store, service_name):
    rows = sampled_entity_rows(spark_workspace, spark_store, service_name, rows=30, seed=11)
    from_spark = online_features(spark_workspace, service_name, rows, store=spark_store)
    from_duckdb = online_features(feast_workspace, service_name, rows, store=feature_store)
    assert from_spark == from_duckdb
    assert sum(value is not None for row in from_spark for name, value in row.items() if "__" in name) > 50


def test_training_set_through_spark_equals_payloom_point_in_time(spark_workspace, spark_store):
    """Feast's get_historical_features on the Spark offline store returns payloom's rows."""
    path = spark_workspace.features_dir / "card_features.parquet"
    stamps = duckdb.sql(f"select card_id, event_timestamp from read_parquet('{path}') order by all").df()
    sample = stamps.sample(n=300, random_state=4).reset_index(drop=True)
    shifts = pd.to_timedelta(np.random.default_rng(4).integers(0, 5 * 86_400, len(sample)), unit="s")
    entities = pd.DataFrame({"card_id": sample.card_id, "event_timestamp": sample.event_timestamp + shifts})
    entities.loc[::10, "card_id"] = "card_never_seen"
    view = spark_store.get_feature_view("card_activity")
    names = [f"card_activity:{feature.name}" for feature in view.features]
    theirs = spark_store.get_historical_features(entity_df=entities, features=names, full_feature_names=True).to_df()
    ours = historical_features(spark_workspace, entities, views=["card_activity"])
    key = ["card_id", "event_timestamp"]
    theirs["event_timestamp"] = pd.to_datetime(theirs["event_timestamp"], utc=True).dt.tz_localize(None)
    theirs = theirs.sort_values(key).reset_index(drop=True)
    ours = ours.sort_values(key).reset_index(drop=True)
    columns = [f"card_activity__{feature.name}" for feature in view.features]
    assert len(theirs) == len(ours) == len(entities)
    assert (theirs[key] == ours[key]).all().all()
    found = ours[columns[0]].notna()
    assert 0 < found.sum() < len(ours), "the sample must hold rows with and without features (TTL 3 days, unknown cards)"
    for column in columns:
        left, right = theirs[column].astype("float64"), ours[column].astype("float64")
        assert ((left == right) | (left.isna() & right.isna())).all(), column
    assert view.ttl == timedelta(days=3)
