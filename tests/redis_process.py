"""A real `redis-server` subprocess for the tests that need Redis (started on a free port, no persistence)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A `redis-server` subprocess on 127.0.0.1:`port`, without persistence; stop and start again."""

    def __init__(self, executable: str, directory: Path, port: int, *extra: str) -> None:
        self.executable, self.directory, self.port, self.extra = executable, directory, port, extra
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.directory / "redis.log"
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(log), *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2, retry=None)
        deadline = time.monotonic() + 10
        try:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"redis-server exited with {self.process.returncode} on port {self.port}: "
                        f"{self.process.stderr.read()} {log.read_text() if log.exists() else ''}",
                        pytrace=False,
                    )
                try:
                    client.ping()
                    return
                except redis.exceptions.AuthenticationError:
                    return  # answers, and wants a password (--requirepass)
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"redis-server on port {self.port} did not answer PING within 10 s", pytrace=False)
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def redis_executable() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not on PATH: run `make redis` (installs Debian's redis-server package), then rerun",
            pytrace=False,
        )
    return executable
