"""membership in narrow per-layer tables instead of columns on the feature tables

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 18:30:00

Street and grid membership is derived data, recomputed for every feature when plans or
streets change. On the wide feature rows each re-assignment was a non-HOT update that wrote
a new tuple version and an entry in every index (two GiST among them): 31 s for 709,000
rows. It now lives in ``{layer}_membership (id, street_code, grid_cell_id, grid_code)``,
one row per feature that lies in a street, which a full refresh rebuilds with one parallel
CREATE TABLE AS (``gis.layers.membership``).

- The feature tables lose ``street_code``, ``grid_cell_id``, ``grid_code`` and their indexes;
  existing memberships move to the new tables.
- The move trigger keeps fixing a building's anchor before the update, and writes the moved
  feature's membership row after it.
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("building", "facility", "component", "incident")

_ANCHOR_FUNCTION = """
CREATE OR REPLACE FUNCTION gridgis_anchor_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geom IS DISTINCT FROM OLD.geom AND NEW.anchor IS NOT DISTINCT FROM OLD.anchor
       AND NOT ST_Covers(NEW.geom, NEW.anchor) THEN
        NEW.anchor := ST_PointOnSurface(NEW.geom);
    END IF;
    RETURN NEW;
END $$;
"""

_MOVED_FUNCTION = """
CREATE OR REPLACE FUNCTION gridgis_membership_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p geometry;
    m record;
BEGIN
    IF TG_TABLE_NAME = 'building' THEN
        IF NEW.anchor IS NOT DISTINCT FROM OLD.anchor THEN
            RETURN NULL;
        END IF;
        p := NEW.anchor;
    ELSE
        IF NEW.geom IS NOT DISTINCT FROM OLD.geom THEN
            RETURN NULL;
        END IF;
        p := ST_PointOnSurface(NEW.geom);
    END IF;
    m := gridgis_membership_of(p);
    EXECUTE format('DELETE FROM %I WHERE id = $1', TG_TABLE_NAME || '_membership')
        USING NEW.id;
    IF m.street_code IS NOT NULL THEN
        EXECUTE format(
            'INSERT INTO %I (id, street_code, grid_cell_id, grid_code) VALUES ($1, $2, $3, $4)',
            TG_TABLE_NAME || '_membership')
            USING NEW.id, m.street_code, m.grid_cell_id, m.grid_code;
    END IF;
    RETURN NULL;
END $$;
"""

def _columns(table: str) -> str:
    return "anchor, geom" if table == "building" else "geom"


def upgrade() -> None:
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_membership ON {table}")
        op.execute(
            f"CREATE TABLE {table}_membership ("
            f" id integer NOT NULL, street_code varchar(9), grid_cell_id integer,"
            f" grid_code varchar(20),"
            f" CONSTRAINT pk_{table}_membership PRIMARY KEY (id),"
            f" CONSTRAINT fk_{table}_membership_id_{table} FOREIGN KEY (id)"
            f"   REFERENCES {table} (id) ON DELETE CASCADE,"
            f" CONSTRAINT fk_{table}_membership_grid_cell_id_grid_cell FOREIGN KEY (grid_cell_id)"
            f"   REFERENCES grid_cell (id) ON DELETE SET NULL)"
        )
        op.execute(
            f"INSERT INTO {table}_membership (id, street_code, grid_cell_id, grid_code)"
            f" SELECT id, street_code, grid_cell_id, grid_code FROM {table}"
            f" WHERE street_code IS NOT NULL ORDER BY id"
        )
        op.execute(
            f"ALTER TABLE {table} DROP COLUMN street_code, DROP COLUMN grid_cell_id,"
            f" DROP COLUMN grid_code"
        )
    op.execute(_ANCHOR_FUNCTION)
    op.execute(_MOVED_FUNCTION)
    op.execute(
        "CREATE TRIGGER building_anchor BEFORE UPDATE OF geom ON building"
        " FOR EACH ROW EXECUTE FUNCTION gridgis_anchor_trigger()"
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_membership AFTER UPDATE OF {_columns(table)} ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION gridgis_membership_trigger()"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS building_anchor ON building")
    op.execute("DROP FUNCTION IF EXISTS gridgis_anchor_trigger()")
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_membership ON {table}")
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN street_code varchar(9),"
            f" ADD COLUMN grid_code varchar(20), ADD COLUMN grid_cell_id integer"
            f" CONSTRAINT fk_{table}_grid_cell_id_grid_cell REFERENCES grid_cell (id)"
            f" ON DELETE SET NULL"
        )
        op.execute(
            f"UPDATE {table} t SET street_code = m.street_code, grid_cell_id = m.grid_cell_id,"
            f" grid_code = m.grid_code FROM {table}_membership m WHERE m.id = t.id"
        )
        for column in ("street_code", "grid_code", "grid_cell_id"):
            op.execute(f"CREATE INDEX ix_{table}_{column} ON {table} ({column})")
        op.execute(f"DROP TABLE {table}_membership")
    # Revision 0003's function, which wrote membership into the feature row.
    op.execute(importlib.import_module("gis.migrations.versions.0003_layers")._TRIGGER_FUNCTION)
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_membership BEFORE UPDATE OF {_columns(table)} ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION gridgis_membership_trigger()"
        )
