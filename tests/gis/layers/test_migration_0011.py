"""Migration 0011 on a database whose features carry membership columns: up, then down again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from gis.migrate import upgrade
from tests.gis.migrations import database_at, downgrade

STREETS = (  # two 0.01° squares side by side
    "INSERT INTO division (code, level, name, stat_code, synthetic, properties, geom) VALUES"
    " ('110101001', 'street', 'West', '110101001', true, '{}',"
    "  ST_Multi(ST_MakeEnvelope(116.40, 39.90, 116.41, 39.91, 4326))),"
    " ('110101002', 'street', 'East', '110101002', true, '{}',"
    "  ST_Multi(ST_MakeEnvelope(116.41, 39.90, 116.42, 39.91, 4326)))"
)
FACILITY = (
    "INSERT INTO facility (category, source, source_id, synthetic, street_code, geom)"
    " VALUES ('pharmacy', 't', :key, true, :street, ST_SetSRID(ST_Point(:x, 39.905), 4326))"
    " RETURNING id"
)


@pytest.fixture
def at_0010() -> Iterator[Engine]:
    with database_at("0010") as engine:
        yield engine


def _columns(conn: Connection, table: str) -> set[str]:
    rows = conn.execute(
        text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
        {"t": table},
    )
    return {r[0] for r in rows}


def test_membership_moves_to_its_table_follows_moves_and_comes_back(at_0010: Engine) -> None:
    with at_0010.begin() as conn:
        conn.execute(text(STREETS))
        west = conn.execute(text(FACILITY), {"key": "w", "street": "110101001", "x": 116.405})
        west_id = west.scalar_one()
        nowhere = conn.execute(text(FACILITY), {"key": "n", "street": None, "x": 116.5})
        nowhere_id = nowhere.scalar_one()

    upgrade(at_0010)

    with at_0010.begin() as conn:
        assert "street_code" not in _columns(conn, "facility")
        rows = conn.execute(text("SELECT id, street_code FROM facility_membership")).all()
        assert [tuple(r) for r in rows] == [(west_id, "110101001")]  # no row: in no street
        # a move is followed by the trigger, and a delete takes the membership along
        conn.execute(
            text("UPDATE facility SET geom = ST_SetSRID(ST_Point(116.415, 39.905), 4326)"),
        )
        moved = conn.execute(text("SELECT id, street_code FROM facility_membership ORDER BY id"))
        assert [tuple(r) for r in moved] == [(west_id, "110101002"), (nowhere_id, "110101002")]
        conn.execute(text("DELETE FROM facility WHERE id = :id"), {"id": nowhere_id})
        left = conn.execute(text("SELECT count(*) FROM facility_membership")).scalar_one()
        assert left == 1

    downgrade(at_0010, "0010")

    with at_0010.begin() as conn:
        assert "facility_membership" not in {
            r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables"))
        }
        back = conn.execute(text("SELECT id, street_code, grid_code FROM facility")).all()
        assert [tuple(r) for r in back] == [(west_id, "110101002", None)]
        # the old trigger writes the row's own columns again
        conn.execute(
            text("UPDATE facility SET geom = ST_SetSRID(ST_Point(116.405, 39.905), 4326)"),
        )
        again = conn.execute(text("SELECT street_code FROM facility")).scalar_one()
        assert again == "110101001"
