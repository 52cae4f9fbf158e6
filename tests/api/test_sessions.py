"""The app's own request sessions (api.deps), not the tests' shared one.

One pooled connection serves every request here, so each test also shows that a connection
comes back from a read-only (autocommit) request fit for a transactional one, and back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import ReadSessionDep, SessionDep
from gis.settings import Settings


class Refused(Exception):
    """Raised by a test route after it wrote."""


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    url = db.url.render_as_string(hide_password=False)
    app: FastAPI = create_app(Settings(database_url=url, pool_size=1, pool_max_overflow=0))

    @app.post("/test/note/{text_}")
    def write(text_: str, session: SessionDep) -> dict[str, str]:
        session.execute(text("INSERT INTO _session_note VALUES (:t)"), {"t": text_})
        if text_ == "fail":
            raise Refused
        return {"written": text_}

    @app.get("/test/transactions")
    def transactions(session: ReadSessionDep) -> dict[str, int]:
        ids = [
            int(session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
            for _ in range(2)
        ]
        return {"distinct": len(set(ids))}

    @app.get("/test/quiet")
    def quiet(session: SessionDep) -> dict[str, bool]:
        return {"used": session.in_transaction()}

    with db.begin() as conn:
        conn.execute(text("CREATE TABLE _session_note (note text)"))
    try:
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        with db.begin() as conn:
            conn.execute(text("DROP TABLE _session_note"))


def _notes(db: Engine) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT note FROM _session_note ORDER BY note")).scalars())


def test_a_request_commits_when_the_route_returns_and_rolls_back_when_it_raises(
    client: TestClient, db: Engine
) -> None:
    assert client.post("/test/note/kept").status_code == 200
    assert client.post("/test/note/fail").status_code == 500
    assert _notes(db) == ["kept"]


def test_read_routes_run_each_statement_on_its_own_and_leave_the_connection_usable(
    client: TestClient, db: Engine
) -> None:
    # Autocommit: two statements, two transactions (a transactional session would show one).
    assert client.get("/test/transactions").json() == {"distinct": 2}
    # The same single pooled connection is transactional again for the next request.
    assert client.post("/test/note/after-read").status_code == 200
    assert client.post("/test/note/fail").status_code == 500
    assert _notes(db) == ["after-read"]
    assert client.get("/test/transactions").json() == {"distinct": 2}


def test_a_session_the_route_never_uses_holds_nothing(client: TestClient, db: Engine) -> None:
    assert client.get("/test/quiet").json() == {"used": False}
    assert client.post("/test/note/next").status_code == 200  # the only connection is free
    assert _notes(db) == ["next"]
