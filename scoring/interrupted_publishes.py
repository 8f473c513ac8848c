"""Name the folder a publish builds a version in, and remove the folders of publishes that died.

`publish_model` assembles a version in `<registry>/<model>/versions/.building-<version>-<owner>-<random>`
and renames it into place when it is complete; a publish that is killed (SIGKILL, a power cut)
leaves its folder behind. `<owner>` is `<pid>@<host>`, the publishing process and a short hash of
its host name, so the next publish (into any model of the registry) removes a leftover when:

- it was made on this host and its process is gone (`os.kill(pid, 0)` fails with "no such
  process"): the publish can no longer finish; or
- its owner cannot be checked from here (another host sharing the registry, or a folder
  from before owners were recorded) and nothing in it changed for `STALE_AFTER_SECONDS`
  (6 hours; a publish compiles for seconds to minutes).

A folder of a publish still running is never removed: on this host its pid is alive; on another
host it changes far more often than every 6 hours. A reused pid only keeps a leftover longer.

>>> import os, tempfile
>>> from pathlib import Path
>>> prefix = building_prefix("v0003")
>>> prefix.startswith(f".building-v0003-{os.getpid()}@")
True
>>> folder = Path(tempfile.mkdtemp(prefix=prefix))
>>> is_abandoned(folder, now=folder.stat().st_mtime)   # this process is alive
False
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
from pathlib import Path

from udfs.identifiers import MODEL_NAME_PATTERN
from udfs.model_registry import ModelRegistry

__all__ = ["BUILDING_PREFIX", "STALE_AFTER_SECONDS", "building_prefix", "is_abandoned", "remove_interrupted_publishes"]

BUILDING_PREFIX = ".building-"
STALE_AFTER_SECONDS = 6 * 3600
_OWNED = re.compile(r"\.building-v[0-9]+-(?P<pid>[0-9]+)@(?P<host>[0-9a-f]{8})-")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def building_prefix(version: str) -> str:
    """The name prefix of this process's build folder for `version` (`tempfile.mkdtemp` adds a random part)."""
    return f"{BUILDING_PREFIX}{version}-{os.getpid()}@{_host_tag()}-"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _last_change(folder: Path) -> float:
    latest = folder.lstat().st_mtime
    for path in folder.rglob("*"):
        try:
            latest = max(latest, path.lstat().st_mtime)
        except FileNotFoundError:  # removed while we looked
            continue
    return latest


def is_abandoned(folder: Path, *, now: float | None = None, stale_after: float = STALE_AFTER_SECONDS) -> bool:
    """Whether the build folder `folder` belongs to a publish that can no longer finish (module docstring)."""
    owner = _OWNED.match(folder.name)
    if owner is not None and owner.group("host") == _host_tag():
        return not _process_alive(int(owner.group("pid")))
    now = time.time() if now is None else now
    return now - _last_change(folder) > stale_after


def remove_interrupted_publishes(registry: ModelRegistry | Path | str, *, now: float | None = None,
                                 stale_after: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the abandoned build folders of every model in `registry`; the folders removed.

    Only real folders named `.building-*` directly under `<model>/versions/` of a valid model
    name are considered; a symbolic link (to the folder, `versions` or the model) is never
    followed or removed, so nothing outside the registry is touched.
    """
    registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)
    if not registry.root.is_dir():
        return []
    model_name = re.compile(MODEL_NAME_PATTERN)
    removed = []
    for folder in sorted(registry.root.glob(f"*/versions/{BUILDING_PREFIX}*")):
        versions, model = folder.parent, folder.parent.parent
        if not model_name.fullmatch(model.name) or any(path.is_symlink() for path in (folder, versions, model)) or not folder.is_dir():
            continue
        try:
            abandoned = is_abandoned(folder, now=now, stale_after=stale_after)
        except FileNotFoundError:  # its publish finished (renamed it) or another cleaner removed it
            continue
        if abandoned:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
