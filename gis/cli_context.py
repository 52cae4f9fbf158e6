"""What every CLI command needs before it works: a migrated engine and the acting principal."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gis.auth import Principal, principal_of
from gis.errors import NotFoundError
from gis.settings import Settings

T = TypeVar("T")


def cli_engine(settings: Settings) -> Engine:
    """Connect to the configured (or embedded) PostGIS and bring its schema up to date.

    No statement timeout: CLI work (imports, gridding, coverage) is long by nature.
    """
    from gis.db import make_engine
    from gis.migrate import upgrade
    from gis.postgis import database_url

    engine = make_engine(database_url(settings), statement_timeout_ms=None)
    upgrade(engine)
    return engine


def cli_principal(session: Session, username: str | None) -> Principal:
    """Act as the named active user (``--as-user``), or as the system when none is named."""
    if username is None:
        return Principal.system("cli")
    from gis.users import AppUser

    user = session.execute(
        select(AppUser).where(AppUser.username == username, AppUser.active.is_(True))
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError("user", username)
    return principal_of(user)


def run_as_user(
    settings: Settings, username: str | None, body: Callable[[Session, Principal], T]
) -> T:
    """Run ``body(session, principal)`` in one transaction on a short-lived engine.

    The CLI's write commands act as ``username`` (or the system principal): a failure rolls
    everything back, and the engine is closed whatever happens.
    """
    with cli_session(settings) as session:
        return body(session, cli_principal(session, username))


@contextmanager
def cli_session(settings: Settings) -> Iterator[Session]:
    """One transaction on a short-lived engine: committed on success, rolled back on error.

    The engine is closed whatever happens, so a CLI command leaves no connection behind.
    """
    engine = cli_engine(settings)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()
