"""Build folders of killed publishes are removed at the next publish; a running publish's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scoring.interrupted_publishes import STALE_AFTER_SECONDS, building_prefix, is_abandoned, remove_interrupted_publishes
from scoring.model_publishing import publish_model
from tests.compiled_scoring.trusted_registry import FEATURES, small_booster
from udfs.errors import InvalidNameError

REPOSITORY = Path(__file__).resolve().parents[2]


def _killed_publish(versions: Path) -> Path:
    """A process that creates its build folder as publish_model does and is killed with SIGKILL."""
    script = (
        "import os, signal, sys, tempfile\n"
        "from scoring.interrupted_publishes import building_prefix\n"
        "folder = tempfile.mkdtemp(prefix=building_prefix('v0002'), dir=sys.argv[1])\n"
        "open(os.path.join(folder, 'model.tl'), 'wb').write(b'half')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    before = set(versions.iterdir())
    completed = subprocess.run([sys.executable, "-c", script, str(versions)], cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert completed.returncode == -signal.SIGKILL
    (folder,) = set(versions.iterdir()) - before
    return folder


def _aged(folder: Path, seconds: float) -> Path:
    moment = time.time() - seconds
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (moment, moment), follow_symlinks=False)
    return folder


def _folder(versions: Path, name: str) -> Path:
    folder = versions / name
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "forest_kernel.c").write_text("/* half written */")
    return folder


def test_only_abandoned_build_folders_are_removed(tmp_path):
    versions = tmp_path / "registry" / "decline" / "versions"
    versions.mkdir(parents=True)
    killed = _killed_publish(versions)
    running_here = _folder(versions, building_prefix("v0003") + "abc")  # this test's own pid: alive
    old_format_stale = _aged(_folder(versions, ".building-v0004-k2j3h4"), STALE_AFTER_SECONDS + 60)
    old_format_recent = _aged(_folder(versions, ".building-v0005-x9y8z7"), 600)
    other_host_recent = _folder(versions, ".building-v0006-4242@00000000-abc")
    other_host_stale = _aged(_folder(versions, ".building-v0007-4242@00000000-abc"), STALE_AFTER_SECONDS + 60)
    recently_touched = _aged(_folder(versions, ".building-v0008-q1w2e3"), STALE_AFTER_SECONDS + 60)
    (recently_touched / "src" / "forest_kernel.c").touch()  # a publish on another host still writing
    outside = _aged(_folder(tmp_path, "outside"), STALE_AFTER_SECONDS + 60)
    (versions / ".building-v0009-linked").symlink_to(outside, target_is_directory=True)
    not_a_model = _aged(_folder(tmp_path / "registry" / "Not-A-Model" / "versions", ".building-v0001-abc"), STALE_AFTER_SECONDS + 60)

    removed = remove_interrupted_publishes(tmp_path / "registry")

    assert sorted(removed) == sorted([killed, old_format_stale, other_host_stale])
    for kept in (running_here, old_format_recent, other_host_recent, recently_touched, not_a_model):
        assert (kept / "src" / "forest_kernel.c").is_file()
    assert (outside / "src" / "forest_kernel.c").is_file() and (versions / ".building-v0009-linked").is_symlink()


def test_a_live_process_keeps_its_folder_whatever_its_age(tmp_path):
    folder = _aged(_folder(tmp_path, building_prefix("v0001") + "live"), 10 * STALE_AFTER_SECONDS)
    assert not is_abandoned(folder)


def test_the_next_publish_removes_the_leftovers_of_killed_publishes(tmp_path):
    registry = tmp_path / "registry"
    publish_model(registry, "decline", small_booster(), FEATURES)
    leftovers = [_killed_publish(registry / "decline" / "versions") for _ in range(3)]
    other_model = registry / "routing" / "versions"
    other_model.mkdir(parents=True)
    leftovers.append(_killed_publish(other_model))
    artifact = publish_model(registry, "decline", small_booster(), FEATURES)
    assert artifact.manifest.version == "v0002"
    assert not any(folder.exists() for folder in leftovers)
    assert sorted(path.name for path in (registry / "decline" / "versions").iterdir()) == ["v0001", "v0002"]


@pytest.mark.parametrize("name", ["../../x", "x/../../y"])
def test_a_bad_name_never_reaches_the_cleanup_or_the_disk(tmp_path, name):
    with pytest.raises(InvalidNameError, match="is not allowed"):
        publish_model(tmp_path / "registry", name, small_booster(), FEATURES)
    assert not (tmp_path / "x").exists() and not (tmp_path / "registry").exists()
