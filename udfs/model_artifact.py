"""A model artifact: a versioned directory with a manifest, the Treelite checkpoint and the
compiled library. Loading verifies the sha256 of every file the manifest lists, so a library
that was changed or half-copied is never loaded.

Layout of one version directory:

    manifest.json        what the model takes and gives, how it was made, file checksums
    model.tl             the Treelite checkpoint (the exchange format; not needed to score)
    model.so             the compiled library the runtime calls
    src/                 the C source the library was compiled from

>>> manifest = ModelManifest.from_dict({
...     "name": "issuer_decline", "version": "v0001",
...     "features": [{"name": "attempts_30d", "type": "double"}],
...     "output": {"kind": "probability", "classes": ["approved", "declined"]},
...     "files": {}})
>>> manifest.function_name, manifest.feature_names
('score_issuer_decline', ['attempts_30d'])
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from udfs.compiled_forest import CompiledForest
from udfs.errors import ModelArtifactError

__all__ = ["ModelManifest", "ModelArtifact", "load_artifact", "sha256_of", "MANIFEST_FILE", "OUTPUT_KINDS"]

MANIFEST_FILE = "manifest.json"
OUTPUT_KINDS = ("probability", "class_probabilities", "value")
"""probability: one P(positive class); class_probabilities: one per class (a struct in SQL);
value: a regression output."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ModelManifest:
    """The contract of a model version; see `docs/models.md` for every field."""

    name: str
    version: str
    features: list[dict[str, str]]
    output: dict[str, Any]
    files: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelManifest":
        missing = [key for key in ("name", "version", "features", "output", "files") if key not in raw]
        if missing:
            raise ModelArtifactError(f"manifest lacks {', '.join(missing)}")
        if not _NAME.match(raw["name"]):
            raise ModelArtifactError(f"model name {raw['name']!r} must be lower_snake_case (it becomes score_<name> in SQL)")
        if raw["output"].get("kind") not in OUTPUT_KINDS:
            raise ModelArtifactError(f"output kind {raw['output'].get('kind')!r} is not one of {', '.join(OUTPUT_KINDS)}")
        known = {"name", "version", "features", "output", "files"}
        return cls(
            name=raw["name"],
            version=raw["version"],
            features=list(raw["features"]),
            output=dict(raw["output"]),
            files=dict(raw["files"]),
            details={key: value for key, value in raw.items() if key not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "features": self.features, "output": self.output, "files": self.files, **self.details}

    @property
    def function_name(self) -> str:
        """The SQL function that scores this model."""
        return f"score_{self.name}"

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.features]

    @property
    def class_names(self) -> list[str]:
        return list(self.output.get("classes", []))


@dataclass
class ModelArtifact:
    """A verified, loaded model version: its manifest and its compiled library."""

    directory: Path
    manifest: ModelManifest
    forest: CompiledForest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_artifact(directory: Path) -> ModelArtifact:
    """Read the manifest, check every listed file's sha256, then load the library."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelArtifactError(f"{directory} is not a model artifact: {MANIFEST_FILE} is missing")
    try:
        manifest = ModelManifest.from_dict(json.loads(manifest_path.read_text()))
    except json.JSONDecodeError as error:
        raise ModelArtifactError(f"{manifest_path} is not valid JSON: {error}") from error
    if "model.so" not in manifest.files:
        raise ModelArtifactError(f"{manifest_path} lists no model.so; the artifact is incomplete")
    for relative, expected in manifest.files.items():
        path = directory / relative
        if not path.is_file():
            raise ModelArtifactError(f"{path} is listed in the manifest but missing; re-publish the model")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelArtifactError(
                f"{path} fails its checksum (sha256 {actual[:12]}..., manifest says {expected[:12]}...): "
                "it was modified or copied incompletely; it will not be loaded. Re-publish the model."
            )
    forest = CompiledForest(directory / "model.so")
    if forest.num_features != len(manifest.features):
        raise ModelArtifactError(f"{directory}: the library takes {forest.num_features} features, the manifest lists {len(manifest.features)}")
    return ModelArtifact(directory=directory, manifest=manifest, forest=forest)
