"""Run dbt (the real CLI, in a subprocess) against a workspace.

dbt runs in a process group of its own and is tied to payloom's life: it receives SIGKILL when
the payloom process dies, however it dies (Linux `PR_SET_PDEATHSIG`; `kill -9` included), and
payloom stops the whole group when it is interrupted (Ctrl-C, SIGTERM). A dbt left running
would hold the warehouse's lock and fail the next build.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from scoring.errors import PipelineError
from scoring.warehouse_lock import warehouse_lock_error
from scoring.workspace import DBT_PROJECT_DIR, Workspace

__all__ = ["run_dbt", "dbt_executable"]

_PR_SET_PDEATHSIG = 1


def dbt_executable() -> str:
    """The `dbt` installed beside this Python (the venv's), else the one on PATH."""
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if dbt is None:
        raise PipelineError("the dbt executable was not found next to this Python: run `make setup` (pip install -e .)")
    return dbt


def _dies_with(parent_pid: int) -> Callable[[], None]:
    """A preexec function: the child gets SIGKILL when `parent_pid` ends (Linux), even by `kill -9`."""

    def tie() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the tie was made
            os._exit(1)

    return tie


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM dbt's process group, then SIGKILL what is left after 10 s."""
    for signal_number, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_dbt(
    workspace: Workspace,
    arguments: Sequence[str],
    *,
    variables: Mapping[str, object] | None = None,
    features_dir: Path | None = None,
    echo: TextIO | None = sys.stderr,
) -> str:
    """Run `dbt <arguments>` for the payloom project in `workspace` and return its output.

    Output lines are echoed to `echo` as they come (progress on long builds); pass None to stay
    quiet. `features_dir` is where feature models write their Parquet (default: the workspace's
    `features/`). A failing dbt raises PipelineError with the failing lines, or
    `WarehouseLockedError` naming the process that holds the warehouse.
    """
    dbt = dbt_executable()
    (features_dir or workspace.features_dir).mkdir(parents=True, exist_ok=True)
    command = [dbt, *arguments, "--project-dir", str(DBT_PROJECT_DIR)]
    if variables:
        command += ["--vars", json.dumps(dict(variables), default=str)]
    process = subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=workspace.dbt_environment(features_dir=features_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_dies_with(os.getpid()),
    )
    lines: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            lines.append(line)
            if echo is not None:
                echo.write(line)
                echo.flush()
        process.wait()
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C, SIGTERM, an exception while echoing)
            _stop_group(process)
    if process.returncode != 0:
        output = "".join(lines)
        locked = warehouse_lock_error(output)
        if locked is not None:
            raise locked
        marker = output.rfind("Completed with")
        detail = output[marker:] if marker >= 0 else "".join(lines[-40:])
        raise PipelineError(f"dbt {' '.join(arguments)} failed (exit {process.returncode}):\n{detail}")
    return "".join(lines)
