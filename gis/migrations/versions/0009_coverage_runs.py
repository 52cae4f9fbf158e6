"""coverage runs: input version, per-building circle flags, area statistics and gaps

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-23 03:30:00

- ``coverage_run.input_version``: a hash of the buildings, residents and facilities a run read,
  so "same parameters + network version + input version -> same results" can be checked.
- ``coverage_result``: the category's circle, network/Euclidean inside flags and the building's
  snapping distance; an index on (run_id, building_id) for paged reads.
- ``coverage_stat``: per grid cell, community and street, per category (and completeness rows).
- ``coverage_gap``: per category, the area of uncovered residents.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0009"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("coverage_run", sa.Column("input_version", sa.String(length=64), nullable=True))
    op.add_column("coverage_result", sa.Column("circle_m", sa.Float(), nullable=True))
    op.add_column("coverage_result", sa.Column("covered", sa.Boolean(), nullable=True))
    op.add_column("coverage_result", sa.Column("euclid_covered", sa.Boolean(), nullable=True))
    op.add_column("coverage_result", sa.Column("snap_m", sa.Float(), nullable=True))
    op.create_index(
        "ix_coverage_result_run_id_building_id", "coverage_result", ["run_id", "building_id"]
    )
    op.create_table(
        "coverage_stat",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=True),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("circle_m", sa.Float(), nullable=True),
        sa.Column("buildings", sa.Integer(), nullable=False),
        sa.Column("residents", sa.Float(), nullable=False),
        sa.Column("dwellings", sa.Float(), nullable=False),
        sa.Column("residents_within", sa.Float(), nullable=True),
        sa.Column("dwellings_within", sa.Float(), nullable=True),
        sa.Column("residents_within_euclid", sa.Float(), nullable=True),
        sa.Column("dwellings_within_euclid", sa.Float(), nullable=True),
        sa.Column("mean_completeness", sa.Float(), nullable=True),
        sa.Column("residents_all", sa.Float(), nullable=True),
        sa.Column("dwellings_all", sa.Float(), nullable=True),
        sa.Column("share_all", sa.Float(), nullable=True),
        sa.Column("meets_target", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["coverage_run.id"],
            name=op.f("fk_coverage_stat_run_id_coverage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_stat")),
    )
    op.create_index("ix_coverage_stat_run_id_level", "coverage_stat", ["run_id", "level"])
    op.create_table(
        "coverage_gap",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("buildings", sa.Integer(), nullable=False),
        sa.Column("residents", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["coverage_run.id"],
            name=op.f("fk_coverage_gap_run_id_coverage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_gap")),
    )
    op.create_index(op.f("ix_coverage_gap_run_id"), "coverage_gap", ["run_id"])
    op.create_index("idx_coverage_gap_geom", "coverage_gap", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("coverage_gap")
    op.drop_table("coverage_stat")
    op.drop_index("ix_coverage_result_run_id_building_id", table_name="coverage_result")
    for column in ("snap_m", "euclid_covered", "covered", "circle_m"):
        op.drop_column("coverage_result", column)
    op.drop_column("coverage_run", "input_version")
