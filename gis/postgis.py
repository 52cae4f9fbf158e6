"""The embedded PostGIS cluster that gridgis starts itself when no DATABASE_URL is set.

The cluster lives in ``GRIDGIS_HOME/pgdata`` and listens on 127.0.0.1 at a free port that is
recorded in ``GRIDGIS_HOME/cluster.json`` together with a generated password. PostgreSQL
refuses to run as root, so when we are root every server command runs as the ``postgres``
system user (``runuser``) and the data directory belongs to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gis.errors import EmbeddedPostgresError
from gis.settings import Settings

DATABASE_NAME = "gridgis"
SUPERUSER = "gridgis"
EXTENSIONS = ("postgis", "pgrouting")
_START_TIMEOUT_S = 60

# Tuned for analytical work on a small machine; fsync stays on so acknowledged writes survive.
_SERVER_CONFIG = """
# written by gridgis
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
shared_buffers = '256MB'
work_mem = '64MB'
maintenance_work_mem = '512MB'
max_wal_size = '2GB'
max_connections = 100
jit = off
logging_collector = off
"""


@dataclass(frozen=True)
class ClusterStatus:
    """What `status` found: paths, whether the server runs, and how to reach it."""

    data_dir: Path
    initialized: bool
    running: bool
    pid: int | None
    port: int | None
    url: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view with the password hidden."""
        url = self.url
        if url:
            url = url.replace(url.split("//", 1)[1].split("@", 1)[0], f"{SUPERUSER}:***")
        return {
            "data_dir": str(self.data_dir),
            "initialized": self.initialized,
            "running": self.running,
            "pid": self.pid,
            "port": self.port,
            "url": url,
        }


def find_bindir() -> Path:
    """Return the directory of the newest installed PostgreSQL server binaries."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "install Debian's postgresql-15-postgis-3 and postgresql-15-pgrouting "
        "(`bash scripts/setup.sh` does it)"
    )


class EmbeddedCluster:
    """A PostgreSQL cluster owned by gridgis, in ``home/pgdata``.

    Parameters
    ----------
    home
        Directory for the data directory, log, socket and state file.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.data_dir = home / "pgdata"
        self.socket_dir = home / "run"
        self.log_file = home / "postgres.log"
        self.state_file = home / "cluster.json"
        self._as_root = os.geteuid() == 0

    # ------------------------------------------------------------------ state
    def _read_state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as exc:
            raise EmbeddedPostgresError(f"cannot read {self.state_file}: {exc}") from exc
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between processes (a second `db start` waits, then no-ops)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- helpers
    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self._as_root else args
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        return proc

    def _give_to_server_user(self, *paths: Path) -> None:
        if not self._as_root:
            return
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedPostgresError(
                "running as root needs the `postgres` system user (Debian's postgresql package)"
            ) from exc
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)

    @property
    def initialized(self) -> bool:
        """True when initdb has run in the data directory."""
        return (self.data_dir / "PG_VERSION").exists()

    def _server_pid(self) -> int | None:
        """Return the pid of our running postmaster, removing a stale pid file."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first_line = pid_file.read_text().splitlines()[0]
            pid = int(first_line.strip())
        except (OSError, IndexError, ValueError):
            return None
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cwd = Path(f"/proc/{pid}/cwd").resolve()
        except OSError:
            comm, cwd = "", Path()
        if comm in {"postgres", "postmaster"} and cwd == self.data_dir.resolve():
            return pid
        # The pid is dead or belongs to another process: PostgreSQL would refuse to start
        # while a live process owns "its" pid, so the stale file has to go.
        pid_file.unlink(missing_ok=True)
        return None

    @staticmethod
    def _port_free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    @staticmethod
    def _free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port

    def url(self, database: str = DATABASE_NAME) -> str:
        """Return the SQLAlchemy URL of ``database`` on this cluster (password included)."""
        state = self._read_state()
        if "port" not in state:
            raise EmbeddedPostgresError("the embedded cluster has never been started")
        return (
            f"postgresql+psycopg://{SUPERUSER}:{state['password']}"
            f"@127.0.0.1:{state['port']}/{database}"
        )

    # -------------------------------------------------------------- lifecycle
    def _initdb(self, bindir: Path) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._give_to_server_user(self.data_dir, self.socket_dir)
        password = secrets.token_urlsafe(24)
        pwfile = self.home / ".pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._give_to_server_user(pwfile)
        try:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_CONFIG.format(socket_dir=self.socket_dir))
        self._write_state({"password": password})

    def start(self) -> ClusterStatus:
        """Initialise (first time) and start the cluster; a no-op when it already runs.

        Survives a stale pid file and a taken port (it moves to a free one).
        """
        bindir = find_bindir()
        with self._lock():
            if not self.initialized:
                self._initdb(bindir)
            state = self._read_state()
            if "password" not in state:
                raise EmbeddedPostgresError(
                    f"{self.state_file} is missing; the cluster in {self.data_dir} cannot be "
                    "reached without its password (remove the data directory to start afresh)"
                )
            if self._server_pid() is None:
                port = state.get("port")
                if not isinstance(port, int) or not self._port_free(port):
                    port = self._free_port()
                state["port"] = port
                self._write_state(state)
                if not self.log_file.exists():
                    self.log_file.touch()
                self._give_to_server_user(self.log_file)
                self._run(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-o",
                        f"-p {port}",
                        "-w",
                        "-t",
                        str(_START_TIMEOUT_S),
                        "start",
                    ]
                )
            self._ensure_database()
        return self.status()

    def _ensure_database(self) -> None:
        import psycopg

        state = self._read_state()
        conninfo = {
            "host": "127.0.0.1",
            "port": state["port"],
            "user": SUPERUSER,
            "password": state["password"],
        }
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                admin = psycopg.connect(dbname="postgres", autocommit=True, **conninfo)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"server did not accept connections: {exc}"
                    ) from exc
                time.sleep(0.2)
        with admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        with psycopg.connect(dbname=DATABASE_NAME, autocommit=True, **conninfo) as conn:
            for ext in EXTENSIONS:
                try:
                    conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext} CASCADE")
                except psycopg.Error as exc:
                    raise EmbeddedPostgresError(
                        f"extension {ext} is not available ({exc}); install Debian's "
                        "postgresql-15-postgis-3 and postgresql-15-pgrouting"
                    ) from exc

    def stop(self) -> ClusterStatus:
        """Stop the server (fast shutdown: connections are closed, data is safe)."""
        with self._lock():
            if self.initialized and self._server_pid() is not None:
                self._run(
                    [
                        str(find_bindir() / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "stop",
                    ]
                )
        return self.status()

    def status(self) -> ClusterStatus:
        """Report whether the cluster exists and runs, and where."""
        initialized = self.initialized
        pid = self._server_pid() if initialized else None
        state = self._read_state()
        port = state.get("port")
        url = self.url() if pid is not None and "port" in state else None
        return ClusterStatus(self.data_dir, initialized, pid is not None, pid, port, url)


def cluster_for(settings: Settings) -> EmbeddedCluster:
    """Return the embedded cluster configured by ``settings`` (GRIDGIS_HOME)."""
    return EmbeddedCluster(Path(settings.gridgis_home))


def database_url(settings: Settings, *, start: bool = True) -> str:
    """Return DATABASE_URL, or the embedded cluster's URL (starting it when asked)."""
    if settings.database_url:
        return settings.database_url
    cluster = cluster_for(settings)
    if start:
        cluster.start()
    return cluster.url()


def server_url(settings: Settings) -> str:
    """Return a URL for work on the server itself (creating and dropping scratch databases).

    DATABASE_URL when set; otherwise the embedded cluster's ``postgres`` database (started).
    """
    if settings.database_url:
        return settings.database_url
    cluster = cluster_for(settings)
    cluster.start()
    return cluster.url("postgres")
