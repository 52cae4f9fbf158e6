"""Databases at an older schema revision, for tests of one migration's upgrade and downgrade."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from sqlalchemy import Engine

from gis.db import make_engine
from gis.migrate import alembic_config, scratch_database
from tests.conftest import _admin_url


@contextmanager
def database_at(revision: str) -> Iterator[Engine]:
    """Yield an engine on a scratch database migrated up to ``revision`` only."""
    with scratch_database(_admin_url(), prefix="gridgis_mig", revision=revision) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database of ``engine`` down to ``revision``."""
    with engine.begin() as conn:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
