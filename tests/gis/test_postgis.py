"""The embedded cluster: first start, second start, stale pid file, taken port, stop."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gis.postgis import EmbeddedCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    # Not under /tmp/pytest-of-root: as root the server runs as `postgres`, which must be
    # able to enter the directory.
    home = Path(tempfile.mkdtemp(prefix="gridgis-test-", dir="/var/tmp"))
    home.chmod(0o755)
    cl = EmbeddedCluster(home)
    yield cl
    cl.stop()
    shutil.rmtree(home, ignore_errors=True)


def _query(url: str, sql: str) -> object:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(sql).fetchone()
        return None if row is None else row[0]


def test_first_start_creates_a_postgis_database(cluster: EmbeddedCluster) -> None:
    status = cluster.start()

    assert status.running and status.url
    assert _query(status.url, "SELECT extname FROM pg_extension WHERE extname = 'postgis'") == (
        "postgis"
    )
    assert _query(status.url, "SELECT count(*) FROM pg_extension WHERE extname = 'pgrouting'") == 1
    assert "***" in str(status.as_dict()["url"])


def test_second_start_is_a_no_op(cluster: EmbeddedCluster) -> None:
    first = cluster.start()
    second = cluster.start()

    assert second.pid == first.pid
    assert second.port == first.port


def test_stop_then_start_survives_a_stale_pid_file_and_a_taken_port(
    cluster: EmbeddedCluster,
) -> None:
    old = cluster.start()
    cluster.stop()
    assert not cluster.status().running
    # A stale pid file pointing at a live process that is not postgres (this test process).
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    assert old.port is not None
    blocker.bind(("127.0.0.1", old.port))
    blocker.listen()
    try:
        new = cluster.start()
    finally:
        blocker.close()

    assert new.running
    assert new.port != old.port
    assert new.url is not None
    assert _query(new.url, "SELECT 1") == 1


def test_stop_reports_stopped(cluster: EmbeddedCluster) -> None:
    cluster.start()

    status = cluster.stop()

    assert not status.running
    assert status.url is None
