"""The model registry: a folder of models, each with numbered versions and one promoted version.

    <registry>/<model>/versions/v0001/   a model artifact (see `model_artifact`)
    <registry>/<model>/CURRENT           the promoted version and the sha256 of its manifest,
                                         e.g. "v0002 sha256:3f5a...", written at promotion

Versions are immutable once published. Promotion rewrites CURRENT with an atomic rename, so a
reader sees the old version or the new one, never a mix. Loading checks, before any library is
opened: the model name and version against the identifier rules (`udfs.identifiers`), that the
version folder resolves inside the registry (no `..`, no symbolic link out of it), the
manifest against its seal and, for the promoted version, against the sha256 in CURRENT; then
the manifest's fields, name and version, and every file's checksum (`load_artifact`).

>>> import tempfile
>>> registry = ModelRegistry(tempfile.mkdtemp())
>>> registry.names()
[]
>>> registry.load("issuer_decline")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
udfs.errors.ModelArtifactError: no model 'issuer_decline' in the registry at ... (it has none); train and publish one first (payloom train)
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from udfs.contained_paths import contained_path
from udfs.errors import ArtifactIntegrityError, ModelArtifactError
from udfs.identifiers import MODEL_NAME_PATTERN, VERSION_PATTERN, check_model_name, check_version
from udfs.model_artifact import MANIFEST_FILE, ModelArtifact, load_artifact

__all__ = ["ModelRegistry", "Promotion", "CURRENT_FILE"]

CURRENT_FILE = "CURRENT"
_CURRENT_LINE = re.compile(r"(v[0-9]{4,9}) sha256:([0-9a-f]{64})\n?")
_CURRENT_BYTES = 256


@dataclass(frozen=True)
class Promotion:
    """What a model's CURRENT records: the promoted version and the sha256 of its manifest."""

    version: str
    manifest_sha256: str


class ModelRegistry:
    """Read and promote model versions under `root`."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def names(self) -> list[str]:
        """Models that have a promoted version (folders whose name breaks the model-name rule are not models)."""
        if not self.root.is_dir():
            return []
        pattern = re.compile(MODEL_NAME_PATTERN)
        return sorted(path.parent.name for path in self.root.glob(f"*/{CURRENT_FILE}") if pattern.fullmatch(path.parent.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / check_model_name(name) / "versions"
        pattern = re.compile(VERSION_PATTERN)
        return sorted(path.parent.name for path in folder.glob(f"*/{MANIFEST_FILE}") if pattern.fullmatch(path.parent.name)) if folder.is_dir() else []

    def version_dir(self, name: str, version: str) -> Path:
        """`<root>/<name>/versions/<version>`, both names checked against the identifier rules."""
        return self.root / check_model_name(name) / "versions" / check_version(version)

    def next_version(self, name: str) -> str:
        existing = [int(version[1:]) for version in self.versions(name)]
        return f"v{max(existing, default=0) + 1:04d}"

    def promotion(self, name: str) -> Promotion:
        """The promoted version of `name` and its manifest's sha256, as CURRENT records them."""
        pointer = self.root / check_model_name(name) / CURRENT_FILE
        if not pointer.is_file():
            available = ", ".join(self.names()) or "none"
            raise ModelArtifactError(
                f"no model {name!r} in the registry at {self.root} (it has {available}); "
                "train and publish one first (payloom train)"
            )
        with open(contained_path(self.root, f"{name}/{CURRENT_FILE}", what="the promotion record"), "rb") as handle:
            data = handle.read(_CURRENT_BYTES + 1)
        match = _CURRENT_LINE.fullmatch(data.decode("ascii", errors="replace")) if len(data) <= _CURRENT_BYTES else None
        if match is None:
            raise ArtifactIntegrityError(
                f"{pointer} does not read 'v<digits> sha256:<64 hex digits>' (got {data[:80]!r}): it was edited, damaged or written "
                f"by an older payloom without the manifest checksum; nothing is loaded. Promote a version again "
                f"(ModelRegistry.promote('{name}', version)) or re-publish the model (payloom train)"
            )
        return Promotion(version=match.group(1), manifest_sha256=match.group(2))

    def current_version(self, name: str) -> str:
        return self.promotion(name).version

    def load(self, name: str, version: str | None = None) -> ModelArtifact:
        """The promoted version of `name` (or `version`), verified (module docstring) before its library is loaded."""
        check_model_name(name)
        if version is None:
            promotion: Promotion | None = self.promotion(name)
            version = promotion.version
        else:
            promotion = self._promotion_if_readable(name)
        check_version(version)
        expected = promotion.manifest_sha256 if promotion is not None and promotion.version == version else None
        directory = self.version_dir(name, version)
        if not directory.is_dir():
            raise ModelArtifactError(f"model {name!r} has no version {version!r}; versions: {', '.join(self.versions(name)) or 'none'}")
        inside = contained_path(self.root, f"{name}/versions/{version}", what="the version folder")
        return load_artifact(inside, expected_name=name, expected_version=version, expected_manifest_sha256=expected)

    def load_all(self) -> list[ModelArtifact]:
        return [self.load(name) for name in self.names()]

    def promote(self, name: str, version: str) -> None:
        """Make `version` the one `load(name)` returns. Verifies it loads before switching, and
        records its manifest's sha256 in CURRENT beside the version."""
        artifact = self.load(name, version)
        pointer = self.root / name / CURRENT_FILE
        with tempfile.NamedTemporaryFile("w", dir=pointer.parent, prefix=".CURRENT.", delete=False) as handle:
            handle.write(f"{version} sha256:{artifact.manifest_sha256}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, pointer)

    def _promotion_if_readable(self, name: str) -> Promotion | None:
        """CURRENT's record, or None when there is none or it cannot be read (an explicit version
        still loads, so a damaged CURRENT can be repaired by promoting again)."""
        try:
            return self.promotion(name)
        except ModelArtifactError:
            return None
