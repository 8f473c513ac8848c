"""payloom's direct online reads (scoring.online_reads) against Feast's get_online_features on the
real SQLite store: same values, same event times, unknown entities, misuse. (Redis: test_redis_store.)"""

from __future__ import annotations

import duckdb
import pytest

from scoring.errors import FeatureStoreError
from scoring.online_reads import ServiceReader
from scoring.point_in_time import service_views, view_specs


def real_entity_rows(workspace, service_name: str, count: int) -> list[dict]:
    """`count` entity rows of real keys: row i takes each view's keys from the i-th distinct key of its table."""
    rows: list[dict] = [{} for _ in range(count)]
    for name in service_views(service_name):
        spec = view_specs()[name]
        keys = ", ".join(spec.join_keys)
        table = duckdb.sql(
            f"select distinct {keys} from read_parquet('{workspace.features_dir / (spec.dbt_model + '.parquet')}') "
            f"order by hash({keys}) limit {count}"
        ).fetchall()
        for row, values in zip(rows, table * (count // max(1, len(table)) + 1)):
            for key, value in zip(spec.join_keys, values):
                row.setdefault(key, value)
    return rows


@pytest.mark.parametrize("service_name", ["issuer_decline_v1", "cross_sell_v1"])
def test_direct_reads_equal_feast_for_real_and_unknown_entities(feast_workspace, feature_store, reader_matches_feast, service_name):
    rows = real_entity_rows(feast_workspace, service_name, 60)
    unknown = {key: f"__unknown_{key}" for key in rows[0]}
    half_known = {**rows[0], next(iter(rows[0])): "__unknown__"}
    found = reader_matches_feast(feature_store, service_name, [*rows, unknown, half_known, rows[3]])
    assert found >= 5  # real rows were compared, not only empty ones (customer rows are sparse in the window)


def test_single_and_batched_reads_agree(feast_workspace, feature_store):
    reader = ServiceReader(feature_store, "issuer_decline_v1")
    rows = real_entity_rows(feast_workspace, "issuer_decline_v1", 5)
    batched = reader.read_many(rows)
    for row, read in zip(rows, batched):
        assert reader.read(row) == read
    only_gateway = reader.read_requests([(rows[0], ["gateway_segment_activity"]), (rows[1], None)])
    assert set(only_gateway[0].event_times) == {"gateway_segment_activity"}
    assert only_gateway[0].values == {k: v for k, v in batched[0].values.items() if k.startswith("gateway_segment_activity__")}
    assert only_gateway[1] == batched[1]


def test_misuse_names_what_is_wrong(feast_workspace, feature_store):
    reader = ServiceReader(feature_store, "issuer_decline_v1")
    row = real_entity_rows(feast_workspace, "issuer_decline_v1", 1)[0]
    with pytest.raises(FeatureStoreError, match="entity row lacks 'issuer_id'.*needs"):
        reader.read({key: value for key, value in row.items() if key != "issuer_id"})
    with pytest.raises(FeatureStoreError, match="has no view customer_profile; it has card_activity"):
        reader.read_many([row], views=["customer_profile"])
    with pytest.raises(FeatureStoreError, match="feature service 'no_such_v1' is not in the registry"):
        ServiceReader(feature_store, "no_such_v1")
