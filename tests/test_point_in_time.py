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
import pyarrow.parquet as pq
import pytest

from scoring import point_in_time, point_in_time_index, point_in_time_index_build
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


@pytest.fixture(scope="module")
def expected(world) -> dict:
    """The reference rows of the world's entity rows, with the TTL and without (computed once)."""
    _, features, entities = world
    return {ttl: reference(features, entities, ttl) for ttl in (TTL, None)}


def rows_of(frame: pd.DataFrame) -> list[dict]:
    columns = [column for column in frame.columns if "__" in column]
    return [{column: plain(value) for column, value in zip(columns, values)} for values in frame[columns].itertuples(index=False)]


def test_historical_features_equal_the_brute_force_reference(world, expected):
    workspace, features, entities = world
    expected = expected[TTL]
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


def test_arrow_variant_from_pandas_or_arrow_equals_the_reference(world, expected):
    workspace, features, entities = world
    expected = expected[TTL]
    for entity_rows in (entities, pa.Table.from_pandas(entities, preserve_index=False)):
        table = point_in_time.historical_features_arrow(workspace, entity_rows, views=["card_activity"])
        assert table.column_names == [*entities.columns, *expected[0]]
        assert table["card_activity__attempts_30d"].type == pa.int64()  # no float upcast in Arrow
        assert rows_of(table.to_pandas()) == expected
        assert table["row_index"].to_pylist() == entities["row_index"].tolist()


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


def copied_workspace(tmp_path, world, features: pd.DataFrame | None = None) -> Workspace:
    """A fresh workspace holding the world's card_features (or `features`), with no index yet."""
    workspace = Workspace.at(tmp_path / "copy")
    workspace.features_dir.mkdir(parents=True)
    written = pa.Table.from_pandas(world[1] if features is None else features, preserve_index=False)
    pq.write_table(written, workspace.features_dir / "card_features.parquet")
    return workspace


@pytest.mark.parametrize("path", ["index", "two_pass"])
@pytest.mark.parametrize("ttl", [TTL, timedelta(0)])
def test_both_paths_equal_the_reference_with_and_without_ttl(world, expected, path, ttl):
    workspace, _, entities = world
    keys = pa.Table.from_pandas(point_in_time._normalised_frame(entities)[["event_timestamp", "card_id"]], preserve_index=False)
    parquet = workspace.features_dir / "card_features.parquet"
    if path == "index":
        index = point_in_time_index.open_index(parquet, ("card_id",), workspace.point_in_time_index_dir)
        columns = index.features(index.matched_rows(keys, ttl), numeric_as_nan=False)
        table = pa.table({f"card_activity__{name}": column for name, column in columns.items()})
    else:
        with duckdb.connect() as connection:
            connection.register("__payloom_entities", keys.append_column("__payloom_row", pa.array(np.arange(len(entities)))))
            table = pa.table(point_in_time._view_features(connection, parquet, "card_activity", ("card_id",), ttl, len(entities), None))
    assert rows_of(table.to_pandas()) == expected[ttl or None]


def test_a_rewritten_feature_table_is_reindexed(tmp_path, world, expected):
    _, features, entities = world
    workspace = copied_workspace(tmp_path, world)
    before = point_in_time.historical_features(workspace, entities, views=["card_activity"])
    [first_index] = workspace.point_in_time_index_dir.iterdir()
    changed = features.assign(decline_ratio_30d=features["decline_ratio_30d"] + 10.0)
    pq.write_table(pa.Table.from_pandas(changed, preserve_index=False), workspace.features_dir / "card_features.parquet")

    timings: dict[str, float] = {}
    after = point_in_time.historical_features(workspace, entities, views=["card_activity"], timings=timings)
    assert "index" in timings and "fetch" not in timings
    moved = [{**row, "card_activity__decline_ratio_30d": row["card_activity__decline_ratio_30d"] and row["card_activity__decline_ratio_30d"] + 10.0}
             for row in expected[TTL]]
    assert rows_of(before) == expected[TTL] and rows_of(after) == moved
    assert [path.name for path in workspace.point_in_time_index_dir.iterdir()] != [first_index.name], "the stale index is replaced"
    assert len(list(workspace.point_in_time_index_dir.iterdir())) == 1


def test_a_coarse_time_grain_still_finds_the_exact_row(tmp_path, world, expected, monkeypatch):
    """Few key codes * buckets allowed: buckets of about a week, corrected by stepping back over newer rows."""
    _, features, entities = world
    workspace = copied_workspace(tmp_path, world)
    monkeypatch.setattr(point_in_time_index_build, "_SEARCH_LIMIT", 31 * 6)
    [directory] = point_in_time.prepare_training_index(workspace, views=["card_activity"]).values()
    assert point_in_time_index.PointInTimeIndex.load(directory).manifest["grain"] > 86_400 * 10**6
    served = point_in_time.historical_features_arrow(workspace, entities, views=["card_activity"])
    assert rows_of(served.to_pandas()) == expected[TTL]


def test_tables_the_index_cannot_serve_take_the_two_pass_path(tmp_path, world, expected):
    """Nanosecond instants (not exact in µs), and join keys with more value combinations than an int64 holds."""
    _, features, entities = world
    workspace = copied_workspace(tmp_path, world)
    table = pa.Table.from_pandas(features, preserve_index=False)
    table = table.set_column(1, "event_timestamp", table["event_timestamp"].cast(pa.timestamp("ns")))
    pq.write_table(table, workspace.features_dir / "card_features.parquet")
    timings: dict[str, float] = {}
    served = point_in_time.historical_features(workspace, entities, views=["card_activity"], timings=timings)
    assert "fetch" in timings and rows_of(served) == expected[TTL]
    assert point_in_time.prepare_training_index(workspace, views=["card_activity"]) == {}

    keys = ["gateway", "card_network", "issuer_country", "transaction_type"]
    rows = 70_000  # 70 k distinct values per key: 70 k ** 4 combinations > 2 ** 62
    segments = pd.DataFrame({key: [f"{key[0]}{value}" for value in range(rows)] for key in keys})
    segments["event_timestamp"] = (pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(rows), unit="s")).astype("datetime64[us]")
    segments["approval_ratio_1d"] = np.arange(rows) / rows
    pq.write_table(pa.Table.from_pandas(segments, preserve_index=False), workspace.features_dir / "gateway_segment_features.parquet")
    asked = segments.iloc[[5, 60_000, 60_001]].assign(
        event_timestamp=lambda frame: frame["event_timestamp"] + pd.to_timedelta([0, 2 * 86_400, 2 * 86_400 + 1], unit="s"))
    timings = {}
    served = point_in_time.historical_features(workspace, asked, views=["gateway_segment_activity"], timings=timings)
    assert "fetch" in timings
    assert plain_list(served["gateway_segment_activity__approval_ratio_1d"]) == [5 / rows, 60_000 / rows, None]


def plain_list(column: pd.Series) -> list:
    return [plain(value) for value in column]


def test_a_feature_table_without_the_view_columns_is_named(tmp_path, world):
    workspace = copied_workspace(tmp_path, world, world[1].drop(columns=["event_timestamp"]))
    with pytest.raises(FeatureStoreError, match=r"card_features\.parquet lacks columns event_timestamp of view card_activity"):
        point_in_time.historical_features(workspace, world[2], views=["card_activity"])
