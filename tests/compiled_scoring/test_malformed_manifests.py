"""A malformed manifest raises ModelArtifactError saying what was expected, never a bare Python error.

Each manifest here is sealed (its manifest.sha256 matches), as if published that way, so the
test reaches the parser and the field checks behind the seal.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from udfs.errors import InvalidNameError, ModelArtifactError, PayloomError
from udfs.manifest_seal import MANIFEST_FILE, MANIFEST_SEAL_FILE, MAX_MANIFEST_BYTES
from udfs.model_artifact import load_artifact

VALID = {
    "name": "decline", "version": "v0001",
    "features": [{"name": "amount", "type": "double"}, {"name": "attempts_30d", "type": "bigint"}],
    "output": {"kind": "probability", "classes": ["approved", "declined"]},
    "files": {"model.so": "0" * 64},
}


def _with(**changes):
    manifest = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is _DELETE:
            del manifest[key]
        else:
            manifest[key] = value
    return json.dumps(manifest).encode()


_DELETE = object()

CASES = {
    "not_utf8": (b'{"name": "d\xe9cline"}', ModelArtifactError, r"is not UTF-8 text \(byte 0xe9 at 11\); a manifest is the JSON"),
    "not_json": (b'{"name": "decline",', ModelArtifactError, r"is not valid JSON .*re-publish the model"),
    "empty": (b"", ModelArtifactError, "is not valid JSON"),
    "a_list": (b"[1, 2]", ModelArtifactError, r"holds a JSON list, expected an object with name, version, features, output, files"),
    "a_string": (b'"decline"', ModelArtifactError, "holds a JSON str"),
    "repeated_key": (b'{"name": "decline", "name": "other"}', ModelArtifactError, r"repeats key 'name'"),
    "too_deep": (b"[" * 100_000 + b"]" * 100_000, ModelArtifactError, "nests too deeply"),
    "missing_keys": (_with(output=_DELETE, files=_DELETE), ModelArtifactError, r"lacks output, files: expected name, version"),
    "name_not_a_string": (_with(name=3), InvalidNameError, r"model name 3 is not allowed: expected lower_snake_case"),
    "name_a_path": (_with(name="../../x"), InvalidNameError, r"model name '../../x' is not allowed"),
    "version_a_path": (_with(version="../v0001"), InvalidNameError, r"model version '../v0001' is not allowed"),
    "features_an_object": (_with(features={"amount": "double"}), ModelArtifactError, r"features must be a list of .* got dict"),
    "features_strings": (_with(features=["amount", "attempts_30d"]), ModelArtifactError, r"features must be a list of .* got a list holding string"),
    "features_empty": (_with(features=[]), InvalidNameError, "needs at least one feature"),
    "feature_without_type": (_with(features=[{"name": "amount"}]), ModelArtifactError, r"feature 0 has keys \['name'\], expected exactly name and type"),
    "feature_name_a_number": (_with(features=[{"name": 1, "type": "double"}]), InvalidNameError, "feature name 1 is not allowed"),
    "feature_name_sql": (_with(features=[{"name": "x) ; create table pwned as select 1; --", "type": "double"}]), InvalidNameError,
                         r"feature name 'x\) ; create table pwned as select 1; --' is not allowed"),
    "feature_name_backtick": (_with(features=[{"name": "a`b", "type": "double"}]), InvalidNameError, "feature name 'a`b' is not allowed"),
    "feature_type_sql": (_with(features=[{"name": "amount", "type": "double); drop table x; --"}]), InvalidNameError,
                         r"feature 'amount' has type 'double\); drop table x; --'; expected a lowercase SQL type name"),
    "features_repeated": (_with(features=[{"name": "amount", "type": "double"}, {"name": "Amount", "type": "double"}]), InvalidNameError,
                          r"feature names 'amount' and 'Amount' are the same to SQL"),
    "output_a_list": (_with(output=["probability"]), ModelArtifactError, "output must be an object with a kind, got list"),
    "output_kind_unknown": (_with(output={"kind": "logits"}), ModelArtifactError, r"output kind 'logits' is not one of probability, class_probabilities, value"),
    "classes_a_string": (_with(output={"kind": "probability", "classes": "approved"}), ModelArtifactError, "output classes must be a list of names"),
    "class_name_sql": (_with(output={"kind": "class_probabilities", "classes": ["a`: DOUBLE>, x"]}), InvalidNameError, "class name 'a`: DOUBLE>, x' is not allowed"),
    "multiclass_without_classes": (_with(output={"kind": "class_probabilities"}), ModelArtifactError, "must name its classes"),
    "transform_unknown": (_with(output={"kind": "probability", "transform": "tanh"}), ModelArtifactError, "output transform 'tanh' is not one of sigmoid"),
    "files_a_list": (_with(files=["model.so"]), ModelArtifactError, "files must be an object of path -> sha256, got list"),
    "checksum_not_hex": (_with(files={"model.so": "abc"}), ModelArtifactError, r"checksum of 'model.so' must be 64 lowercase hex digits"),
    "checksum_a_number": (_with(files={"model.so": 5}), ModelArtifactError, "must be 64 lowercase hex digits"),
    "no_library": (_with(files={}), ModelArtifactError, "lists no model.so; the artifact is incomplete"),
    "policy_a_string": (_with(decision_policy="always decline"), ModelArtifactError, "decision_policy must be an object, got string"),
    "policy_thresholds_a_list": (
        _with(decision_policy={"kind": "decline_action", "thresholds": [0.1], "outage_ratio": 0.6, "trusted_min_attempts": 10,
                               "trusted_max_decline_ratio": 0.1}),
        ModelArtifactError, r"decision_policy.thresholds must be an object of action -> number"),
    "policy_threshold_text": (
        _with(decision_policy={"kind": "decline_action", "thresholds": {"stand_in_approval": "0.1"}, "outage_ratio": 0.6,
                               "trusted_min_attempts": 10, "trusted_max_decline_ratio": 0.1}),
        ModelArtifactError, r"decision_policy.thresholds.stand_in_approval must be a number, got '0.1'"),
}


def _sealed_artifact(folder, data: bytes):
    folder.mkdir()
    (folder / MANIFEST_FILE).write_bytes(data)
    (folder / MANIFEST_SEAL_FILE).write_text(f"{hashlib.sha256(data).hexdigest()}  {MANIFEST_FILE}\n")
    return folder


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_manifest_raises_model_artifact_error(tmp_path, case):
    data, error, message = CASES[case]
    with pytest.raises(error, match=message) as raised:
        load_artifact(_sealed_artifact(tmp_path / "v0001", data))
    assert isinstance(raised.value, ModelArtifactError) and isinstance(raised.value, PayloomError)


def test_a_huge_manifest_is_refused_without_reading_it_whole(tmp_path):
    folder = tmp_path / "v0001"
    folder.mkdir()
    with open(folder / MANIFEST_FILE, "wb") as handle:
        handle.truncate(MAX_MANIFEST_BYTES * 50)  # 200 MB of zeros, sparse on disk
    with pytest.raises(ModelArtifactError, match=r"manifest.json is larger than 4,194,304 bytes, too large for a model manifest"):
        load_artifact(folder)


def test_a_valid_manifest_gets_past_every_field_check(tmp_path):
    """The control: the same manifest, unbroken, fails only where the files are (there is no model.so)."""
    with pytest.raises(ModelArtifactError, match="model.so is listed in the manifest but missing"):
        load_artifact(_sealed_artifact(tmp_path / "v0001", _with()))
