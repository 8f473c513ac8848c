"""A model artifact: a versioned directory with a sealed manifest, the Treelite checkpoint and
the compiled library. Loading checks everything it can before it opens the library: the
manifest's seal, then every field of the manifest, then the sha256 of every file it lists, each
path inside the directory; so a library that was changed, half-copied or named by a tampered
manifest is never loaded.

Layout of one version directory:

    manifest.json        what the model takes and gives, how it was made, file checksums
    manifest.sha256      the sha256 of manifest.json (`udfs.manifest_seal`)
    manifest.hmac        its HMAC-SHA256, when published with PAYLOOM_MODEL_SIGNING_KEY set
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
>>> ModelManifest.from_dict({"name": "issuer_decline", "version": "v0001", "features": [{"name": "a"}],
...     "output": {"kind": "probability"}, "files": {}})
Traceback (most recent call last):
...
udfs.errors.ModelArtifactError: manifest: feature 0 has keys ['name'], expected exactly name and type; re-publish the model
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from udfs.compiled_forest import CompiledForest
from udfs.contained_paths import contained_path
from udfs.errors import ArtifactIntegrityError, ModelArtifactError
from udfs.manifest_fields import OUTPUT_KINDS, REQUIRED_FIELDS, check_manifest_fields, parse_manifest
from udfs.manifest_seal import MANIFEST_FILE, read_manifest_bytes, signing_key_from_environment, verify_manifest

__all__ = ["ModelManifest", "ModelArtifact", "load_artifact", "read_verified_manifest", "sha256_of", "MANIFEST_FILE", "OUTPUT_KINDS"]


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
    def from_dict(cls, raw: dict[str, Any], *, source: str = "manifest") -> "ModelManifest":
        """The manifest of `raw` (parsed JSON), every field checked (`udfs.manifest_fields`)."""
        check_manifest_fields(raw, source)
        return cls(
            name=raw["name"],
            version=raw["version"],
            features=[dict(feature) for feature in raw["features"]],
            output=dict(raw["output"]),
            files=dict(raw["files"]),
            details={key: value for key, value in raw.items() if key not in REQUIRED_FIELDS},
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
    """A verified, loaded model version: its manifest and its compiled library.

    `manifest_sha256` is the sha256 of the manifest's bytes that were verified and parsed (what
    `ModelRegistry.promote` records in CURRENT).
    """

    directory: Path
    manifest: ModelManifest
    forest: CompiledForest
    manifest_sha256: str = ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_verified_manifest(
    directory: Path, *, expected_name: str | None = None, expected_version: str | None = None, expected_manifest_sha256: str | None = None,
) -> tuple[ModelManifest, str, Path]:
    """Every check of a version directory that needs no native code, in order: the manifest's
    seal (and signature, with PAYLOOM_MODEL_SIGNING_KEY), its fields, the expected name and
    version, the decision policy, then each listed file's path and sha256. Returns the manifest,
    its sha256 and the resolved path of model.so; raises ModelArtifactError (or its subclasses)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelArtifactError(f"{directory} is not a model artifact: it is not a directory")
    data = read_manifest_bytes(directory)
    digest = verify_manifest(directory, data, expected_sha256=expected_manifest_sha256, signing_key=signing_key_from_environment())
    source = str(directory / MANIFEST_FILE)
    manifest = ModelManifest.from_dict(parse_manifest(data, source), source=source)
    if expected_name is not None and manifest.name != expected_name:
        raise ArtifactIntegrityError(f"{directory} holds model {manifest.name!r}, not {expected_name!r}; it will not be loaded")
    if expected_version is not None and manifest.version != expected_version:
        raise ArtifactIntegrityError(f"{directory} holds version {manifest.version!r} of {manifest.name}, not {expected_version!r}; it will not be loaded")
    policy = manifest.details.get("decision_policy")
    if policy:
        from udfs.decline_actions import DeclineActionPolicy

        DeclineActionPolicy.from_policy(manifest.name, policy)
    if "model.so" not in manifest.files:
        raise ModelArtifactError(f"{source} lists no model.so; the artifact is incomplete")
    paths = {relative: contained_path(directory, relative, what="the manifest's file") for relative in manifest.files}
    for relative, expected in manifest.files.items():
        path = paths[relative]
        if not path.is_file():
            raise ModelArtifactError(f"{directory / relative} is listed in the manifest but missing; re-publish the model")
        actual = sha256_of(path)
        if actual != expected:
            raise ArtifactIntegrityError(
                f"{directory / relative} fails its checksum (sha256 {actual[:12]}..., manifest says {expected[:12]}...): "
                "it was modified or copied incompletely; it will not be loaded. Re-publish the model."
            )
    return manifest, digest, paths["model.so"]


def load_artifact(
    directory: Path, *, expected_name: str | None = None, expected_version: str | None = None, expected_manifest_sha256: str | None = None,
) -> ModelArtifact:
    """Check the version directory (`read_verified_manifest`: seal, fields, names, checksums,
    paths), and only then load its library and check the library's feature count."""
    directory = Path(directory)
    manifest, digest, library = read_verified_manifest(
        directory, expected_name=expected_name, expected_version=expected_version, expected_manifest_sha256=expected_manifest_sha256,
    )
    forest = CompiledForest(library)
    if forest.num_features != len(manifest.features):
        raise ModelArtifactError(f"{directory}: the library takes {forest.num_features} features, the manifest lists {len(manifest.features)}")
    return ModelArtifact(directory=directory, manifest=manifest, forest=forest, manifest_sha256=digest)
