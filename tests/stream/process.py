"""`cdp stream` as a child process on 127.0.0.1, as a user starts it: for the process tests and
the stream benchmarks. Started with its own output file, stopped by its id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


class StreamProcess:
    """`cdp stream --port PORT` over `duckdb_path`, landing into `raw_dir`.

    `extra_args` are appended to the command line (e.g. `--flush-seconds 0.2`); `environment`
    is added to this process's environment (the write key, the landing format).
    """

    def __init__(
        self,
        *,
        port: int,
        raw_dir: Path,
        duckdb_path: Path,
        stream_dir: Path,
        output: Path,
        environment: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.output_path = output
        raw_dir.mkdir(parents=True, exist_ok=True)
        self._output = output.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cdp.cli",
                "stream",
                "--port",
                str(port),
                "--raw-dir",
                str(raw_dir),
                "--duckdb-path",
                str(duckdb_path),
                "--stream-dir",
                str(stream_dir),
                *extra_args,
            ],
            cwd=ROOT,
            env={**os.environ, **(environment or {})},
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def healthy(self) -> bool:
        return healthy(self.url)

    def wait_until_healthy(self, seconds: float = 60) -> StreamProcess:
        """Wait for GET /health to answer 200; a process that exits or never answers is killed
        and raises RuntimeError with its output."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"cdp stream exited with {self.process.returncode}:\n{self.output()}"
                )
            if self.healthy():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"cdp stream did not answer within {seconds:.0f} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: nothing is flushed or closed."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._output.close()

    def terminate(self, seconds: float = 60) -> int:
        """SIGTERM, then the exit code once it has stopped cleanly."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        code = self.process.wait(timeout=seconds)
        self._output.close()
        return code


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether the collector at `url` answers GET /health with 200."""
    try:
        return requests.get(f"{url}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def wait_for(condition, seconds: float = 30, interval: float = 0.05) -> bool:
    """Poll `condition()` until it holds or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
