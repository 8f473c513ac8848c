"""`pip install .` into a fresh virtual environment, then `payloom run` from another folder.

The wheel must carry everything the main job reads besides the code: the dbt project, the Feast
repo and the dbt profiles (setup.py bundles them as `scoring/project_files/`). The run happens
in a folder that holds no checkout, with a minimal environment (no PATH to this venv), so only
the installed package can be found.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent


def _run(command: list[str], *, cwd: Path, timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_main_job_from_another_folder(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(CHECKOUT), "-w", str(wheels)], cwd=tmp_path, timeout=300)
    (wheel,) = wheels.glob("payloom-*.whl")
    venv = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, timeout=120)
    _run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(wheel)], cwd=tmp_path, timeout=900)
    _run([str(venv / "bin" / "pip"), "check"], cwd=tmp_path, timeout=120)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    located = _run([str(venv / "bin" / "python"), "-c", "import scoring.workspace as w; print(w.DBT_PROJECT_DIR)"],
                   cwd=elsewhere, timeout=120, env=environment)
    assert located.stdout.strip() == str(venv / "lib" / "python3.11" / "site-packages" / "scoring" / "project_files" / "dbt_project")

    result = _run([str(venv / "bin" / "payloom"), "run", "--workspace", "ws", "--attempts", "10000", "--candidates", "1", "--quiet"],
                  cwd=elsewhere, timeout=1200, env=environment)
    assert "fct_authorizations" in result.stdout and "issuer_decline" in result.stdout
    workspace = elsewhere / "ws"
    assert (workspace / "features" / "card_features.parquet").is_file()
    assert any((workspace / "models" / "issuer_decline" / "versions").glob("v*/model.so"))
    # dbt's compiled files and logs stay in the workspace, never inside the installed package.
    assert (workspace / "dbt" / "target" / "manifest.json").is_file()
    assert not (venv / "lib" / "python3.11" / "site-packages" / "scoring" / "project_files" / "dbt_project" / "target").exists()
