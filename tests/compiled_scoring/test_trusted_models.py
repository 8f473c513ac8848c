"""Only trusted models load: the manifest is sealed, and every check runs before native code does.

The attacks are those of issue 17: edit the manifest (swap two features, change the output
kind or a policy threshold), edit it and its seal, point CURRENT outside the registry, link a
file out of the version folder, copy one model's version under another model's name.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil

import duckdb
import numpy as np
import pytest

from tests.compiled_scoring.trusted_registry import (
    copy_registry, edit_manifest, load_marker_library_elsewhere, marker_library, publish_pristine, reseal_manifest, small_booster,
    FEATURES,
)
from scoring.model_publishing import publish_model
from udfs import register_models
from udfs.errors import ArtifactIntegrityError, ModelArtifactError
from udfs.manifest_seal import MANIFEST_SEAL_FILE, MANIFEST_SIGNATURE_FILE, SIGNING_KEY_VARIABLE
from udfs.model_artifact import load_artifact
from udfs.model_registry import CURRENT_FILE, ModelRegistry


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return publish_pristine(tmp_path_factory.mktemp("pristine_registry"))


@pytest.fixture
def registry(pristine, tmp_path) -> ModelRegistry:
    return ModelRegistry(copy_registry(pristine, tmp_path / "registry"))


@pytest.fixture
def no_native_code(monkeypatch):
    """Fail the test if any library is opened through ctypes."""
    opened = []

    def refuse(path, *args, **kwargs):
        opened.append(path)
        raise AssertionError(f"a native library was opened before the checks refused the artifact: {path}")

    monkeypatch.setattr(ctypes, "CDLL", refuse)
    return opened


def _swap_first_two_features(manifest):
    manifest["features"][0], manifest["features"][1] = manifest["features"][1], manifest["features"][0]


def _rename_a_feature(manifest):
    manifest["features"][2]["name"] = "decline_ratio_30d"


def _change_the_output_kind(manifest):
    manifest["output"]["kind"] = "value"


def _lower_a_policy_threshold(manifest):
    manifest["decision_policy"]["thresholds"]["stand_in_approval"] = 0.0


def _listing(library):
    """An edit that lists `library`'s real checksum as model.so's."""
    def change(manifest):
        manifest["files"]["model.so"] = hashlib.sha256(library.read_bytes()).hexdigest()
    return change


EDITS = [_swap_first_two_features, _rename_a_feature, _change_the_output_kind, _lower_a_policy_threshold]


@pytest.mark.parametrize("edit", EDITS, ids=lambda edit: edit.__name__.strip("_"))
def test_an_edited_manifest_is_refused_before_any_library_is_opened(registry, edit, no_native_code):
    version_dir = registry.version_dir("decline", "v0002")
    edit_manifest(version_dir, edit)
    with pytest.raises(ArtifactIntegrityError, match=r"manifest.json fails its seal: .* was edited .*Re-publish the model"):
        registry.load("decline")
    with pytest.raises(ArtifactIntegrityError, match="fails its seal"):
        load_artifact(version_dir)
    with pytest.raises(ArtifactIntegrityError, match="fails its seal"):
        register_models(duckdb.connect(), registry)
    assert no_native_code == []


def test_feature_order_cannot_be_changed_silently_through_sql(registry):
    """The finding: swapping two features in the manifest changed almost every score."""
    connection = duckdb.connect()
    register_models(connection, registry)
    connection.execute("create table features as select range::double / 7 as amount, (range % 5)::bigint as attempts_30d, "
                       "0.1 as decline_ratio_90d from range(200)")
    call = connection.execute("select payloom_score_call('decline', 'features')").fetchone()[0]
    before = connection.execute(f"select {call} from features").fetchnumpy()
    edit_manifest(registry.version_dir("decline", "v0002"), _swap_first_two_features)
    with pytest.raises(ArtifactIntegrityError):
        register_models(duckdb.connect(), registry)
    assert len(before) == 1 and np.isfinite(next(iter(before.values()))).all()


def test_editing_the_manifest_and_its_seal_is_refused_by_the_promotion_record(registry, no_native_code):
    version_dir = registry.version_dir("decline", "v0002")
    edit_manifest(version_dir, _swap_first_two_features, reseal=True)
    for version in (None, "v0002"):
        with pytest.raises(ArtifactIntegrityError, match=r"is not the manifest that was promoted: .* CURRENT says"):
            registry.load("decline", version)
    assert no_native_code == []


def test_a_promotion_record_without_checksum_or_outside_the_registry_is_refused(registry, tmp_path, no_native_code):
    pointer = registry.root / "decline" / CURRENT_FILE
    for content in ("v0002\n", "../../../x\n", "../../../x sha256:" + "0" * 64 + "\n", "v0002 sha256:" + "0" * 64 + "\n"):
        pointer.write_text(content)
        expected = "is not the manifest that was promoted" if content.startswith("v0002 sha256") else "does not read 'v<digits> sha256:"
        with pytest.raises(ArtifactIntegrityError, match=expected):
            registry.load("decline")
    with pytest.raises(ModelArtifactError, match="model version '../../../x' is not allowed"):
        registry.load("decline", "../../../x")
    assert no_native_code == []


def test_promoting_again_repairs_a_damaged_promotion_record(registry):
    (registry.root / "decline" / CURRENT_FILE).write_text("v0002\n")
    registry.promote("decline", "v0001")
    assert registry.load("decline").manifest.version == "v0001"
    assert (registry.root / "decline" / CURRENT_FILE).read_text().startswith("v0001 sha256:")


def test_a_library_outside_the_registry_is_never_loaded(registry, tmp_path):
    """CURRENT and a version folder linked out of the registry, holding a library that marks
    when loaded: refused, and the marker is never written."""
    marker = tmp_path / "marker.txt"
    outside = tmp_path / "outside"
    shutil.copytree(registry.version_dir("decline", "v0001"), outside)
    library = marker_library(tmp_path / "build", marker)
    shutil.copy(library, outside / "model.so")
    edit_manifest(outside, _listing(library), reseal=True)
    (registry.root / "decline" / "versions" / "v0009").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArtifactIntegrityError, match=r"resolves to .*outside that folder"):
        registry.load("decline", "v0009")
    (registry.root / "decline" / CURRENT_FILE).write_text(f"../../../{outside.name}\n")
    with pytest.raises(ArtifactIntegrityError, match="does not read"):
        registry.load("decline")
    assert not marker.exists()
    load_marker_library_elsewhere(library)
    assert marker.read_text() == "native code ran"


def test_a_version_with_its_manifest_resealed_still_never_runs_a_swapped_library(registry, tmp_path):
    """Two files edited (a new model.so, its checksum in the manifest, no new seal): refused
    before the library is opened."""
    marker = tmp_path / "marker.txt"
    version_dir = registry.version_dir("decline", "v0001")
    library = marker_library(tmp_path / "build", marker)
    shutil.copy(library, version_dir / "model.so")
    edit_manifest(version_dir, _listing(library))
    with pytest.raises(ArtifactIntegrityError, match="fails its seal"):
        registry.load("decline", "v0001")
    assert not marker.exists()


def test_a_file_linked_out_of_the_version_folder_is_refused(registry, tmp_path, no_native_code):
    version_dir = registry.version_dir("decline", "v0001")
    outside = tmp_path / "model.tl"
    shutil.copy(version_dir / "model.tl", outside)  # same bytes: its checksum alone would pass
    (version_dir / "model.tl").unlink()
    (version_dir / "model.tl").symlink_to(outside)
    with pytest.raises(ArtifactIntegrityError, match=r"'model.tl' in .* resolves to .*outside that folder"):
        registry.load("decline", "v0001")
    (version_dir / "model.tl").unlink()
    shutil.copy(outside, version_dir / "model.tl")
    edit_manifest(version_dir, lambda manifest: manifest["files"].__setitem__("../../../../etc/hostname", "0" * 64), reseal=True)
    with pytest.raises(ArtifactIntegrityError, match=r"'../../../../etc/hostname' is not a plain relative path"):
        registry.load("decline", "v0001")
    assert no_native_code == []


def test_a_version_copied_under_another_name_is_refused_before_loading(registry, no_native_code):
    shutil.copytree(registry.version_dir("decline", "v0002"), registry.root / "routing" / "versions" / "v0001")
    with pytest.raises(ArtifactIntegrityError, match=r"holds model 'decline', not 'routing'"):
        registry.load("routing", "v0001")
    shutil.copytree(registry.version_dir("decline", "v0002"), registry.version_dir("decline", "v0003"))
    with pytest.raises(ArtifactIntegrityError, match=r"holds version 'v0002' of decline, not 'v0003'"):
        registry.load("decline", "v0003")
    assert no_native_code == []


def test_a_missing_or_damaged_seal_is_refused(registry, no_native_code):
    seal = registry.version_dir("decline", "v0001") / MANIFEST_SEAL_FILE
    seal.write_text("not a digest\n")
    with pytest.raises(ArtifactIntegrityError, match="the seal was damaged"):
        registry.load("decline", "v0001")
    seal.unlink()
    with pytest.raises(ArtifactIntegrityError, match=r"has no manifest.sha256: .*older payloom"):
        registry.load("decline", "v0001")
    assert no_native_code == []


def test_an_hmac_key_signs_at_publish_and_is_required_at_load(tmp_path, monkeypatch):
    registry = ModelRegistry(tmp_path / "signed")
    monkeypatch.setenv(SIGNING_KEY_VARIABLE, "the right key")
    publish_model(registry, "signed", small_booster(), FEATURES)
    version_dir = registry.version_dir("signed", "v0001")
    assert (version_dir / MANIFEST_SIGNATURE_FILE).is_file()
    assert registry.load("signed").manifest.name == "signed"
    # Someone who can write every file of the registry, but has no key: edit, reseal, re-promote.
    edit_manifest(version_dir, _swap_first_two_features)
    digest = reseal_manifest(version_dir)
    (registry.root / "signed" / CURRENT_FILE).write_text(f"v0001 sha256:{digest}\n")
    with pytest.raises(ArtifactIntegrityError, match=f"fails its signature .* {SIGNING_KEY_VARIABLE}"):
        registry.load("signed")
    monkeypatch.setenv(SIGNING_KEY_VARIABLE, "another key")
    with pytest.raises(ArtifactIntegrityError, match="fails its signature"):
        registry.load("signed")
    unsigned = ModelRegistry(tmp_path / "unsigned")
    monkeypatch.delenv(SIGNING_KEY_VARIABLE)
    publish_model(unsigned, "unsigned", small_booster(), FEATURES)
    monkeypatch.setenv(SIGNING_KEY_VARIABLE, "the right key")
    with pytest.raises(ArtifactIntegrityError, match=f"has no manifest.hmac: {SIGNING_KEY_VARIABLE} is set"):
        unsigned.load("unsigned")


def test_promotion_records_the_manifests_checksum(registry):
    record = (registry.root / "decline" / CURRENT_FILE).read_text()
    artifact = registry.load("decline")
    assert record == f"v0002 sha256:{artifact.manifest_sha256}\n"
    assert (artifact.directory / MANIFEST_SEAL_FILE).read_text() == f"{artifact.manifest_sha256}  manifest.json\n"
    assert json.loads((artifact.directory / "manifest.json").read_text())["name"] == "decline"
    assert os.path.samefile(artifact.directory, registry.version_dir("decline", "v0002"))
