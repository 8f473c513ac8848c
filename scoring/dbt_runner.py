"""Run dbt (the real CLI, in a subprocess) against a workspace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from scoring.errors import PipelineError
from scoring.workspace import DBT_PROJECT_DIR, Workspace

__all__ = ["run_dbt"]


def run_dbt(
    workspace: Workspace,
    arguments: Sequence[str],
    *,
    variables: Mapping[str, object] | None = None,
    echo: TextIO | None = sys.stderr,
) -> str:
    """Run `dbt <arguments>` for the payloom project in `workspace` and return its output.

    Output lines are echoed to `echo` as they come (progress on long builds); pass None to stay
    quiet. A failing dbt raises PipelineError with the failing lines.
    """
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if dbt is None:
        raise PipelineError("the dbt executable was not found next to this Python: run `make setup` (pip install -e .)")
    workspace.features_dir.mkdir(parents=True, exist_ok=True)
    command = [dbt, *arguments, "--project-dir", str(DBT_PROJECT_DIR)]
    if variables:
        command += ["--vars", json.dumps(dict(variables), default=str)]
    process = subprocess.Popen(
        command,
        cwd=DBT_PROJECT_DIR,
        env=workspace.dbt_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()
    if process.wait() != 0:
        output = "".join(lines)
        marker = output.rfind("Completed with")
        detail = output[marker:] if marker >= 0 else "".join(lines[-40:])
        raise PipelineError(f"dbt {' '.join(arguments)} failed (exit {process.returncode}):\n{detail}")
    return "".join(lines)
