"""layers: membership of moved features, import bookkeeping columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:00:00

- ``gridgis_membership_of(point)``: the street, active grid cell and grid code of one point,
  with the same rules as the set-based refresh in ``gis.layers.membership`` (the older cell
  wins on a shared edge, the lower street code on a street border).
- A BEFORE UPDATE trigger on building, facility, component and incident re-assigns a feature
  whose point moved, so no writer can leave a stale membership behind. A building whose
  footprint moved away from its anchor gets its point on surface as the new anchor.
- ``facility.osm_tags``/``building.osm_tags``: the OSM tags an OSM import kept (JSONB), so
  re-classifying needs no re-import.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MEMBERSHIP_OF = """
CREATE OR REPLACE FUNCTION gridgis_membership_of(
    p geometry, OUT street_code varchar, OUT grid_cell_id integer, OUT grid_code varchar
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT pl.street_code, c.id, c.code INTO street_code, grid_cell_id, grid_code
    FROM grid_cell c JOIN grid_plan pl ON pl.id = c.plan_id AND pl.status = 'active'
    WHERE c.geom && p AND ST_Intersects(c.geom, p)
    ORDER BY c.id LIMIT 1;
    IF grid_cell_id IS NULL THEN
        SELECT d.code INTO street_code FROM division d
        WHERE d.level = 'street' AND d.geom && p AND ST_Intersects(d.geom, p)
        ORDER BY d.code LIMIT 1;
    END IF;
END $$;
"""

_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION gridgis_membership_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p geometry;
    m record;
BEGIN
    IF TG_TABLE_NAME = 'building' THEN
        IF NEW.geom IS DISTINCT FROM OLD.geom AND NEW.anchor IS NOT DISTINCT FROM OLD.anchor
           AND NOT ST_Covers(NEW.geom, NEW.anchor) THEN
            NEW.anchor := ST_PointOnSurface(NEW.geom);
        END IF;
        IF NEW.anchor IS NOT DISTINCT FROM OLD.anchor THEN
            RETURN NEW;
        END IF;
        p := NEW.anchor;
    ELSE
        IF NEW.geom IS NOT DISTINCT FROM OLD.geom THEN
            RETURN NEW;
        END IF;
        p := ST_PointOnSurface(NEW.geom);
    END IF;
    m := gridgis_membership_of(p);
    NEW.street_code := m.street_code;
    NEW.grid_cell_id := m.grid_cell_id;
    NEW.grid_code := m.grid_code;
    RETURN NEW;
END $$;
"""

_TABLES = ("building", "facility", "component", "incident")


def upgrade() -> None:
    op.execute(_MEMBERSHIP_OF)
    op.execute(_TRIGGER_FUNCTION)
    for table in _TABLES:
        columns = "anchor, geom" if table == "building" else "geom"
        op.execute(
            f"CREATE TRIGGER {table}_membership BEFORE UPDATE OF {columns} ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION gridgis_membership_trigger()"
        )
    for table in ("building", "facility"):
        op.add_column(table, sa.Column("osm_tags", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    for table in ("building", "facility"):
        op.drop_column(table, "osm_tags")
    for table in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_membership ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridgis_membership_trigger()")
    op.execute("DROP FUNCTION IF EXISTS gridgis_membership_of(geometry)")
