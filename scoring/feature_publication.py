"""Make the feature files of a build visible together: build into a new folder, then switch.

`<workspace>/features` is a symbolic link to one folder of `<workspace>/.feature_builds/`. A
build writes its feature tables into a new folder there (`stage_feature_build`), which starts
with hard links to the current files, so a build of some feature models keeps the others.
When dbt has succeeded, `publish_feature_build` points the warehouse's feature views at the
stable path `<workspace>/features/<model>.parquet` and swaps the link in one `rename`; then
it deletes the older folders. Readers (Feast, training sets, users' `read_parquet`) see either
every file of the previous build or every file of the new one, never a mix. A failed or
killed build leaves the link where it was; `stage_feature_build` removes what such a build left.

Hard links are safe here because nothing rewrites a feature file in place: DuckDB's COPY and
the Spark export both write a new file and rename it over the old name (a new inode). Small
JSON files (point-in-time index manifests, rewritten in place) are copied instead.

>>> import tempfile, pathlib
>>> workspace = Workspace.at(tempfile.mkdtemp())
>>> staged = stage_feature_build(workspace)
>>> _ = (staged / "card_features.parquet").write_bytes(b"new build")
>>> publish_feature_build(workspace, staged)
>>> workspace.features_dir.is_symlink(), (workspace.features_dir / "card_features.parquet").read_bytes()
(True, b'new build')
>>> second = stage_feature_build(workspace)
>>> (second / "card_features.parquet").read_bytes()   # carried over until rebuilt
b'new build'
>>> discard_feature_build(workspace, second)
>>> sorted(path.name for path in (workspace.root / BUILDS_FOLDER).iterdir()) == [staged.name]
True
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import duckdb

from scoring.errors import PipelineError
from scoring.warehouse_lock import connect_warehouse
from scoring.workspace import Workspace

__all__ = ["BUILDS_FOLDER", "stage_feature_build", "publish_feature_build", "discard_feature_build", "remove_feature_builds"]

BUILDS_FOLDER = ".feature_builds"
"""Under the workspace root: one folder per feature build (the published one and, during a
build, the one being written)."""
_INITIAL_BUILD = "initial"


def _builds_dir(workspace: Workspace) -> Path:
    return workspace.root / BUILDS_FOLDER


def _published(workspace: Workspace) -> Path | None:
    """The folder `features` points at, after turning a plain `features` folder into a link."""
    link = workspace.features_dir
    if link.is_symlink():
        target = Path(os.readlink(link))
        target = target if target.is_absolute() else link.parent / target
        return target if target.is_dir() else None
    if not link.exists():
        return None
    if not link.is_dir():
        raise PipelineError(f"{link} is a file: remove it (payloom keeps the workspace's feature tables in that folder)")
    # A workspace from before feature builds were staged: its folder becomes the first build.
    initial = _builds_dir(workspace) / _INITIAL_BUILD
    _builds_dir(workspace).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(initial, ignore_errors=True)
    os.rename(link, initial)
    _point_link(link, initial)
    return initial


def _point_link(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename (readers never find the link missing)."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), temporary)
    os.replace(temporary, link)


def _carry_over(source: Path, destination: Path) -> None:
    for entry in source.iterdir():
        target = destination / entry.name
        if entry.is_dir() and not entry.is_symlink():
            target.mkdir()
            _carry_over(entry, target)
        elif entry.suffix == ".json":
            shutil.copy2(entry, target)
        else:
            try:
                os.link(entry, target)
            except OSError:  # another file system, or links not allowed: copy
                shutil.copy2(entry, target)


def _owner_alive(folder: Path) -> bool:
    """Whether the process that staged `folder` (its name ends in -<pid>) still runs."""
    match = re.search(r"-(\d+)$", folder.name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stage_feature_build(workspace: Workspace) -> Path:
    """A new folder for a build's feature tables, holding (links to) the current ones.

    Folders left by builds whose process is gone (killed, crashed) are removed first, and the
    warehouse views that such a build pointed at its folder are pointed back at `features/`.
    """
    published = _published(workspace)
    builds = _builds_dir(workspace)
    builds.mkdir(parents=True, exist_ok=True)
    abandoned = [folder for folder in builds.iterdir()
                 if folder.is_dir() and folder != published and not _owner_alive(folder)]
    if abandoned and workspace.warehouse.exists():
        with connect_warehouse(workspace) as connection:
            _repoint_feature_views(connection, builds, workspace.features_dir)
    for folder in abandoned:
        shutil.rmtree(folder, ignore_errors=True)
    staged = builds / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.monotonic_ns() % 1_000_000:06d}-{os.getpid()}"
    staged.mkdir()
    if published is not None:
        _carry_over(published, staged)
    return staged


def _repoint_feature_views(connection: duckdb.DuckDBPyConnection, build_folder: Path, features_dir: Path) -> int:
    """Rewrite every view that reads a file under `build_folder` (or one of its subfolders when
    it is the builds folder) to read the same file under `features_dir`. Returns how many."""
    folder = re.escape(str(build_folder))
    pattern = re.compile(folder + (r"/[^/']+" if build_folder.name == BUILDS_FOLDER else ""))
    views = connection.execute(
        "select database_name, schema_name, view_name, sql from duckdb_views() where not internal and contains(sql, ?)",
        [str(build_folder)],
    ).fetchall()
    for database, schema, view, sql in views:
        statement = pattern.sub(lambda _: str(features_dir), sql)
        if not statement.upper().startswith("CREATE VIEW "):
            raise PipelineError(f"view {schema}.{view} has unexpected SQL; rebuild the workspace with `payloom build --full-refresh`")
        connection.execute(f"use {_quoted(database)}.{_quoted(schema)}")
        try:
            connection.execute("CREATE OR REPLACE VIEW " + statement[len("CREATE VIEW "):])
        except duckdb.IOException:
            # Its table exists only in the discarded build (a model that never built before):
            # drop the view; the next build creates both again.
            connection.execute(f"drop view {_quoted(view)}")
    return len(views)


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def publish_feature_build(workspace: Workspace, staged: Path, *, repoint_views: bool = True) -> None:
    """Make `staged` the workspace's feature tables: the link, then the views, then cleanup.

    The warehouse is opened before the link moves, so no one can read its views between the
    switch and their repointing (DuckDB checks a view's files when it is created).
    """
    previous = _published(workspace)
    if repoint_views and workspace.warehouse.exists():
        with connect_warehouse(workspace) as connection:
            _point_link(workspace.features_dir, staged)
            _repoint_feature_views(connection, staged, workspace.features_dir)
    else:
        _point_link(workspace.features_dir, staged)
    if previous is not None and previous != staged:
        shutil.rmtree(previous, ignore_errors=True)


def discard_feature_build(workspace: Workspace, staged: Path, *, repoint_views: bool = True) -> None:
    """Drop a failed build's folder; the published tables stay as they were."""
    if repoint_views and workspace.warehouse.exists():
        try:
            with connect_warehouse(workspace) as connection:
                _repoint_feature_views(connection, staged, workspace.features_dir)
        except PipelineError:
            pass  # the warehouse is held elsewhere: the next build repoints what this one left
    shutil.rmtree(staged, ignore_errors=True)


def remove_feature_builds(workspace: Workspace) -> None:
    """Delete the workspace's feature tables and every build folder (the main job starts afresh)."""
    link = workspace.features_dir
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    shutil.rmtree(_builds_dir(workspace), ignore_errors=True)
