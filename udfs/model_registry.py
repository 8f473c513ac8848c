"""The model registry: a folder of models, each with numbered versions and one promoted version.

    <registry>/<model>/versions/v0001/   a model artifact (see `model_artifact`)
    <registry>/<model>/CURRENT           the promoted version's name, e.g. "v0002"

Versions are immutable once published. Promotion rewrites CURRENT with an atomic rename, so a
reader sees the old version or the new one, never a mix; loading verifies checksums first.

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
import tempfile
from pathlib import Path

from udfs.errors import ModelArtifactError
from udfs.model_artifact import MANIFEST_FILE, ModelArtifact, load_artifact

__all__ = ["ModelRegistry", "CURRENT_FILE"]

CURRENT_FILE = "CURRENT"


class ModelRegistry:
    """Read and promote model versions under `root`."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def names(self) -> list[str]:
        """Models that have a promoted version."""
        if not self.root.is_dir():
            return []
        return sorted(path.parent.name for path in self.root.glob(f"*/{CURRENT_FILE}"))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name / "versions"
        return sorted(path.parent.name for path in folder.glob(f"*/{MANIFEST_FILE}")) if folder.is_dir() else []

    def version_dir(self, name: str, version: str) -> Path:
        return self.root / name / "versions" / version

    def next_version(self, name: str) -> str:
        existing = [int(version[1:]) for version in self.versions(name) if version[1:].isdigit()]
        return f"v{max(existing, default=0) + 1:04d}"

    def current_version(self, name: str) -> str:
        pointer = self.root / name / CURRENT_FILE
        if not pointer.is_file():
            available = ", ".join(self.names()) or "none"
            raise ModelArtifactError(
                f"no model {name!r} in the registry at {self.root} (it has {available}); "
                "train and publish one first (payloom train)"
            )
        return pointer.read_text().strip()

    def load(self, name: str, version: str | None = None) -> ModelArtifact:
        """The promoted version of `name` (or `version`), checksums verified."""
        version = version or self.current_version(name)
        directory = self.version_dir(name, version)
        if not directory.is_dir():
            raise ModelArtifactError(f"model {name!r} has no version {version!r}; versions: {', '.join(self.versions(name)) or 'none'}")
        artifact = load_artifact(directory)
        if artifact.manifest.name != name:
            raise ModelArtifactError(f"{directory} holds model {artifact.manifest.name!r}, not {name!r}")
        return artifact

    def load_all(self) -> list[ModelArtifact]:
        return [self.load(name) for name in self.names()]

    def promote(self, name: str, version: str) -> None:
        """Make `version` the one `load(name)` returns. Verifies it loads before switching."""
        self.load(name, version)
        pointer = self.root / name / CURRENT_FILE
        with tempfile.NamedTemporaryFile("w", dir=pointer.parent, prefix=".CURRENT.", delete=False) as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, pointer)
