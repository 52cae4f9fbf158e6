"""incident workflow columns, append-only event log, resident register columns

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23 00:40:00

- ``incident``: the class time limit snapshot taken at intake, the pause bookkeeping of
  postponed/suspended cases, a geography index for duplicate detection, and an index on
  ``updated_at`` for incremental sync (``updated_since``).
- ``incident_event``: the actor's user id, an (incident_id, at) index for the KPI queries, and
  a trigger that refuses UPDATE and DELETE (the log is append-only). A purge of whole cases
  (synthetic data, retention) must say so explicitly with
  ``SET LOCAL gridgis.allow_incident_event_delete = 'on'``; TRUNCATE is a privilege matter
  (grant it to nobody but the owner).
- ``person``: where a record came from (``source``) and when it last changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION incident_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND coalesce(current_setting('gridgis.allow_incident_event_delete', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'incident_event is append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'record a new event instead of changing an old one';
END
$$;
"""


def upgrade() -> None:
    op.add_column("incident", sa.Column("time_limit_min", sa.Integer(), nullable=True))
    op.add_column("incident", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "incident", sa.Column("resume_status", sa.String(length=20), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_incident_time_limit_min_positive"), "incident", "time_limit_min > 0"
    )
    op.create_index(op.f("ix_incident_updated_at"), "incident", ["updated_at"], unique=False)
    # Duplicate detection measures in metres on the spheroid: index the geography cast itself.
    op.execute("CREATE INDEX ix_incident_geog ON incident USING gist (geography(geom))")

    op.add_column("incident_event", sa.Column("actor_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_incident_event_actor_id_app_user"),
        "incident_event",
        "app_user",
        ["actor_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_incident_event_incident_id_at"), "incident_event", ["incident_id", "at"]
    )
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER incident_event_append_only BEFORE UPDATE OR DELETE ON incident_event "
        "FOR EACH ROW EXECUTE FUNCTION incident_event_append_only()"
    )

    op.add_column("person", sa.Column("source", sa.String(length=200), nullable=True))
    op.add_column(
        "person",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("person", "updated_at")
    op.drop_column("person", "source")
    op.execute("DROP TRIGGER IF EXISTS incident_event_append_only ON incident_event")
    op.execute("DROP FUNCTION IF EXISTS incident_event_append_only()")
    op.drop_index(op.f("ix_incident_event_incident_id_at"), table_name="incident_event")
    op.drop_constraint(
        op.f("fk_incident_event_actor_id_app_user"), "incident_event", type_="foreignkey"
    )
    op.drop_column("incident_event", "actor_id")
    op.execute("DROP INDEX IF EXISTS ix_incident_geog")
    op.drop_index(op.f("ix_incident_updated_at"), table_name="incident")
    op.drop_constraint(op.f("ck_incident_time_limit_min_positive"), "incident", type_="check")
    op.drop_column("incident", "resume_status")
    op.drop_column("incident", "paused_at")
    op.drop_column("incident", "time_limit_min")
