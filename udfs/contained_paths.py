"""Resolve a path named by a manifest or a registry file strictly inside a trusted folder.

A manifest lists its files by relative path and a registry's `CURRENT` names a version folder;
either could name `../../elsewhere`, an absolute path, or a symbolic link that points out of the
folder. `contained_path` resolves the path (following links) and refuses it unless the result
is still inside the folder, so nothing outside a version directory is hashed or loaded.

>>> import tempfile
>>> from pathlib import Path
>>> base = Path(tempfile.mkdtemp())
>>> (base / "src").mkdir()
>>> contained_path(base, "src/kernel.c", what="a manifest file").name
'kernel.c'
>>> contained_path(base, "../x", what="a manifest file")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
udfs.errors.ArtifactIntegrityError: a manifest file '../x' is not a plain relative path inside ...: expected a path like 'src/kernel.c' with no '..', no leading '/'; the artifact will not be loaded. Re-publish the model
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from udfs.errors import ArtifactIntegrityError

__all__ = ["contained_path"]


def contained_path(base: Path, relative: str, *, what: str) -> Path:
    """`base / relative`, resolved, if it stays inside `base` (links followed); ArtifactIntegrityError if not."""
    pure = PurePosixPath(relative) if isinstance(relative, str) else None
    if (
        pure is None or not relative or "\\" in relative or "\x00" in relative or pure.is_absolute()
        or any(part in ("..", ".", "") for part in relative.split("/"))
    ):
        raise ArtifactIntegrityError(
            f"{what} {relative!r} is not a plain relative path inside {base}: expected a path like 'src/kernel.c' with "
            "no '..', no leading '/'; the artifact will not be loaded. Re-publish the model"
        )
    root = Path(base).resolve()
    resolved = (root / pure).resolve()
    if not resolved.is_relative_to(root):
        raise ArtifactIntegrityError(
            f"{what} {relative!r} in {base} resolves to {resolved}, outside that folder (a symbolic link leads out of it); "
            "the artifact will not be loaded. Remove the link and re-publish the model"
        )
    return resolved
