"""Exported SQL scores equal XGBoost's, from a fresh DuckDB file with nothing of payloom on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlglot
import treelite
import xgboost

from scoring.errors import SqlExportError
from scoring.sql_export import export_sql, install_sql_macros, sql_function_name
from scoring.sql_trees import float32_split_bound
from tests.compiled_scoring.conftest import FEATURES, training_rows
from tests.compiled_scoring.test_parity import as_table, hard_rows
from udfs.errors import ModelArtifactError

PROBABILITY_TOLERANCE = 1e-6
VALUE_TOLERANCE = 1e-5
PAYLOOM = [str(Path(sys.executable).parent / "payloom")]


def boundary_rows(booster: xgboost.Booster) -> np.ndarray:
    """Doubles around each split's float32 rounding edge: the exact bound, the double just below it,
    the threshold itself and its float32 neighbours. Comparing in DOUBLE against the threshold
    would send some of these the wrong way."""
    dump = json.loads(treelite.frontend.from_xgboost(booster).dump_as_json())
    splits = [(node["split_feature_id"], node["threshold"]) for tree in dump["trees"] for node in tree["nodes"] if "threshold" in node]
    base = training_rows(1, seed=4)
    rows = []
    for feature, threshold in splits[:400]:
        bound = float32_split_bound(threshold)
        t32 = np.float32(threshold)
        for value in (bound, np.nextafter(bound, -np.inf), float(t32), float(np.nextafter(t32, np.float32(-np.inf))), float(np.nextafter(t32, np.float32(np.inf)))):
            row = base.copy()
            row[0, feature] = value
            rows.append(row)
    return np.vstack(rows)


def scores_from_fresh_file(database: Path, model, rows: np.ndarray, null_mask: np.ndarray | None = None) -> pa.ChunkedArray:
    """Open the file anew (no UDF, no payloom), load the rows, call the macro."""
    with duckdb.connect(str(database)) as connection:
        connection.register("features_arrow", as_table(rows, model.feature_names, null_mask))
        arguments = ", ".join(model.feature_names)
        name = sql_function_name(model.artifact.manifest.name)
        return connection.sql(f"select {name}({arguments}) as score from features_arrow").to_arrow_table()["score"]


@pytest.fixture(scope="module")
def database(tmp_path_factory, registry_root, binary_model, multiclass_model, regression_model) -> Path:
    path = tmp_path_factory.mktemp("sql_export") / "warehouse.duckdb"
    for model in (binary_model, multiclass_model, regression_model):
        install_sql_macros(path, registry_root, model.artifact.manifest.name)
    return path


def test_binary_macro_matches_xgboost_on_thresholds_float32_edges_nan_and_extremes(database, binary_model):
    rows = np.vstack([hard_rows(binary_model.booster), boundary_rows(binary_model.booster)])
    expected = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    scores = scores_from_fresh_file(database, binary_model, rows)
    assert scores.null_count == 0
    assert np.max(np.abs(scores.to_numpy() - expected)) <= PROBABILITY_TOLERANCE
    assert ((scores.to_numpy() > 0.5) == (expected > 0.5)).all()


def test_float32_edges_change_the_score_so_the_bound_is_tested(binary_model):
    """Without float32 semantics the boundary rows would score differently: compared as doubles
    against the threshold, `nextafter(bound, -inf)` goes left although float32 rounds it onto the
    threshold (right)."""
    rows = boundary_rows(binary_model.booster)
    as_float32 = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    shifted = rows.copy()
    shifted[np.isfinite(shifted)] = np.nextafter(shifted[np.isfinite(shifted)], -np.inf)
    assert (binary_model.booster.predict(xgboost.DMatrix(shifted, missing=np.nan)) != as_float32).any()


def test_sql_null_is_missing_exactly_like_nan(database, binary_model):
    rows = hard_rows(binary_model.booster)
    null_mask = np.random.default_rng(5).random(rows.shape) < 0.2
    with_nan = rows.copy()
    with_nan[null_mask] = np.nan
    expected = binary_model.booster.predict(xgboost.DMatrix(with_nan, missing=np.nan))
    scores = scores_from_fresh_file(database, binary_model, rows, null_mask)
    assert np.max(np.abs(scores.to_numpy() - expected)) <= PROBABILITY_TOLERANCE


def test_all_missing_row_scores_the_default_path_from_the_base_score(database, binary_model, regression_model):
    for model in (binary_model, regression_model):
        row = np.full((1, FEATURES), np.nan)
        expected = model.booster.predict(xgboost.DMatrix(row, missing=np.nan))[0]
        as_nan = scores_from_fresh_file(database, model, row).to_numpy()[0]
        as_null = scores_from_fresh_file(database, model, row, np.ones_like(row, dtype=bool)).to_numpy()[0]
        assert abs(as_nan - expected) <= VALUE_TOLERANCE * max(1.0, abs(expected))
        assert as_null == as_nan


def test_multiclass_macro_returns_the_udfs_struct_of_class_probabilities(database, multiclass_model):
    rows = hard_rows(multiclass_model.booster)
    expected = multiclass_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    scores = scores_from_fresh_file(database, multiclass_model, rows).combine_chunks()
    classes = ["insufficient_funds", "do_not_honor", "hard_decline", "technical"]
    assert [field.name for field in scores.type] == classes
    matrix = np.column_stack([scores.field(name).to_numpy(zero_copy_only=False) for name in classes])
    assert np.max(np.abs(matrix - expected)) <= PROBABILITY_TOLERANCE
    assert (matrix.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_regression_macro_values_match(database, regression_model):
    rows = hard_rows(regression_model.booster)
    expected = regression_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    scores = scores_from_fresh_file(database, regression_model, rows).to_numpy()
    assert np.max(np.abs(scores - expected) / np.maximum(1.0, np.abs(expected))) <= VALUE_TOLERANCE


def test_macros_are_persistent_and_score_in_a_separate_process_without_payloom(database, binary_model):
    """A new interpreter that imports only duckdb, as an analyst's tool would."""
    rows = training_rows(5, seed=12)
    expected = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    values = ", ".join("NULL" if np.isnan(value) else repr(float(value)) for value in rows[0])
    script = (
        "import duckdb, sys\n"
        f"connection = duckdb.connect({str(database)!r}, read_only=True)\n"
        f"print(repr(connection.execute('select score_binary_toy_sql({values})').fetchall()[0][0]))\n"
        "assert not [name for name in sys.modules if name.split('.')[0] in ('scoring', 'udfs', 'xgboost')]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr
    assert abs(float(result.stdout.strip()) - expected[0]) <= PROBABILITY_TOLERANCE


def test_large_models_are_split_into_part_macros(registry_root, binary_model):
    export = export_sql(registry_root, "binary_toy", trees_per_part=7)
    parts = [statement for statement in export.statements if "_part_" in statement.split("(")[0]]
    assert len(parts) == -(-40 // 7) and export.statements[-1].startswith("CREATE OR REPLACE MACRO score_binary_toy_sql(")
    connection = duckdb.connect()
    for statement in export.statements:
        connection.execute(statement)
    expected = binary_model.booster.predict(xgboost.DMatrix(training_rows(1, seed=1), missing=np.nan))[0]
    arguments = ", ".join(repr(float(value)) if np.isfinite(value) else "NULL" for value in training_rows(1, seed=1)[0])
    assert abs(connection.execute(f"select score_binary_toy_sql({arguments})").fetchall()[0][0] - expected) <= PROBABILITY_TOLERANCE


def test_spark_sql_parses_round_trips_and_scores_like_xgboost_when_transpiled(registry_root, multiclass_model, binary_model):
    """Spark itself is a later step; here: sqlglot reads the query as Spark SQL, writes it back
    unchanged, and the query transpiled to DuckDB gives XGBoost's scores."""
    for model, name in ((binary_model, "binary_toy"), (multiclass_model, "multiclass_toy")):
        export = export_sql(registry_root, name, dialect="spark", relation="features", keep_columns=["row_id"])
        (query,) = export.statements
        parsed = sqlglot.parse_one(query, read="spark")
        assert parsed.sql("spark") == query
        assert query.count("AS __payloom_tree_") == model.booster.num_boosted_rounds() * (4 if name == "multiclass_toy" else 1)
        rows = training_rows(500, seed=13)
        connection = duckdb.connect()
        table = as_table(rows, model.feature_names)
        connection.register("features", table.append_column("row_id", pa.array(np.arange(len(rows)))))
        result = connection.sql(sqlglot.transpile(query, read="spark", write="duckdb")[0] + " order by row_id").to_arrow_table()
        expected = model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
        scores = result[f"score_{name}"].combine_chunks()
        got = scores.to_numpy() if expected.ndim == 1 else np.column_stack([scores.field(index).to_numpy(zero_copy_only=False) for index in range(4)])
        assert np.max(np.abs(got - expected)) <= PROBABILITY_TOLERANCE


def test_unknown_model_and_unsupported_dialect_say_what_to_do(registry_root, binary_model):
    with pytest.raises(ModelArtifactError, match="no model 'nope' in the registry .* train and publish one first"):
        export_sql(registry_root, "nope")
    with pytest.raises(SqlExportError, match="SQL dialect 'postgres' is not supported; choose one of duckdb, spark"):
        export_sql(registry_root, "binary_toy", dialect="postgres")


def test_cli_writes_the_script_and_installs_the_macros(tmp_path, registry_root, binary_model):
    database = tmp_path / "analyst.duckdb"
    script = tmp_path / "binary_toy.sql"
    result = subprocess.run([*PAYLOOM, "export-sql", "binary_toy", "--registry", str(registry_root), "--dialect", "duckdb",
                             "--output", str(script), "--install-into", str(database)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "score_binary_toy_sql" in result.stdout and script.read_text().count("CREATE OR REPLACE MACRO") == 3
    rows = training_rows(20, seed=6)
    expected = binary_model.booster.predict(xgboost.DMatrix(rows, missing=np.nan))
    assert np.max(np.abs(scores_from_fresh_file(database, binary_model, rows).to_numpy() - expected)) <= PROBABILITY_TOLERANCE
    spark = subprocess.run([*PAYLOOM, "export-sql", "binary_toy", "--registry", str(registry_root), "--dialect", "spark"],
                           capture_output=True, text=True, timeout=300)
    assert spark.returncode == 0 and sqlglot.parse_one(spark.stdout.split("\n", 1)[1].rstrip().rstrip(";"), read="spark")
    bad = subprocess.run([*PAYLOOM, "export-sql", "nope", "--registry", str(registry_root)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "payloom: error: no model 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_spark_functions_file_has_one_statement_a_line_and_the_dbt_vars(registry_root, binary_model, multiclass_model, tmp_path):
    from scoring.spark_score_functions import score_function_variables
    from udfs.model_registry import ModelRegistry

    registry = ModelRegistry(registry_root)
    functions_file = tmp_path / "spark" / "score_functions.sql"
    variables = score_function_variables(registry, functions_file)
    assert variables["score_functions_file"] == str(functions_file.resolve())
    lines = functions_file.read_text().splitlines()
    assert lines and all(line.startswith("CREATE OR REPLACE TEMPORARY FUNCTION ") for line in lines)
    for name in registry.names():
        manifest = registry.load(name).manifest
        assert variables["score_models"][name] == {"version": manifest.version, "features": manifest.feature_names}
        defined = [line for line in lines if line.startswith(f"CREATE OR REPLACE TEMPORARY FUNCTION score_{name}(")]
        assert len(defined) == 1 and lines.index(defined[0]) > max(i for i, line in enumerate(lines) if f"score_{name}__part_" in line.split("(")[0])
    classes = multiclass_model.artifact.manifest.class_names
    assert "RETURNS STRUCT<" + ", ".join(f"`{c}`: DOUBLE" for c in classes) + ">" in next(
        line for line in lines if line.startswith(f"CREATE OR REPLACE TEMPORARY FUNCTION score_{multiclass_model.artifact.manifest.name}("))
    assert score_function_variables(tmp_path / "no_registry", functions_file) == {} and not functions_file.exists()
