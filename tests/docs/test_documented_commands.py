"""Every command of README.md and docs/*.md, run as a user runs it, in document order.

The commands run in a folder laid out like a checkout after `make setup` (`.venv`, `dbt_project/`,
`feature_repo/`, `profiles.yml`) whose workspace `build/` comes from the README's main command,
`payloom run`, at 10,000 attempts. Shell blocks run in bash (`set -euo pipefail`), SQL blocks in
DuckDB, Python blocks in the venv's interpreter, each as its own process. `payloom serve` runs as
the CLI starts it, on a free port that replaces 8080 in the commands; `curl` calls it. A block
that fails is reported with its document and line and its output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from documented_blocks import CHECKOUT, DOCUMENTS, DocBlock, inline_commands, runnable_blocks

pytestmark = [pytest.mark.xdist_group("documented_commands"), pytest.mark.slow]

VENV = Path(sys.prefix)
TOKEN = "s3cret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sandbox:
    """A checkout-like folder with a built workspace, and the service when a block needs it."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.service: subprocess.Popen | None = None

    @property
    def substitutions(self) -> dict[str, str]:
        return {"127.0.0.1:8080": f"127.0.0.1:{self.port}", "--port 8080": f"--port {self.port}"}

    def environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("PAYLOOM_", "PYTEST_"))}
        # A user's shell has no venv on PATH unless they activated it; the docs say `.venv/bin/...`.
        environment["PATH"] = os.pathsep.join(part for part in environment.get("PATH", "").split(os.pathsep)
                                              if Path(part).resolve() != (VENV / "bin").resolve())
        return environment

    def start_service(self, command: str) -> subprocess.Popen:
        # `exec env`: the service is the process SIGTERM reaches, with the command's VAR=value prefix applied.
        process = subprocess.Popen(["bash", "-c", f"exec env {command}"], cwd=self.root, env=self.environment(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"`{command}` exited with {process.returncode} before answering:\n{process.stdout.read()[-4000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return process
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        process.kill()
        raise AssertionError(f"`{command}` did not answer /healthz within 180 s")

    def stop_service(self, process: subprocess.Popen) -> str:
        """SIGTERM the service (as a process manager does) and return its output; it must exit cleanly."""
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            raise AssertionError(f"the service did not stop within 60 s of SIGTERM:\n{output[-4000:]}")
        # uvicorn re-raises SIGTERM after its shutdown, so a clean stop ends by that signal (143 in a shell).
        assert process.returncode in (0, -signal.SIGTERM), f"the service exited with {process.returncode} on SIGTERM:\n{output[-4000:]}"
        assert "decision spool closed" in output, f"the service stopped without flushing its spool:\n{output[-4000:]}"
        return output


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Sandbox:
    root = tmp_path_factory.mktemp("documented_commands")
    (root / ".venv").symlink_to(VENV)
    for name in ("dbt_project", "feature_repo", "profiles.yml"):
        (root / name).symlink_to(CHECKOUT / name)
    sandbox = Sandbox(root)
    result = subprocess.run([str(root / ".venv" / "bin" / "payloom"), "run", "--workspace", "build", "--attempts", "10000",
                             "--candidates", "1", "--quiet"],
                            cwd=root, env=sandbox.environment(), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"payloom run failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return sandbox


def _run_process(command: list[str], sandbox: Sandbox, block: DocBlock, *, stdin: str | None = None) -> str:
    result = subprocess.run(command, cwd=sandbox.root, env=sandbox.environment(), input=stdin, capture_output=True,
                            text=True, timeout=1500)
    if result.returncode != 0:
        raise AssertionError(f"{block.name} failed (exit {result.returncode}):\n{stdin or ''}\n--- stdout\n"
                             f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}")
    return result.stdout


def _run_bash(text: str, sandbox: Sandbox, block: DocBlock) -> None:
    lines = text.splitlines()
    serve_lines = [number for number, line in enumerate(lines) if "payloom serve" in line and not line.lstrip().startswith("#")]
    if not serve_lines:
        _run_process(["bash", "-euo", "pipefail", "-c", text], sandbox, block)
        return
    # The service runs until stopped: start it as the CLI does, run the rest against it, stop it.
    (at,) = serve_lines
    before, serve, after = "\n".join(lines[:at]), lines[at], "\n".join(lines[at + 1:])
    if before.strip():
        _run_process(["bash", "-euo", "pipefail", "-c", before], sandbox, block)
    service = sandbox.start_service(serve)
    try:
        _run_process(["bash", "-euo", "pipefail", "-c", after], sandbox, block)
    finally:
        sandbox.stop_service(service)


def _run_sql(text: str, sandbox: Sandbox, block: DocBlock) -> None:
    first = text.splitlines()[0]
    assert first.startswith("-- duckdb "), f"{block.name}: a SQL block starts with `-- duckdb <database file>` (the shell it runs in)"
    database = first.split(maxsplit=2)[2].strip()
    script = (
        "import sys, duckdb\n"
        f"connection = duckdb.connect({database!r}, read_only=True)\n"
        "for statement in [s for s in sys.stdin.read().split(';') if s.strip() and not all(l.strip().startswith('--') for l in s.strip().splitlines())]:\n"
        "    connection.sql(statement).show()\n"
    )
    _run_process([str(sandbox.root / ".venv" / "bin" / "python"), "-c", script], sandbox, block, stdin=text)


def _run_python(text: str, sandbox: Sandbox, block: DocBlock) -> None:
    _run_process([str(sandbox.root / ".venv" / "bin" / "python"), "-"], sandbox, block, stdin=text)


BLOCKS = runnable_blocks()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_documented_block_runs(block: DocBlock, sandbox: Sandbox) -> None:
    if block.not_run_reason is not None:
        assert len(block.not_run_reason) > 20, f"{block.name}: say why it cannot run in CI"
        return
    text = block.command_text(sandbox.substitutions)
    service = sandbox.start_service(f".venv/bin/payloom serve --workspace build --port {sandbox.port} --token {TOKEN}") \
        if block.needs_service else None
    try:
        {"bash": _run_bash, "sql": _run_sql, "python": _run_python}[block.language](text, sandbox, block)
    finally:
        if service is not None:
            sandbox.stop_service(service)


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(document.relative_to(CHECKOUT)) for document in DOCUMENTS])
def test_inline_commands_are_in_runnable_blocks(document: Path) -> None:
    """A whole command written inline in prose must also stand in a block that CI runs."""
    run_text = "\n".join(block.text for block in BLOCKS if block.not_run_reason is None)
    missing = [f"{document.name}:{line}: {command}" for line, command in inline_commands(document) if command not in run_text]
    assert not missing, "commands only in prose (put each in a ```bash block, or say why not): \n" + "\n".join(missing)
