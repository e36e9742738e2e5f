"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, one server.

The server listens on 127.0.0.1 on a free port (and on a unix socket in its own directory, never
the system's), with a random password, and is stopped by its pid. PostgreSQL refuses to run as
root, so when the tests run as root the cluster belongs to an unprivileged user (`nobody` unless
CDP_TEST_POSTGRES_USER names another) and its commands run as that user.

The server binaries are looked up in CDP_POSTGRES_BIN_DIR, then in /usr/lib/postgresql/<version>
/bin (Debian's layout, newest version first), then on PATH. `make postgres-setup` installs them
where they are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
SUPERUSER = "cdp"


def postgres_bin_dir() -> Path | None:
    """The directory holding initdb and postgres, or None when the server is not installed."""
    configured = os.environ.get("CDP_POSTGRES_BIN_DIR")
    candidates = [Path(configured)] if configured else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [path for path in debian.iterdir() if path.name.isdigit()]
        candidates += [
            path / "bin" for path in sorted(versions, key=lambda p: int(p.name), reverse=True)
        ]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    return None


@dataclass
class PostgresCluster:
    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=5,
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'create database "{name}"')
        finally:
            connection.close()

    @property
    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _os_user() -> pwd.struct_passwd | None:
    """The unprivileged user the cluster runs as when the tests are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(os.environ.get("CDP_TEST_POSTGRES_USER", "nobody"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_user(owner: pwd.struct_passwd | None) -> dict:
    if owner is None:
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_cluster(bin_dir: Path) -> Iterator[PostgresCluster]:
    """initdb a cluster in a new temporary directory, start it, yield it; stop it and remove it."""
    owner = _os_user()
    # Not under pytest's own temporary directory: that one is private to the test user, and the
    # cluster's owner must be able to reach its files.
    root = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
    process: subprocess.Popen | None = None
    try:
        password = secrets.token_hex(16)
        (root / "pwfile").write_text(password + "\n")
        if owner is not None:
            for path in (root, root / "pwfile"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        environment = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"}
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(root / "data"),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(root / "pwfile"),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            **_as_user(owner),
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
        # A free port can be taken between the probe and the server's bind: try a few.
        for _attempt in range(5):
            port = _free_port()
            with open(root / "postgres.log", "ab") as log:
                process = subprocess.Popen(
                    [
                        str(bin_dir / "postgres"),
                        "-D",
                        str(root / "data"),
                        "-p",
                        str(port),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-c",
                        f"unix_socket_directories={root}",
                        # A throwaway cluster: durability is not needed, speed is.
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ],
                    cwd=root,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **_as_user(owner),
                )
            cluster = PostgresCluster("127.0.0.1", port, SUPERUSER, password, root, process)
            if _wait_until_ready(cluster):
                break
            _stop(process)
            process = None
        else:
            raise RuntimeError(f"PostgreSQL did not start:\n{(root / 'postgres.log').read_text()}")
        yield cluster
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(cluster: PostgresCluster) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if cluster.process.poll() is not None:
            return False
        try:
            cluster.connect().close()
            return True
        except psycopg2.OperationalError:
            time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT) of the server by its pid; SIGKILL if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # The server and its backends share the process group started with it.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
