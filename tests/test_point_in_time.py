"""payloom's point-in-time path against a brute-force reference: the newest row of the same keys at
or before each entity row's instant, NULL when older than the TTL (or with no TTL, never NULL for
age), on random data with exact ties to the instant, rows exactly TTL old, instants before 1970
(negative epochs: the TTL buckets must still cover the window), time-zone-aware entity instants
and entity rows in random order."""

from __future__ import annotations

import math
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring import point_in_time
from scoring.errors import FeatureStoreError
from scoring.workspace import Workspace

TTL = timedelta(days=3)  # card_activity's


def plain(value):
    """NULL, None, NaN and pd.NA as None; numpy scalars as Python ones."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A workspace whose card_features table has random rows, and random entity rows over it."""
    rng = np.random.default_rng(11)
    workspace = Workspace.at(tmp_path_factory.mktemp("pit"))
    workspace.features_dir.mkdir(parents=True)
    rows = 3_000
    start = pd.Timestamp("1969-12-20")  # the period straddles the epoch
    seconds = rng.choice(40 * 86_400, size=rows, replace=False)  # unique instants: unique (card, instant)
    features = pd.DataFrame({
        "card_id": [f"c{value}" for value in rng.integers(0, 30, rows)],
        "event_timestamp": (start + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us]"),
        "attempts_30d": pd.array(rng.integers(0, 50, rows), dtype="Int64"),
        "decline_ratio_30d": rng.random(rows),
        "last_reason": rng.choice(["ok", "nsf", "fraud"], rows),
    })
    # A sparse card (rows 10 days apart, the first before 1970) for the exact TTL boundary.
    sparse = pd.DataFrame({
        "card_id": "sparse",
        "event_timestamp": (start + pd.to_timedelta([0, 10, 20, 30], unit="D")).astype("datetime64[us]"),
        "attempts_30d": pd.array([1, 2, 3, 4], dtype="Int64"),
        "decline_ratio_30d": [0.1, 0.2, 0.3, 0.4],
        "last_reason": ["ok", "nsf", "ok", "fraud"],
    })
    features = pd.concat([features, sparse], ignore_index=True)
    features.loc[features.index % 7 == 0, "attempts_30d"] = pd.NA
    features.loc[features.index % 11 == 0, "last_reason"] = None
    with duckdb.connect() as connection:
        connection.register("written", pa.Table.from_pandas(features, preserve_index=False))
        connection.execute(f"copy written to '{workspace.features_dir / 'card_features.parquet'}'")

    picked = features[features["card_id"] != "sparse"].sample(n=600, random_state=3, replace=True)
    ages = rng.choice([0, 1, 3_600, 86_400 * 3, 86_400 * 3 + 1, 86_400 * 5], size=len(picked))
    stamps = (picked["event_timestamp"] + pd.to_timedelta(ages, unit="s")).to_numpy()
    random_instants = (start + pd.to_timedelta(rng.integers(-86_400 * 5, 45 * 86_400, 400), unit="s")).to_numpy()
    boundary = [start + pd.Timedelta(days=day) + age for day in (0, 10, 30)
                for age in (pd.Timedelta(0), TTL - pd.Timedelta(microseconds=1), TTL, TTL + pd.Timedelta(microseconds=1))]
    entities = pd.DataFrame({
        "card_id": [*picked["card_id"], *[f"c{value}" for value in rng.integers(0, 32, 400)], *["sparse"] * len(boundary)],
        "event_timestamp": pd.to_datetime(np.concatenate([stamps, random_instants, np.array(boundary, dtype="datetime64[us]")])),
    }).sample(frac=1.0, random_state=5).reset_index(drop=True)
    entities["event_timestamp"] = entities["event_timestamp"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    entities["row_index"] = np.arange(len(entities))
    return workspace, features, entities


def reference(features: pd.DataFrame, entities: pd.DataFrame, ttl: timedelta | None) -> list[dict]:
    """Row by row: the newest feature row of the card at or before the instant, if not older than `ttl`."""
    result = []
    columns = [column for column in features.columns if column not in ("card_id", "event_timestamp")]
    for card, instant in zip(entities["card_id"], entities["event_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)):
        candidates = features[(features["card_id"] == card) & (features["event_timestamp"] <= instant)]
        if ttl:
            candidates = candidates[candidates["event_timestamp"] >= instant - ttl]
        newest = candidates.loc[candidates["event_timestamp"].idxmax()] if len(candidates) else None
        result.append({f"card_activity__{column}": None if newest is None else plain(newest[column]) for column in columns})
    return result


def rows_of(frame: pd.DataFrame) -> list[dict]:
    columns = [column for column in frame.columns if "__" in column]
    return [{column: plain(value) for column, value in zip(columns, values)} for values in frame[columns].itertuples(index=False)]


def test_historical_features_equal_the_brute_force_reference(world):
    workspace, features, entities = world
    expected = reference(features, entities, TTL)
    ours = point_in_time.historical_features(workspace, entities, views=["card_activity"])

    assert ours["row_index"].tolist() == entities["row_index"].tolist()
    assert list(ours.index) == list(range(len(entities)))
    assert rows_of(ours) == expected
    found = sum(any(value is not None for value in row.values()) for row in expected)
    assert 0.3 * len(entities) < found < len(entities), "hits, TTL expiries and misses all occur"
    assert str(ours["event_timestamp"].dtype) == "datetime64[us]"  # naive UTC
    assert str(ours["card_activity__attempts_30d"].dtype) == "float64"  # as Arrow's to_pandas and Feast's to_df
    ours.loc[0, ["card_activity__attempts_30d", "card_activity__last_reason"]] = [1.0, "x"]  # writable, not Arrow views
    sparse = ours[ours["card_id"] == "sparse"].sort_values("event_timestamp")
    # Per sparse row: served at its instant, 1 µs before and exactly at the TTL, not 1 µs after.
    assert sparse["card_activity__decline_ratio_30d"].notna().tolist() == [True, True, True, False] * 3


def test_arrow_variant_from_pandas_or_arrow_equals_the_reference(world):
    workspace, features, entities = world
    expected = reference(features, entities, TTL)
    for entity_rows in (entities, pa.Table.from_pandas(entities, preserve_index=False)):
        table = point_in_time.historical_features_arrow(workspace, entity_rows, views=["card_activity"])
        assert table.column_names == [*entities.columns, *expected[0]]
        assert table["card_activity__attempts_30d"].type == pa.int64()  # no float upcast in Arrow
        assert rows_of(table.to_pandas()) == expected
        assert table["row_index"].to_pylist() == entities["row_index"].tolist()


def test_a_view_without_ttl_takes_the_newest_row_at_any_age(world):
    workspace, features, entities = world
    keys = pa.Table.from_pandas(point_in_time._normalised_frame(entities)[["event_timestamp", "card_id"]], preserve_index=False)
    with duckdb.connect() as connection:
        connection.register("__payloom_entities", keys.append_column("__payloom_row", pa.array(np.arange(len(entities)))))
        table = pa.table(point_in_time._view_features(connection, workspace.features_dir / "card_features.parquet",
                                                      "card_activity", ("card_id",), timedelta(0), len(entities), None))
    assert rows_of(table.to_pandas()) == reference(features, entities, None)


def test_empty_entity_rows_and_rows_that_match_nothing(world):
    workspace, _, entities = world
    empty = point_in_time.historical_features(workspace, entities.head(0), views=["card_activity"])
    assert len(empty) == 0 and "card_activity__attempts_30d" in empty.columns
    strangers = entities.head(3).assign(card_id="nobody")
    served = point_in_time.historical_features(workspace, strangers, views=["card_activity"])
    assert served.filter(like="__").isna().all().all()


def test_stage_timings_and_clear_errors(world):
    workspace, _, entities = world
    timings: dict[str, float] = {}
    point_in_time.historical_features(workspace, entities, views=["card_activity"], timings=timings)
    assert set(timings) == {"entities", "index", "match", "place", "to_pandas"}  # the prepared index served
    with pytest.raises(FeatureStoreError, match="an Arrow table needs a timestamp column"):
        point_in_time.historical_features_arrow(workspace, pa.table({"card_id": ["c1"], "event_timestamp": ["2025-01-01"]}),
                                                views=["card_activity"])
    with pytest.raises(FeatureStoreError, match="lack columns card_id"):
        point_in_time.historical_features_arrow(workspace, pa.table({"event_timestamp": pa.array([0], pa.timestamp("us"))}),
                                                views=["card_activity"])
