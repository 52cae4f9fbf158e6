"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gis.db import make_engine


def alembic_config(url: str) -> Config:
    """Return an Alembic config pointing at ``gis/migrations`` and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("gis") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Create the PostGIS extensions if missing and migrate the schema to ``revision``."""
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE"))
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision of the database, or None before the first migration."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if exists is None:
            return None
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if rev is None else str(rev)


@contextmanager
def scratch_database(
    admin_url: str, *, prefix: str = "gridgis_scratch", revision: str = "heads"
) -> Iterator[str]:
    """Create a throwaway database on ``admin_url``'s server, migrated to ``revision``.

    Yields its URL and drops it afterwards (also after a failure). Tests and benchmarks use it
    so that they never touch a database someone works in.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url, statement_timeout_ms=None)
        try:
            upgrade(engine, revision)
        finally:
            engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
