"""The seal of a model manifest: its sha256 (and optionally an HMAC), checked before it is parsed.

The manifest lists the sha256 of every other file of a version, so sealing the manifest seals
the version. `publish_model` writes, beside `manifest.json`:

    manifest.sha256   "<sha256 of manifest.json>  manifest.json" (the format of `sha256sum -c`)
    manifest.hmac     "<HMAC-SHA256 of manifest.json>  manifest.json", only when the environment
                      variable PAYLOOM_MODEL_SIGNING_KEY holds a key at publish time

and `ModelRegistry.promote` records the same sha256 in the model's `CURRENT` file, a second
copy outside the version folder. Loading reads at most `MAX_MANIFEST_BYTES` of the manifest and
compares its sha256 with the sidecar (and with `CURRENT` for the promoted version), and its HMAC
when PAYLOOM_MODEL_SIGNING_KEY is set, before a byte of it is parsed. What this does and does
not protect against: docs/models.md, "Trust".

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> data = b'{"name": "toy"}'
>>> (folder / MANIFEST_FILE).write_bytes(data)
15
>>> seal_manifest(folder, data, signing_key=None) == manifest_digest(data)
True
>>> verify_manifest(folder, read_manifest_bytes(folder), signing_key=None) == manifest_digest(data)
True
>>> (folder / MANIFEST_FILE).write_bytes(b'{"name": "evil"}')
16
>>> verify_manifest(folder, read_manifest_bytes(folder), signing_key=None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
udfs.errors.ArtifactIntegrityError: .../manifest.json fails its seal: sha256 ..., manifest.sha256 says ...: the manifest was edited or copied incompletely since it was published; it will not be loaded. Re-publish the model
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

from udfs.contained_paths import contained_path
from udfs.errors import ArtifactIntegrityError, ModelArtifactError

__all__ = [
    "MANIFEST_FILE", "MANIFEST_SEAL_FILE", "MANIFEST_SIGNATURE_FILE", "SIGNING_KEY_VARIABLE", "MAX_MANIFEST_BYTES",
    "manifest_digest", "read_manifest_bytes", "seal_manifest", "signing_key_from_environment", "verify_manifest",
]

MANIFEST_FILE = "manifest.json"
MANIFEST_SEAL_FILE = "manifest.sha256"
MANIFEST_SIGNATURE_FILE = "manifest.hmac"
SIGNING_KEY_VARIABLE = "PAYLOOM_MODEL_SIGNING_KEY"
MAX_MANIFEST_BYTES = 4 << 20
"""A published manifest is a few kB (its largest part, a decision policy, is tens of kB)."""

_SEAL_LINE = re.compile(r"([0-9a-f]{64})  " + re.escape(MANIFEST_FILE) + r"\n?")
_SEAL_BYTES = 256


def manifest_digest(data: bytes) -> str:
    """The sha256 (hex) of a manifest's bytes."""
    return hashlib.sha256(data).hexdigest()


def signing_key_from_environment() -> bytes | None:
    """The HMAC key from PAYLOOM_MODEL_SIGNING_KEY (UTF-8), or None when it is unset or empty."""
    key = os.environ.get(SIGNING_KEY_VARIABLE, "")
    return key.encode() if key else None


def _signature(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _read_small(path: Path, limit: int, what: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ModelArtifactError(f"{path} is larger than {limit:,} bytes, too large for {what}; re-publish the model")
    return data


def read_manifest_bytes(directory: Path) -> bytes:
    """The bytes of `directory`'s manifest: a file inside the folder, at most MAX_MANIFEST_BYTES."""
    path = contained_path(directory, MANIFEST_FILE, what="the manifest")
    if not path.is_file():
        raise ModelArtifactError(f"{directory} is not a model artifact: {MANIFEST_FILE} is missing")
    return _read_small(path, MAX_MANIFEST_BYTES, "a model manifest")


def seal_manifest(directory: Path, data: bytes, *, signing_key: bytes | None) -> str:
    """Write `directory`'s manifest.sha256 (and manifest.hmac when a key is given) for `data`; its sha256."""
    digest = manifest_digest(data)
    (Path(directory) / MANIFEST_SEAL_FILE).write_text(f"{digest}  {MANIFEST_FILE}\n")
    if signing_key:
        (Path(directory) / MANIFEST_SIGNATURE_FILE).write_text(f"{_signature(data, signing_key)}  {MANIFEST_FILE}\n")
    return digest


def _recorded(directory: Path, name: str, missing: str) -> str:
    path = contained_path(directory, name, what=f"the manifest's {name}")
    if not path.is_file():
        raise ArtifactIntegrityError(f"{directory} has no {name}: {missing}")
    match = _SEAL_LINE.fullmatch(_read_small(path, _SEAL_BYTES, name).decode("ascii", errors="replace"))
    if match is None:
        raise ArtifactIntegrityError(f"{path} is not '<64 hex digits>  {MANIFEST_FILE}'; the seal was damaged. Re-publish the model")
    return match.group(1)


def verify_manifest(directory: Path, data: bytes, *, expected_sha256: str | None = None, signing_key: bytes | None) -> str:
    """Check `data` (the manifest's bytes) against its sidecar seal, `expected_sha256` (what
    `CURRENT` recorded at promotion) and, with a key, its HMAC; returns its sha256."""
    directory = Path(directory)
    digest = manifest_digest(data)
    sealed = _recorded(
        directory, MANIFEST_SEAL_FILE,
        "the version was published by an older payloom or the seal was deleted; it will not be loaded. Re-publish the model",
    )
    where = directory / MANIFEST_FILE
    if not hmac.compare_digest(digest, sealed):
        raise ArtifactIntegrityError(
            f"{where} fails its seal: sha256 {digest[:12]}..., {MANIFEST_SEAL_FILE} says {sealed[:12]}...: the manifest was edited "
            "or copied incompletely since it was published; it will not be loaded. Re-publish the model"
        )
    if expected_sha256 is not None and not hmac.compare_digest(digest, expected_sha256):
        raise ArtifactIntegrityError(
            f"{where} is not the manifest that was promoted: sha256 {digest[:12]}..., CURRENT says {expected_sha256[:12]}...: "
            "the version was changed after its promotion; it will not be loaded. Re-publish and promote the model"
        )
    if signing_key:
        signed = _recorded(
            directory, MANIFEST_SIGNATURE_FILE,
            f"{SIGNING_KEY_VARIABLE} is set, so only signed versions load; re-publish the model with the key set",
        )
        if not hmac.compare_digest(_signature(data, signing_key), signed):
            raise ArtifactIntegrityError(
                f"{where} fails its signature ({MANIFEST_SIGNATURE_FILE}) under the key in {SIGNING_KEY_VARIABLE}: it was signed "
                "with another key or changed since; it will not be loaded. Re-publish the model with this key"
            )
    return digest
