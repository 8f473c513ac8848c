"""Read a manifest's bytes as JSON and check every field it must have, with the types it must have.

Anything else than a well-formed manifest (not UTF-8, not JSON, a repeated key, a list where an
object belongs, a missing key, a feature without a name, a name that breaks the identifier
rules, a checksum that is not 64 hex digits, an unknown output kind) raises ModelArtifactError
saying what was expected, never AttributeError, KeyError, TypeError or UnicodeDecodeError.

>>> parse_manifest(b'\\xff', "manifest.json")
Traceback (most recent call last):
...
udfs.errors.ModelArtifactError: manifest.json is not UTF-8 text (byte 0xff at 0); a manifest is the JSON that publish_model writes. Re-publish the model
>>> check_manifest_fields({"name": "toy", "version": "v0001", "features": {"a": "double"}, "output": {}, "files": {}}, "manifest.json")
Traceback (most recent call last):
...
udfs.errors.ModelArtifactError: manifest.json: features must be a list of {"name": ..., "type": ...} objects, got dict; re-publish the model
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from udfs.errors import ModelArtifactError
from udfs.identifiers import check_class_names, check_features, check_model_name, check_version

__all__ = ["REQUIRED_FIELDS", "OUTPUT_KINDS", "OUTPUT_TRANSFORMS", "parse_manifest", "check_manifest_fields"]

REQUIRED_FIELDS = ("name", "version", "features", "output", "files")
OUTPUT_KINDS = ("probability", "class_probabilities", "value")
"""probability: one P(positive class); class_probabilities: one per class (a struct in SQL);
value: a regression output."""
OUTPUT_TRANSFORMS = ("sigmoid",)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIX = "re-publish the model"


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ModelArtifactError(f"the manifest repeats key {', '.join(map(repr, repeated))}; a JSON reader would silently keep one")
    return dict(pairs)


def parse_manifest(data: bytes, source: str) -> dict[str, Any]:
    """The JSON object in `data` (UTF-8); ModelArtifactError if it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelArtifactError(
            f"{source} is not UTF-8 text (byte 0x{data[error.start]:02x} at {error.start}); a manifest is the JSON that "
            f"publish_model writes. {_FIX.capitalize()}"
        ) from error
    try:
        raw = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ModelArtifactError(f"{source} is not valid JSON ({error}); {_FIX}") from error
    except RecursionError as error:
        raise ModelArtifactError(f"{source} nests too deeply to be a manifest; {_FIX}") from error
    except ModelArtifactError as error:
        raise ModelArtifactError(f"{source}: {error}; {_FIX}") from error
    if not isinstance(raw, dict):
        raise ModelArtifactError(f"{source} holds a JSON {type(raw).__name__}, expected an object with {', '.join(REQUIRED_FIELDS)}; {_FIX}")
    return raw


def _type_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _check_features(raw: Any, source: str) -> None:
    if not isinstance(raw, list) or not all(isinstance(feature, dict) for feature in raw):
        got = type(raw).__name__ if not isinstance(raw, list) else "a list holding " + ", ".join(sorted({_type_name(item) for item in raw}))
        raise ModelArtifactError(f'{source}: features must be a list of {{"name": ..., "type": ...}} objects, got {got}; {_FIX}')
    for index, feature in enumerate(raw):
        if set(feature) != {"name", "type"}:
            raise ModelArtifactError(f"{source}: feature {index} has keys {sorted(feature)}, expected exactly name and type; {_FIX}")
    check_features([(feature["name"], feature["type"]) for feature in raw])


def _check_output(raw: Any, source: str) -> None:
    if not isinstance(raw, dict):
        raise ModelArtifactError(f"{source}: output must be an object with a kind, got {_type_name(raw)}; {_FIX}")
    kind = raw.get("kind")
    if kind not in OUTPUT_KINDS:
        raise ModelArtifactError(f"{source}: output kind {kind!r} is not one of {', '.join(OUTPUT_KINDS)}; {_FIX}")
    classes = raw.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
            raise ModelArtifactError(f"{source}: output classes must be a list of names, got {classes!r}; {_FIX}")
        check_class_names(classes)
    if kind == "class_probabilities" and not classes:
        raise ModelArtifactError(f"{source}: a class_probabilities output must name its classes (output.classes); {_FIX}")
    if "transform" in raw and raw["transform"] not in OUTPUT_TRANSFORMS:
        raise ModelArtifactError(f"{source}: output transform {raw['transform']!r} is not one of {', '.join(OUTPUT_TRANSFORMS)}; {_FIX}")
    margin = raw.get("base_score_margin", 0.0)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise ModelArtifactError(f"{source}: output base_score_margin must be a finite number, got {margin!r}; {_FIX}")


def _check_files(raw: Any, source: str) -> None:
    if not isinstance(raw, dict):
        raise ModelArtifactError(f"{source}: files must be an object of path -> sha256, got {_type_name(raw)}; {_FIX}")
    for path, digest in raw.items():
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ModelArtifactError(f"{source}: the checksum of {path!r} must be 64 lowercase hex digits (sha256), got {digest!r}; {_FIX}")


def check_manifest_fields(raw: Any, source: str) -> None:
    """ModelArtifactError unless `raw` has every required field with its type (module docstring)."""
    if not isinstance(raw, dict):
        raise ModelArtifactError(f"{source}: a manifest must be an object, got {_type_name(raw)}; {_FIX}")
    missing = [key for key in REQUIRED_FIELDS if key not in raw]
    if missing:
        raise ModelArtifactError(f"{source} lacks {', '.join(missing)}: expected {', '.join(REQUIRED_FIELDS)}; {_FIX}")
    check_model_name(raw["name"])
    check_version(raw["version"])
    _check_features(raw["features"], source)
    _check_output(raw["output"], source)
    _check_files(raw["files"], source)
    policy = raw.get("decision_policy")
    if policy is not None and not isinstance(policy, dict):
        raise ModelArtifactError(f"{source}: decision_policy must be an object, got {_type_name(policy)}; {_FIX}")
