"""The applied Feast objects against the dbt contracts they are derived from: no drift either way."""

from __future__ import annotations

import re
from datetime import timedelta

import duckdb
import pytest

TIMESTAMP = "event_timestamp"


def test_every_contracted_feature_model_is_served_by_one_view(feature_store, dbt_contract):
    served = sorted(view.batch_source.name for view in feature_store.list_feature_views())
    assert served == sorted(dbt_contract.load_feature_contracts())


def test_every_feast_field_is_a_dbt_column_with_the_mapped_type(feature_store, dbt_contract):
    contracts = dbt_contract.load_feature_contracts()
    for view in feature_store.list_feature_views():
        contract = contracts[view.batch_source.name]
        for field in [*view.entity_columns, *view.features]:
            column = contract.column(field.name)
            assert field.dtype == dbt_contract.FEAST_TYPES[column.data_type], (view.name, field.name)
            assert field.description == column.description, (view.name, field.name)


def test_every_non_key_dbt_column_is_served(feature_store, dbt_contract):
    contracts = dbt_contract.load_feature_contracts()
    for view in feature_store.list_feature_views():
        contract = contracts[view.batch_source.name]
        keys = [field.name for field in view.entity_columns]
        assert view.batch_source.timestamp_field == TIMESTAMP
        expected = [column.name for column in contract.columns if column.name not in keys and column.name != TIMESTAMP]
        assert [field.name for field in view.features] == expected, view.name
        assert sorted(keys + expected + [TIMESTAMP]) == sorted(column.name for column in contract.columns)


def test_parquet_written_by_dbt_has_the_contract_types(feast_workspace, dbt_contract):
    for model, contract in dbt_contract.load_feature_contracts().items():
        path = feast_workspace.features_dir / f"{model}.parquet"
        described = duckdb.sql(f"describe select * from read_parquet('{path}')").fetchall()
        assert [(name, kind.lower()) for name, kind, *_ in described] == [
            (column.name, column.data_type) for column in contract.columns
        ], model


def test_every_object_has_description_owner_and_tags(feature_store):
    objects = [
        *feature_store.list_entities(),
        *feature_store.list_data_sources(),
        *feature_store.list_feature_views(),
        *feature_store.list_feature_services(),
    ]
    assert len(objects) == 11 + 7 + 7 + 3  # entities, sources, views, services
    for feast_object in objects:
        assert feast_object.description and feast_object.owner, feast_object.name
        assert feast_object.tags.get("pii") in {"true", "false"}, feast_object.name
    for view in feature_store.list_feature_views():
        assert view.ttl is not None and view.ttl.total_seconds() > 0, view.name
        assert "TTL" in view.description, view.name
        # ibis (Feast's DuckDB store) cannot add a timedelta mixing days and seconds.
        assert view.ttl.days == 0 or view.ttl == timedelta(days=view.ttl.days), view.name


def test_feature_services_are_versioned_model_contracts(feature_store):
    services = {service.name: service for service in feature_store.list_feature_services()}
    assert set(services) == {"issuer_decline_v1", "cross_sell_v1", "cross_sell_v2"}
    assert all(re.fullmatch(r"[a-z_]+_v\d+", name) for name in services)
    views = {name: [p.name for p in service.feature_view_projections] for name, service in services.items()}
    assert views == {
        "issuer_decline_v1": [
            "card_activity",
            "bin_merchant_category_activity",
            "issuer_merchant_category_activity",
            "gateway_segment_activity",
        ],
        "cross_sell_v1": ["customer_profile", "customer_product_affinity"],
        "cross_sell_v2": ["customer_profile", "customer_product_affinity", "holding_pattern_neighbours"],
    }


def test_unknown_dbt_type_fails_with_model_and_column(dbt_contract):
    with pytest.raises(
        dbt_contract.DbtContractError,
        match=r"dbt data_type 'hugeint' \(model 'card_features', column 'attempts_1d'\) has no Feast type; "
        r"known: bigint, boolean, double, integer, timestamp, varchar\. Cast the column",
    ):
        dbt_contract.feast_type("hugeint", model="card_features", column="attempts_1d")


@pytest.mark.parametrize(
    ("data_type", "feast_name"),
    [("bigint", "INT64"), ("integer", "INT32"), ("double", "FLOAT64"), ("varchar", "STRING"), ("BOOLEAN", "BOOL"), ("timestamp", "UNIX_TIMESTAMP")],
)
def test_dbt_types_map_to_feast_types(dbt_contract, data_type, feast_name):
    assert dbt_contract.feast_type_name(data_type) == feast_name


def test_contract_column_without_data_type_fails(tmp_path, dbt_contract):
    (tmp_path / "_odd__models.yml").write_text(
        "version: 2\nmodels:\n  - name: odd_features\n    columns:\n      - name: odd_id\n"
    )
    with pytest.raises(dbt_contract.DbtContractError, match="column 'odd_id' of model 'odd_features' declares no data_type"):
        dbt_contract.load_feature_contracts(tmp_path)


def test_unknown_model_and_missing_key_fail(dbt_contract):
    with pytest.raises(dbt_contract.DbtContractError, match="no dbt contract for feature model 'card_features_v2'"):
        dbt_contract.feature_fields("card_features_v2", join_keys=["card_id"])
    with pytest.raises(dbt_contract.DbtContractError, match="dbt model 'card_features' has no column 'pan'"):
        dbt_contract.feature_fields("card_features", join_keys=["pan"])
