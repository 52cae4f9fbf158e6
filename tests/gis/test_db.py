"""Engine settings every connection gets (gis.db.make_engine)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gis.db import RANDOM_PAGE_COST, TEMP_BUFFERS, make_engine


@pytest.mark.parametrize(("timeout_ms", "shown"), [(1234, "1234ms"), (None, "0")])
def test_connections_get_the_statement_timeout_and_room_for_staging_tables(
    database_url: str, timeout_ms: int | None, shown: str
) -> None:
    engine = make_engine(database_url, statement_timeout_ms=timeout_ms)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == shown
            assert conn.execute(text("SHOW temp_buffers")).scalar_one() == TEMP_BUFFERS
            cost = conn.execute(text("SHOW random_page_cost")).scalar_one()
            assert float(cost) == RANDOM_PAGE_COST
    finally:
        engine.dispose()
