"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text


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
