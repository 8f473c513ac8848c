"""The registry refuses what it cannot trust, and misuse from SQL or Python says what was expected."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from scoring.model_publishing import publish_model
from udfs.duckdb_functions import register_models
from udfs.errors import ModelArtifactError, ScoringInputError
from udfs.model_registry import ModelRegistry
from udfs.sql_calls import score_call


@pytest.fixture
def private_registry(tmp_path, binary_model):
    """A registry of its own holding two versions of one model (the second promoted)."""
    names = [(name, "double") for name in binary_model.feature_names]
    publish_model(tmp_path, "decline", binary_model.booster, names)
    publish_model(tmp_path, "decline", binary_model.booster, names)
    return ModelRegistry(tmp_path)


def test_versions_and_promotion(private_registry):
    assert private_registry.versions("decline") == ["v0001", "v0002"]
    assert private_registry.current_version("decline") == "v0002"
    private_registry.promote("decline", "v0001")
    assert private_registry.load("decline").manifest.version == "v0001"
    assert not list((private_registry.root / "decline").glob(".CURRENT.*"))


def test_a_tampered_library_is_never_loaded_nor_promoted(private_registry):
    library = private_registry.version_dir("decline", "v0001") / "model.so"
    data = bytearray(library.read_bytes())
    data[-1] ^= 0xFF
    library.write_bytes(bytes(data))
    with pytest.raises(ModelArtifactError, match="fails its checksum"):
        private_registry.load("decline", "v0001")
    with pytest.raises(ModelArtifactError, match="fails its checksum"):
        private_registry.promote("decline", "v0001")
    assert private_registry.current_version("decline") == "v0002"


def test_a_missing_file_or_manifest_is_reported(private_registry):
    (private_registry.version_dir("decline", "v0002") / "model.tl").unlink()
    with pytest.raises(ModelArtifactError, match="listed in the manifest but missing"):
        private_registry.load("decline")
    (private_registry.version_dir("decline", "v0001") / "manifest.json").unlink()
    with pytest.raises(ModelArtifactError, match="not a model artifact: manifest.json is missing"):
        private_registry.load("decline", "v0001")


def test_manifest_records_what_a_reader_needs(private_registry, binary_model):
    manifest = json.loads((private_registry.version_dir("decline", "v0002") / "manifest.json").read_text())
    assert [feature["name"] for feature in manifest["features"]] == binary_model.feature_names
    assert manifest["objective"] == "binary:logistic" and manifest["output"]["kind"] == "probability"
    assert set(manifest["files"]) >= {"model.so", "model.tl", "src/forest_tables.h", "src/forest_kernel.c"}
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert manifest["packages"]["xgboost-cpu"] and manifest["compilation"]["library_bytes"] > 0


def test_unknown_model_is_named_with_the_available_ones(private_registry):
    with pytest.raises(ModelArtifactError, match=r"no model 'routing' in the registry .* \(it has decline\)"):
        private_registry.load("routing")


def test_sql_misuse_says_what_was_expected(private_registry):
    connection = duckdb.connect()
    register_models(connection, private_registry)
    connection.execute("create table features as select 0.5 as feature_0, 'text' as label")
    with pytest.raises(duckdb.BinderException, match=r"Candidate functions:\s+score_decline\(col0 DOUBLE, col1 DOUBLE, .*col7 DOUBLE"):
        connection.execute("select score_decline(feature_0) from features")
    with pytest.raises(duckdb.BinderException, match=r"score_decline\(col0 DOUBLE"):
        connection.execute("select score_decline(" + ", ".join(["label"] * 8) + ") from features")
    with pytest.raises(duckdb.CatalogException, match="score_routing"):
        connection.execute("select score_routing(1.0)")
    assert connection.execute("select payloom_model_features('decline')").fetchone()[0][0] == "feature_0"
    expected_call = score_call(private_registry.load("decline").manifest, relation_alias="f")
    assert connection.execute("select payloom_score_call('decline', 'f')").fetchone()[0] == expected_call
    with pytest.raises(duckdb.InvalidInputException, match="no model 'routing' is registered"):
        connection.execute("select payloom_model_features('routing')").fetchall()


def test_a_feature_table_that_does_not_match_the_manifest(private_registry):
    manifest = private_registry.load("decline").manifest
    with pytest.raises(ScoringInputError, match="lacks: feature_3, feature_7"):
        score_call(manifest, available_columns=[f"feature_{index}" for index in (0, 1, 2, 4, 5, 6)])


def test_python_misuse_of_the_library(private_registry):
    forest = private_registry.load("decline").forest
    with pytest.raises(ScoringInputError, match="takes 8 features; got 2"):
        forest.predict([np.zeros(3), np.zeros(3)])
    with pytest.raises(ScoringInputError, match="differ in length"):
        forest.predict([np.zeros(3)] * 7 + [np.zeros(4)])


def test_scoring_runtime_needs_no_training_or_pipeline_packages(private_registry, tmp_path):
    """`udfs` loads and scores with DuckDB, NumPy and PyArrow only: the heavy packages are blocked."""
    script = f"""
import sys
for blocked in ("xgboost", "treelite", "tl2cgen", "dbt", "feast", "sklearn", "pandas", "scoring"):
    sys.modules[blocked] = None
import duckdb
from udfs import register_models
connection = duckdb.connect()
register_models(connection, {str(private_registry.root)!r})
print(connection.execute("select score_decline(" + ", ".join(["null"] * 8) + ")").fetchone()[0])
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                               env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2])})
    assert completed.returncode == 0, completed.stderr
    assert 0.0 < float(completed.stdout.strip()) < 1.0
