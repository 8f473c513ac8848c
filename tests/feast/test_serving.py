"""Feast serving against DuckDB on the same Parquet: online = latest row at or before the
materialisation end; historical = an ASOF join with the view's TTL."""

from __future__ import annotations

import math
import shutil
import time
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring.errors import FeatureStoreError
from scoring.feature_store import (
    apply_feature_store,
    materialize_feature_store,
    online_features,
    open_feature_store,
)
from scoring.workspace import Workspace

SERVICES = ["issuer_decline_v1", "cross_sell_v1", "cross_sell_v2"]


def service_views(feature_store, service_name):
    """The feature views of a service, in the service's order."""
    service = feature_store.get_feature_service(service_name)
    return [feature_store.get_feature_view(projection.name) for projection in service.feature_view_projections]


def parquet(workspace: Workspace, view) -> str:
    return str(workspace.features_dir / f"{view.batch_source.name}.parquet")


def plain(value):
    """NULL, None, NaN and pd.NA as None; numpy scalars as Python ones."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def sample_keys(workspace: Workspace, views, rows: int, seed: int) -> pd.DataFrame:
    """`rows` entity rows: each view's join keys (and its row's timestamp `at_<i>`) from a random
    row of its table. A key shared by two views (merchant_category) keeps the first view's value."""
    frames = []
    for index, view in enumerate(views):
        keys = [column.name for column in view.entity_columns]
        table = duckdb.sql(
            f"select {', '.join(keys)}, event_timestamp as at_{index} from read_parquet('{parquet(workspace, view)}') "
            f"order by all"
        ).df()
        sample = table.sample(n=rows, random_state=seed + index)
        frames.append(sample.reset_index(drop=True))
    keys = pd.concat(frames, axis=1)
    return keys.loc[:, ~keys.columns.duplicated()]


def latest_at_or_before(workspace: Workspace, view, keys: pd.DataFrame, end) -> dict[tuple, dict]:
    """The newest row with event_timestamp <= end of each key tuple in `keys` (DuckDB)."""
    join_keys = [column.name for column in view.entity_columns]
    features = [feature.name for feature in view.features]
    wanted = keys[join_keys].drop_duplicates()
    rows = duckdb.sql(
        f"""
        select {", ".join(f"f.{name}" for name in join_keys + features)}
        from read_parquet('{parquet(workspace, view)}') as f
        semi join wanted using ({", ".join(join_keys)})
        where f.event_timestamp <= $end
        qualify row_number() over (partition by {", ".join(f"f.{k}" for k in join_keys)} order by f.event_timestamp desc) = 1
        """,
        params={"end": end},
    ).fetchall()
    return {row[: len(join_keys)]: dict(zip(features, row[len(join_keys) :])) for row in rows}


def utc(moment) -> pd.Timestamp:
    """An aware UTC timestamp; naive ones are UTC already."""
    timestamp = pd.Timestamp(moment)
    return timestamp.tz_localize("UTC") if timestamp.tzinfo is None else timestamp.tz_convert("UTC")


def test_materialisation_ran_first_then_incremental(feature_store, window):
    for view in feature_store.list_feature_views():
        intervals = [(utc(start), utc(end)) for start, end in sorted(view.materialization_intervals)]
        assert intervals == [
            (utc(window.start), utc(window.first_end)),
            (utc(window.first_end), utc(window.end)),
        ], view.name


def test_materialising_again_up_to_the_same_end_does_nothing(feast_workspace, window):
    assert materialize_feature_store(feast_workspace, window.start, window.end) == {}


@pytest.mark.parametrize("service_name", SERVICES)
def test_online_features_are_the_latest_rows_up_to_the_materialisation_end(
    feast_workspace, feature_store, window, service_name
):
    views = service_views(feature_store, service_name)
    keys = sample_keys(feast_workspace, views, rows=12, seed=3)
    key_names = list(dict.fromkeys(column.name for view in views for column in view.entity_columns))
    entity_rows = keys[key_names].to_dict("records")

    started = time.perf_counter()
    served = online_features(feast_workspace, service_name, entity_rows)
    elapsed = time.perf_counter() - started

    assert len(served) == len(entity_rows)
    nulls = 0
    for view in views:
        join_keys = [column.name for column in view.entity_columns]
        expected = latest_at_or_before(feast_workspace, view, keys, window.end)
        for entity_row, row in zip(entity_rows, served):
            assert all(row[key] == entity_row[key] for key in key_names)
            want = expected.get(tuple(entity_row[key] for key in join_keys))
            for feature in view.features:
                got = row[f"{view.name}__{feature.name}"]
                assert got == (None if want is None else want[feature.name]), (view.name, entity_row, feature.name)
                nulls += got is None
    assert nulls > 0, "the sample should include NULL features (served as None)"
    assert elapsed < 5, f"online read took {elapsed:.2f}s"


def test_online_features_keep_the_service_order(feast_workspace, feature_store):
    views = service_views(feature_store, "cross_sell_v1")
    [row] = online_features(feast_workspace, "cross_sell_v1", [{"customer_id": "nobody", "product": "savings"}])
    assert list(row) == ["customer_id", "product"] + [
        f"{view.name}__{feature.name}" for view in views for feature in view.features
    ]


def test_online_features_of_an_unknown_card_are_none(feast_workspace, feature_store):
    view = feature_store.get_feature_view("card_activity")
    card_id = duckdb.sql(f"select min(card_id) from read_parquet('{parquet(feast_workspace, view)}')").fetchall()[0][0]
    segment = {
        "card_bin": "000000",
        "merchant_category": "0000",
        "issuer_id": "nobody",
        "gateway": "nowhere",
        "card_network": "none",
        "issuer_country": "ZZ",
        "transaction_type": "one_off",
    }
    unknown, known = online_features(
        feast_workspace, "issuer_decline_v1", [{"card_id": "card_unknown", **segment}, {"card_id": card_id, **segment}]
    )
    feature_names = [name for name in unknown if "__" in name]
    assert len(feature_names) == 23 + 10 + 10 + 24
    assert all(unknown[name] is None for name in feature_names)
    assert known["card_activity__attempts_before"] is not None
    assert all(known[name] is None for name in feature_names if not name.startswith("card_activity__"))


def test_online_features_of_an_unknown_service_fail(feast_workspace):
    with pytest.raises(
        FeatureStoreError, match=r"feature service 'issuer_decline_v9' is not in the registry \(known: cross_sell_v1, cross_sell_v2, issuer_decline_v1\)"
    ):
        online_features(feast_workspace, "issuer_decline_v9", [{"card_id": "x"}])


def test_online_features_name_missing_entity_keys(feast_workspace, feature_store):
    with pytest.raises(
        FeatureStoreError,
        match=r"feature service 'issuer_decline_v1' needs entity keys card_id, card_bin, merchant_category, issuer_id, "
        r"gateway, card_network, issuer_country, transaction_type; entity row 1 lacks card_bin, merchant_category",
    ):
        online_features(
            feast_workspace,
            "issuer_decline_v1",
            [
                {"card_id": "a", "card_bin": "1", "merchant_category": "2", "issuer_id": "3", "gateway": "4",
                 "card_network": "5", "issuer_country": "6", "transaction_type": "7"},
                {"card_id": "a", "issuer_id": "3", "gateway": "4", "card_network": "5", "issuer_country": "6",
                 "transaction_type": "7"},
            ],
            store=feature_store,
        )


def entity_frame(workspace: Workspace, views, window) -> pd.DataFrame:
    """Entity rows at instants that exercise the point-in-time join: exactly on a feature row,
    a microsecond either side, between grid rows, past the cutoff within and beyond each TTL,
    before any data. Timestamps are rounded to microseconds (Feast fails on nanoseconds)."""
    keys = sample_keys(workspace, views, rows=30, seed=11)
    anchors = [keys.pop(f"at_{index}") for index in range(len(views))]
    offsets = [
        pd.Timedelta(0),
        pd.Timedelta(microseconds=1),
        pd.Timedelta(microseconds=-1),
        pd.Timedelta(minutes=37, seconds=12, microseconds=345678, nanoseconds=789),
        pd.Timedelta(days=1, hours=3),
    ]
    instants = [anchors[index % len(views)][index] + offsets[index % len(offsets)] for index in range(len(keys))]
    cutoff = pd.Timestamp(window.cutoff)
    extra = [
        cutoff + timedelta(hours=30),
        cutoff + timedelta(hours=40),
        cutoff + timedelta(days=2, hours=12),
        cutoff + timedelta(days=4),
        cutoff + timedelta(days=8),
        pd.Timestamp(window.start),
    ]
    frame = pd.concat([keys, keys.iloc[: len(extra)]], ignore_index=True)
    frame["event_timestamp"] = pd.to_datetime(instants + extra).tz_localize("UTC").floor("us").astype("datetime64[us, UTC]")
    frame["row_index"] = range(len(frame))
    return frame


def asof_with_ttl(workspace: Workspace, view, entities: pd.DataFrame) -> pd.DataFrame:
    """DuckDB's ASOF join of the view's table onto the entity rows, then the view's TTL."""
    join_keys = [column.name for column in view.entity_columns]
    features = [feature.name for feature in view.features]
    rows = entities[["row_index", *join_keys]].assign(
        event_timestamp=entities["event_timestamp"].dt.tz_convert(None)
    )
    joined = duckdb.sql(
        f"""
        select e.row_index, e.event_timestamp as entity_at, f.event_timestamp as feature_at,
               {", ".join(f"f.{name}" for name in features)}
        from rows as e
        asof left join read_parquet('{parquet(workspace, view)}') as f
          on {" and ".join(f"e.{key} = f.{key}" for key in join_keys)} and e.event_timestamp >= f.event_timestamp
        """
    ).df()
    expired = joined["feature_at"].isna() | (joined["entity_at"] - joined["feature_at"] > view.ttl)
    joined.loc[expired, features] = None
    return joined.set_index("row_index")[features].add_prefix(f"{view.name}__").astype(object)


@pytest.fixture(scope="module")
def feast_historical(feast_workspace, feature_store, window):
    """service name -> (its views, the entity rows, Feast's get_historical_features by row_index);
    each computed once per module, shared by the tests that compare against it."""
    computed = {}

    def historical(service_name):
        if service_name not in computed:
            views = service_views(feature_store, service_name)
            entities = entity_frame(feast_workspace, views, window)
            served = (
                feature_store.get_historical_features(
                    entity_df=entities, features=feature_store.get_feature_service(service_name), full_feature_names=True
                )
                .to_df()
                .set_index("row_index")
                .sort_index()
            )
            computed[service_name] = (views, entities, served)
        return computed[service_name]

    return historical


@pytest.mark.parametrize("service_name", SERVICES)
def test_historical_features_equal_a_duckdb_asof_join(feast_workspace, feast_historical, service_name):
    views, entities, served = feast_historical(service_name)
    expected = pd.concat([asof_with_ttl(feast_workspace, view, entities) for view in views], axis=1).sort_index()

    assert list(served.index) == list(entities["row_index"])
    mismatches = [
        (row_index, column, served.at[row_index, column], expected.at[row_index, column])
        for column in expected.columns
        for row_index in expected.index
        if plain(served.at[row_index, column]) != plain(expected.at[row_index, column])
    ]
    assert mismatches == []
    # The instants cover hits, TTL expiries and rows before any data.
    found = expected.notna().any(axis=1)
    assert found.sum() >= len(entities) // 2 and (~found).sum() >= 2


def test_card_activity_is_served_up_to_its_ttl_after_the_cutoff_row(feast_workspace, feature_store, window):
    """Every card has a row at the cutoff: served while at most 3 days old, missing after."""
    view = feature_store.get_feature_view("card_activity")
    card_id = duckdb.sql(f"select min(card_id) from read_parquet('{parquet(feast_workspace, view)}')").fetchall()[0][0]
    ages = [timedelta(0), timedelta(days=1), timedelta(days=3), timedelta(days=3, microseconds=1), timedelta(days=4)]
    entities = pd.DataFrame(
        {
            "card_id": [card_id] * len(ages),
            "event_timestamp": pd.to_datetime([window.cutoff + age for age in ages]).tz_localize("UTC"),
            "age_order": range(len(ages)),
        }
    )
    served = (
        feature_store.get_historical_features(entity_df=entities, features=["card_activity:attempts_before"])
        .to_df()
        .sort_values("age_order")
    )
    assert view.ttl == timedelta(days=3)
    assert served["attempts_before"].notna().tolist() == [True, True, True, False, False]


def test_errors_say_what_to_do(tmp_path, feast_workspace, window):
    empty = Workspace.at(tmp_path / "empty")
    with pytest.raises(FeatureStoreError, match=r"no feature tables in .*: run `payloom build`"):
        apply_feature_store(empty)
    with pytest.raises(FeatureStoreError, match=r"no Feast registry at .*registry\.db: run apply_feature_store\(workspace\) first"):
        open_feature_store(empty)
    with pytest.raises(FeatureStoreError, match=r"materialisation start 2025-03-09T13:37:21\.654321\+00:00 is not before end"):
        materialize_feature_store(feast_workspace, window.end, window.first_end)


def test_apply_names_a_missing_feature_table(tmp_path, feast_workspace):
    partial = Workspace.at(tmp_path / "partial")
    partial.features_dir.mkdir(parents=True)
    shutil.copy(feast_workspace.features_dir / "card_features.parquet", partial.features_dir)
    with pytest.raises(FeatureStoreError, match=r"feast apply failed .*feature table .*bin_merchant_category_features\.parquet is missing: run `payloom build`"):
        apply_feature_store(partial)


@pytest.mark.parametrize("service_name", SERVICES)
def test_payloom_point_in_time_path_returns_exactly_what_feast_returns(feast_workspace, feast_historical, service_name):
    """scoring.point_in_time (DuckDB joins bounded by the TTL, no Feast) = Feast's get_historical_features."""
    from scoring import point_in_time

    views, entities, served = feast_historical(service_name)
    assert [view.name for view in views] == list(point_in_time.service_views(service_name))
    for view in views:
        spec = point_in_time.view_specs()[view.name]
        assert spec.ttl == view.ttl and list(spec.join_keys) == [column.name for column in view.entity_columns]
    timings: dict[str, float] = {}
    ours = point_in_time.historical_features(feast_workspace, entities, service_name, timings=timings).set_index("row_index")
    assert "index" in timings and "fetch" not in timings, "the prepared point-in-time index served every view"
    feature_columns = [column for column in served.columns if "__" in column]
    assert [column for column in ours.columns if "__" in column] == feature_columns
    assert list(ours.index) == list(entities["row_index"]), "payloom keeps the entity rows in their order"
    mismatches = [
        (row_index, column, served.at[row_index, column], ours.at[row_index, column])
        for column in feature_columns
        for row_index in served.index
        if plain(served.at[row_index, column]) != plain(ours.at[row_index, column])
    ]
    assert mismatches == []
    assert ours[feature_columns].notna().any(axis=1).sum() >= len(entities) // 2
    # The Arrow variant returns the same table, from a pandas or an Arrow entity frame.
    for entity_rows in (entities, pa.Table.from_pandas(entities, preserve_index=False)):
        arrow = point_in_time.historical_features_arrow(feast_workspace, entity_rows, service_name)
        assert arrow.to_pandas().set_index("row_index")[feature_columns].equals(ours[feature_columns])


def test_point_in_time_path_says_what_the_entity_rows_lack(feast_workspace):
    from scoring import point_in_time

    with pytest.raises(FeatureStoreError, match="lack columns card_bin, merchant_category"):
        point_in_time.historical_features(feast_workspace, pd.DataFrame({"card_id": ["x"], "event_timestamp": [pd.Timestamp("2025-01-01")]}),
                                          "issuer_decline_v1")
    with pytest.raises(FeatureStoreError, match="unknown feature service 'nope'"):
        point_in_time.historical_features(feast_workspace, pd.DataFrame(), "nope")
