"""The Redis online store against a real redis-server: same values as SQLite, clear errors while
Redis is away, health that follows it, reads that resume on the same open store when it returns.

The session starts its own `redis-server` on a free port (no persistence: a restart empties it)
and serves a copy of the simulated workspace from it, applied and materialised once.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import duckdb
import pytest
import redis

from scoring.errors import FeatureStoreError
from scoring.feature_store import (
    apply_feature_store,
    materialize_feature_store,
    online_features,
    online_store_health,
    open_feature_store,
)
from scoring.workspace import Workspace

# tests/redis_process.py; the session's redis_server fixture is in tests/conftest.py.
from redis_process import RedisServer, free_port

pytestmark = pytest.mark.redis

SERVICES = ["issuer_decline_v1", "cross_sell_v1", "cross_sell_v2"]


@pytest.fixture(scope="session")
def redis_workspace(redis_server, tmp_path_factory, simulated_workspace, window) -> Workspace:
    """A copy of the simulated workspace whose online store is the session's Redis, applied and
    materialised once (one run up to the same end as the SQLite store of tests/feast/conftest.py)."""
    root = tmp_path_factory.mktemp("feast-redis") / "workspace"
    shutil.copytree(simulated_workspace.root, root)
    workspace = Workspace.at(root, redis_address=redis_server.address)
    started = time.perf_counter()
    apply_feature_store(workspace)
    applied = time.perf_counter()
    materialize_feature_store(workspace, window.start, window.end)
    print(f"\nfeast apply (Redis) {applied - started:.1f}s, materialise {time.perf_counter() - applied:.1f}s")
    return workspace


@pytest.fixture(scope="session")
def redis_store(redis_workspace):
    return open_feature_store(redis_workspace)


def parquet(workspace: Workspace, feature_store, view_name: str) -> str:
    view = feature_store.get_feature_view(view_name)
    return str(workspace.features_dir / f"{view.batch_source.name}.parquet")


def sampled_entity_rows(workspace: Workspace, feature_store, service_name: str, rows: int, seed: int) -> list[dict]:
    """`rows` entity rows of real keys: each view's join keys from a random row of its table
    (with replacement when the table has fewer distinct keys than `rows`)."""
    service = feature_store.get_feature_service(service_name)
    row_keys: list[dict] = [{} for _ in range(rows)]
    for index, projection in enumerate(service.feature_view_projections):
        view = feature_store.get_feature_view(projection.name)
        keys = [column.name for column in view.entity_columns]
        table = duckdb.sql(
            f"select distinct {', '.join(keys)} from read_parquet('{parquet(workspace, feature_store, view.name)}') "
            "order by all"
        ).df()
        sample = table.sample(n=rows, replace=len(table) < rows, random_state=seed + index).to_dict("records")
        for entity_row, keys_row in zip(row_keys, sample):
            for key, value in keys_row.items():
                entity_row.setdefault(key, value)  # merchant_category: the first view's value
    return row_keys


def card_ids(workspace: Workspace, feature_store, count: int) -> list[str]:
    path = parquet(workspace, feature_store, "card_activity")
    return [row[0] for row in duckdb.sql(f"select distinct card_id from read_parquet('{path}') order by 1").fetchall()][
        :: max(1, 2_000 // count)
    ][:count]


def test_the_workspace_is_served_from_redis(redis_workspace, redis_store, redis_server):
    settings_file = redis_workspace.feature_store_dir / "feature_store.yaml"
    assert "type: redis" in settings_file.read_text()
    assert settings_file.stat().st_mode & 0o777 == 0o600
    assert redis_store.config.online_store.type == "redis"
    assert redis_store.config.online_store.connection_string.startswith(f"{redis_server.address},")
    assert not (redis_workspace.feature_store_dir / "online_store.db").exists()
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        assert client.dbsize() > 1_000
    finally:
        client.close()


@pytest.mark.parametrize("service_name", SERVICES)
def test_redis_serves_what_sqlite_serves(redis_workspace, redis_store, feast_workspace, feature_store, service_name):
    entity_rows = sampled_entity_rows(redis_workspace, redis_store, service_name, rows=25, seed=5)
    from_redis = online_features(redis_workspace, service_name, entity_rows, store=redis_store)
    from_sqlite = online_features(feast_workspace, service_name, entity_rows, store=feature_store)
    assert from_redis == from_sqlite
    assert sum(value is not None for row in from_redis for name, value in row.items() if "__" in name) > 50


def test_redis_serves_the_latest_parquet_row_of_real_cards(redis_workspace, redis_store, window):
    view = redis_store.get_feature_view("card_activity")
    features = [feature.name for feature in view.features]
    cards = card_ids(redis_workspace, redis_store, 20)
    latest = {
        row[0]: dict(zip(features, row[1:]))
        for row in duckdb.sql(
            f"""
            select card_id, {", ".join(features)} from read_parquet('{parquet(redis_workspace, redis_store, view.name)}')
            where event_timestamp <= $end and card_id in (select unnest($cards))
            qualify row_number() over (partition by card_id order by event_timestamp desc) = 1
            """,
            params={"end": window.end, "cards": cards},
        ).fetchall()
    }
    response = redis_store.get_online_features(
        features=[f"card_activity:{name}" for name in features], entity_rows=[{"card_id": card} for card in cards]
    ).to_dict()
    assert len(latest) == len(cards)
    for index, card in enumerate(cards):
        assert {name: response[name][index] for name in features} == latest[card], card


@pytest.mark.parametrize("service_name", SERVICES)
def test_direct_reads_equal_feast_on_redis(redis_workspace, redis_store, reader_matches_feast, service_name):
    rows = sampled_entity_rows(redis_workspace, redis_store, service_name, 40, seed=11)
    unknown = {key: f"__unknown_{key}" for key in rows[0]}
    # Real rows were compared, not only empty ones (customer rows are sparse in the served window).
    assert reader_matches_feast(redis_store, service_name, [*rows, unknown]) >= (20 if service_name == "issuer_decline_v1" else 1)


def test_unknown_entities_are_none(redis_workspace, redis_store):
    [known_card] = card_ids(redis_workspace, redis_store, 1)
    unknown, known = online_features(
        redis_workspace, "cross_sell_v1", [{"customer_id": "nobody", "product": "savings"}], store=redis_store
    ) + online_features(
        redis_workspace,
        "issuer_decline_v1",
        [{"card_id": known_card, "card_bin": "000000", "merchant_category": "0000", "issuer_id": "nobody",
          "gateway": "nowhere", "card_network": "none", "issuer_country": "ZZ", "transaction_type": "one_off"}],
        store=redis_store,
    )
    assert all(value is None for name, value in unknown.items() if "__" in name)
    assert known["card_activity__attempts_before"] is not None
    assert all(value is None for name, value in known.items() if "__" in name and not name.startswith("card_activity__"))


def test_health_reports_each_store(redis_workspace, redis_server, feast_workspace, tmp_path):
    health = online_store_health(redis_workspace)
    assert health["online_store"] == "redis" and health["address"] == redis_server.address
    assert health["ok"] is True and "PING answered" in health["detail"]
    assert online_store_health(feast_workspace) | {"detail": ""} == {
        "online_store": "sqlite",
        "address": str(feast_workspace.feature_store_dir / "online_store.db"),
        "ok": True,
        "detail": "",
    }
    never_applied = online_store_health(Workspace.at(tmp_path / "none", redis_address=None))
    assert never_applied["ok"] is False and "run apply_feature_store" in never_applied["detail"]


def test_online_read_latency(redis_workspace, redis_store, feast_workspace, feature_store):
    """Median of 50 single-entity reads of issuer_decline_v1 on an open store, per backend. Most of a
    read is Feast turning registry protos into objects, the same for both (~20-40 ms here)."""
    entity_rows = sampled_entity_rows(redis_workspace, redis_store, "issuer_decline_v1", rows=50, seed=17)
    medians = {}
    for name, workspace, store in [("redis", redis_workspace, redis_store), ("sqlite", feast_workspace, feature_store)]:
        online_features(workspace, "issuer_decline_v1", entity_rows[:1], store=store)  # warm up
        timings = []
        for entity_row in entity_rows:
            started = time.perf_counter()
            online_features(workspace, "issuer_decline_v1", [entity_row], store=store)
            timings.append(time.perf_counter() - started)
        medians[name] = statistics.median(timings) * 1000
    print(f"\nonline read, one entity, issuer_decline_v1 (4 views), median of {len(entity_rows)}: "
          f"redis {medians['redis']:.2f} ms, sqlite {medians['sqlite']:.2f} ms")
    assert medians["redis"] < 250


def test_an_unreachable_redis_is_a_feature_store_error_naming_it(redis_workspace, window):
    dead = f"127.0.0.1:{free_port()}"
    workspace = Workspace.at(redis_workspace.root, redis_address=f"{dead},password=hunter2")
    row = {"customer_id": "nobody", "product": "savings"}
    started = time.perf_counter()
    with pytest.raises(FeatureStoreError, match=rf"Redis online store at {dead} is unreachable while reading") as read:
        online_features(workspace, "cross_sell_v1", [row])
    assert time.perf_counter() - started < 5
    with pytest.raises(FeatureStoreError, match=rf"Redis online store at {dead} is unreachable while materialising"):
        materialize_feature_store(workspace, window.start, window.end, reload=True)
    with pytest.raises(FeatureStoreError, match=rf"Redis online store at {dead} is unreachable while applying"):
        apply_feature_store(workspace)
    message = str(read.value)
    assert "PAYLOOM_REDIS_URL" in message and "hunter2" not in message
    assert read.value.__cause__ is None and read.value.__suppress_context__
    health = online_store_health(workspace)
    assert health["ok"] is False and health["address"] == dead and "Connection refused" in health["detail"]


def test_a_wrong_password_is_named(redis_server, redis_workspace, tmp_path):
    guarded = RedisServer(redis_server.executable, tmp_path, free_port(), "--requirepass", "s3cret")
    guarded.start()
    try:
        right = Workspace.at(redis_workspace.root, redis_address=f"{guarded.address},password=s3cret")
        wrong = Workspace.at(redis_workspace.root, redis_address=f"redis://:nope@{guarded.address}/0")
        assert online_store_health(right)["ok"] is True
        assert online_store_health(wrong)["ok"] is False
        with pytest.raises(FeatureStoreError, match=rf"Redis online store at {guarded.address} refused the credentials") as error:
            online_features(wrong, "cross_sell_v1", [{"customer_id": "nobody", "product": "savings"}])
        assert "nope" not in str(error.value)
    finally:
        guarded.stop()


def test_reads_fail_clearly_while_redis_is_down_and_resume_on_the_same_store(
    redis_server, redis_workspace, window
):
    store = open_feature_store(redis_workspace)  # held open, as a service does
    entity_rows = sampled_entity_rows(redis_workspace, store, "issuer_decline_v1", rows=5, seed=23)
    before = online_features(redis_workspace, "issuer_decline_v1", entity_rows, store=store)
    assert any(value is not None for row in before for name, value in row.items() if "__" in name)

    redis_server.stop()
    try:
        with pytest.raises(FeatureStoreError, match=rf"Redis online store at {redis_server.address} is unreachable"):
            online_features(redis_workspace, "issuer_decline_v1", entity_rows, store=store)
        down = online_store_health(redis_workspace)
        assert down["ok"] is False and down["address"] == redis_server.address
    finally:
        redis_server.start()  # same port, empty: no persistence

    back = online_store_health(redis_workspace)
    assert back["ok"] is True and "empty" in back["detail"]
    emptied = online_features(redis_workspace, "issuer_decline_v1", entity_rows, store=store)
    assert all(value is None for row in emptied for name, value in row.items() if "__" in name)
    # The registry says every view is materialised up to `end`: only a reload refills Redis.
    assert materialize_feature_store(redis_workspace, window.start, window.end) == {}
    materialize_feature_store(redis_workspace, window.start, window.end, reload=True)
    assert online_features(redis_workspace, "issuer_decline_v1", entity_rows, store=store) == before
