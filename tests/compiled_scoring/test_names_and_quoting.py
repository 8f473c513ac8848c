"""One identifier rule for model, feature and class names, checked at publish and load; and every
SQL or Spark text payloom writes quotes identifiers, so even a name that slipped past the rule
could not change the statement."""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlglot
import xgboost

from scoring.model_publishing import publish_model
from scoring.sql_export import export_artifact_sql, install_sql_macros
from tests.compiled_scoring.trusted_registry import POLICY, small_booster
from udfs import register_models
from udfs.decline_actions import TYPE_FIELDS, decline_action_macro, decline_action_spark_function
from udfs.errors import InvalidNameError
from udfs.model_artifact import ModelManifest
from udfs.sql_calls import score_call

INJECTION = "x) ; create table pwned as select 1; --"
HOSTILE_FEATURES = [INJECTION, 'we"ird', "back`tick) RETURNS DOUBLE RETURN 1; DROP TABLE t; --"]
RESERVED_FEATURES = [("order", "double"), ("select", "double"), ("from", "bigint")]


@pytest.fixture(scope="module")
def reserved_word_model(tmp_path_factory):
    """A real model whose features are SQL reserved words (allowed by the rule, so quoted everywhere)."""
    root = tmp_path_factory.mktemp("reserved_registry")
    booster = small_booster()
    return root, booster, publish_model(root, "reserved_words", booster, RESERVED_FEATURES)


def _nothing_written(tmp_path) -> bool:
    return [path for path in tmp_path.rglob("*")] == []


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "Decline", "decline-v2", "score x", "a" * 64, "", "x\n"])
def test_publish_refuses_a_bad_model_name_before_writing_anything(tmp_path, name):
    registry = tmp_path / "registry"
    with pytest.raises(InvalidNameError, match="model name .* is not allowed: expected lower_snake_case"):
        publish_model(registry, name, small_booster(), [("a", "double"), ("b", "double"), ("c", "double")])
    assert _nothing_written(tmp_path)


@pytest.mark.parametrize("feature", [*HOSTILE_FEATURES, "with space", "", "1st", "é"])
def test_publish_refuses_a_bad_feature_name_before_writing_anything(tmp_path, feature):
    with pytest.raises(InvalidNameError, match=r"feature name .* is not allowed: expected letters, digits and underscores"):
        publish_model(tmp_path / "registry", "decline", small_booster(), [("a", "double"), (feature, "double"), ("c", "double")])
    assert _nothing_written(tmp_path)


def test_publish_refuses_bad_types_classes_and_repeated_names(tmp_path):
    booster = small_booster()
    with pytest.raises(InvalidNameError, match=r"feature 'b' has type 'double\) --'"):
        publish_model(tmp_path / "registry", "decline", booster, [("a", "double"), ("b", "double) --"), ("c", "double")])
    with pytest.raises(InvalidNameError, match=r"feature names 'a' and 'A' are the same to SQL"):
        publish_model(tmp_path / "registry", "decline", booster, [("a", "double"), ("A", "double"), ("c", "double")])
    with pytest.raises(InvalidNameError, match=r"class name 'declined`: DOUBLE>' is not allowed"):
        publish_model(tmp_path / "registry", "decline", booster, [("a", "double"), ("b", "double"), ("c", "double")],
                      classes=["approved", "declined`: DOUBLE>"])
    assert _nothing_written(tmp_path)


def test_policy_sql_refuses_a_bad_model_name():
    with pytest.raises(InvalidNameError, match="model name 'x; drop table t; --' is not allowed"):
        decline_action_macro("x; drop table t; --", POLICY)
    with pytest.raises(InvalidNameError, match="class name 'technical`: DOUBLE>' is not allowed"):
        decline_action_spark_function("issuer_decline", POLICY, [*TYPE_FIELDS, "technical`: DOUBLE>"])


def test_score_call_quotes_names_that_slipped_past_the_rule():
    """A manifest built in Python skips the checks; the call still cannot break out of its quotes."""
    manifest = ModelManifest(name="evil", version="v0001", features=[{"name": name, "type": "double"} for name in HOSTILE_FEATURES],
                             output={"kind": "value"}, files={})
    connection = duckdb.connect()
    columns = ", ".join(f'{value}.0 as "{name.replace(chr(34), chr(34) * 2)}"' for value, name in enumerate(HOSTILE_FEATURES, 1))
    connection.execute(f'create table "f""x" as select {columns}')
    connection.execute("create macro score_evil(a, b, c) as a * 100 + b * 10 + c")
    call = score_call(manifest, relation_alias='f"x')
    assert connection.execute(f'select {call} from "f""x"').fetchone()[0] == 123.0
    assert connection.execute("select count(*) from information_schema.tables where table_name = 'pwned'").fetchone()[0] == 0
    assert len(sqlglot.parse(f"select {score_call(manifest, dialect='spark')} from t", read="spark")) == 1


def test_reserved_word_features_score_the_same_through_udf_call_and_sql_macros(reserved_word_model):
    root, booster, artifact = reserved_word_model
    rows = np.round(np.random.default_rng(3).normal(size=(300, 3)), 1)
    rows[::7, 1] = np.nan
    expected = booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    connection = duckdb.connect()
    register_models(connection, root)
    connection.register("features", pa.table({"order": rows[:, 0], "select": rows[:, 1], "from": rows[:, 2]}))
    call = connection.execute("select payloom_score_call('reserved_words', 'features')").fetchone()[0]
    assert call == score_call(artifact.manifest, relation_alias="features")
    assert '"features"."order"' in call
    through_udf = connection.execute(f"select {call} from features").fetchnumpy()
    install_sql_macros(connection, root, "reserved_words")
    through_macro = connection.execute('select score_reserved_words_sql("order", "select", "from") from features').fetchnumpy()
    for scores in (through_udf, through_macro):
        assert np.max(np.abs(next(iter(scores.values())) - expected)) <= 1e-6


def test_spark_function_export_is_one_statement_per_function_even_for_hostile_names(reserved_word_model):
    _, _, artifact = reserved_word_model
    statements = export_artifact_sql(artifact, dialect="spark_function").statements
    assert "score_reserved_words(`order` DOUBLE, `select` DOUBLE, `from` DOUBLE) RETURNS DOUBLE" in statements[-1]
    hostile = dataclasses.replace(artifact, manifest=dataclasses.replace(
        artifact.manifest, features=[{"name": name, "type": "double"} for name in HOSTILE_FEATURES]))
    for export in (artifact, hostile):
        for statement in export_artifact_sql(export, dialect="spark_function").statements:
            parsed = sqlglot.parse(statement, read="spark")
            assert len(parsed) == 1 and parsed[0].sql("spark") == statement
    connection = duckdb.connect()
    for statement in export_artifact_sql(hostile, dialect="duckdb").statements:
        connection.execute(statement)
    assert connection.execute("select count(*) from information_schema.tables").fetchone()[0] == 0
    assert connection.execute("select score_reserved_words_sql(1.0, 2.0, 3.0)").fetchone()[0] is not None
