"""coverage_result partitioned by run: a run's rows arrive as one table attached at the end

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:10:00

A run writes buildings × categories rows (300,000 for Dongcheng + Xicheng). Copied into the
plain table, each row fired three foreign-key triggers (run, building, facility) and fed four
indexes: 5.4 s for 300,000 rows, 3 s of it the per-row key checks. Now the run COPYs into a
fresh table with no keys or indexes and attaches it as the run's partition: PostgreSQL then
checks each foreign key with one anti-join and builds the partition's indexes in bulk (1.5 s
in all). Partition pruning on ``run_id`` replaces the (run_id, building_id) and run_id indexes.
Existing runs move into partitions of their own; rows inserted one by one (tests, tools) land
in the default partition.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, run_id, building_id, category, walk_m, walk_min, euclid_m, facility_id,"
    " circle_m, covered, euclid_covered, snap_m"
)


def upgrade() -> None:
    op.execute("ALTER TABLE coverage_result RENAME TO coverage_result_unpartitioned")
    op.execute("ALTER SEQUENCE coverage_result_id_seq RENAME TO coverage_result_unpartitioned_seq")
    for name in ("pk_coverage_result", "ix_coverage_result_building_id"):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_unpartitioned")
    op.execute(
        """
        CREATE TABLE coverage_result (
            id BIGSERIAL NOT NULL,
            run_id INTEGER NOT NULL,
            building_id INTEGER NOT NULL,
            category VARCHAR(40) NOT NULL,
            walk_m DOUBLE PRECISION,
            walk_min DOUBLE PRECISION,
            euclid_m DOUBLE PRECISION,
            facility_id INTEGER,
            circle_m DOUBLE PRECISION,
            covered BOOLEAN,
            euclid_covered BOOLEAN,
            snap_m DOUBLE PRECISION,
            CONSTRAINT pk_coverage_result PRIMARY KEY (id, run_id),
            CONSTRAINT fk_coverage_result_run_id_coverage_run FOREIGN KEY (run_id)
                REFERENCES coverage_run (id) ON DELETE CASCADE,
            CONSTRAINT fk_coverage_result_building_id_building FOREIGN KEY (building_id)
                REFERENCES building (id) ON DELETE CASCADE,
            CONSTRAINT fk_coverage_result_facility_id_facility FOREIGN KEY (facility_id)
                REFERENCES facility (id) ON DELETE SET NULL
        ) PARTITION BY LIST (run_id)
        """
    )
    op.execute("CREATE INDEX ix_coverage_result_building_id ON coverage_result (building_id)")
    # Existing runs get their own partitions: rows left in the default partition would be
    # scanned every time a later run attaches its partition.
    op.execute(
        """
        DO $$
        DECLARE run integer;
        BEGIN
            FOR run IN SELECT DISTINCT run_id FROM coverage_result_unpartitioned LOOP
                EXECUTE format(
                    'CREATE TABLE coverage_result_run_%s PARTITION OF coverage_result'
                    ' FOR VALUES IN (%s)', run, run);
            END LOOP;
        END $$
        """
    )
    op.execute("CREATE TABLE coverage_result_default PARTITION OF coverage_result DEFAULT")
    op.execute(
        f"INSERT INTO coverage_result ({COLUMNS})"
        f" SELECT {COLUMNS} FROM coverage_result_unpartitioned"
    )
    op.execute(
        "SELECT setval('coverage_result_id_seq',"
        " (SELECT coalesce(max(id), 0) + 1 FROM coverage_result), false)"
    )
    op.execute("DROP TABLE coverage_result_unpartitioned")


def downgrade() -> None:
    op.execute("ALTER TABLE coverage_result RENAME TO coverage_result_partitioned")
    op.execute("ALTER SEQUENCE coverage_result_id_seq RENAME TO coverage_result_partitioned_seq")
    op.execute("ALTER INDEX pk_coverage_result RENAME TO pk_coverage_result_partitioned")
    op.execute(
        "ALTER INDEX ix_coverage_result_building_id RENAME TO ix_coverage_result_building_partitioned"
    )
    op.execute(
        """
        CREATE TABLE coverage_result (
            id BIGSERIAL NOT NULL,
            run_id INTEGER NOT NULL REFERENCES coverage_run (id) ON DELETE CASCADE,
            building_id INTEGER NOT NULL REFERENCES building (id) ON DELETE CASCADE,
            category VARCHAR(40) NOT NULL,
            walk_m DOUBLE PRECISION,
            walk_min DOUBLE PRECISION,
            euclid_m DOUBLE PRECISION,
            facility_id INTEGER REFERENCES facility (id) ON DELETE SET NULL,
            circle_m DOUBLE PRECISION,
            covered BOOLEAN,
            euclid_covered BOOLEAN,
            snap_m DOUBLE PRECISION,
            CONSTRAINT pk_coverage_result PRIMARY KEY (id)
        )
        """
    )
    op.execute(
        f"INSERT INTO coverage_result ({COLUMNS}) SELECT {COLUMNS} FROM coverage_result_partitioned"
    )
    op.execute(
        "SELECT setval('coverage_result_id_seq',"
        " (SELECT coalesce(max(id), 0) + 1 FROM coverage_result), false)"
    )
    op.execute("DROP TABLE coverage_result_partitioned")
    op.execute("CREATE INDEX ix_coverage_result_building_id ON coverage_result (building_id)")
    op.execute("CREATE INDEX ix_coverage_result_run_id ON coverage_result (run_id)")
    op.execute(
        "CREATE INDEX ix_coverage_result_run_id_building_id"
        " ON coverage_result (run_id, building_id)"
    )
