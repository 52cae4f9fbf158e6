"""Migration 0010 on a database that already holds coverage results: up, then down again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from gis.migrate import upgrade
from tests.gis.migrations import database_at, downgrade

BUILDING = (
    "INSERT INTO building (source, source_id, synthetic, dwellings, dwellings_estimated,"
    " households, residents, geom, anchor) VALUES ('t', :n, true, 1, false, 1, 1,"
    " ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(116.4, 39.9), 4326), 0.0001, 'quad_segs=1')),"
    " ST_SetSRID(ST_Point(116.4, 39.9), 4326)) RETURNING id"
)


@pytest.fixture
def at_0009() -> Iterator[Engine]:
    with database_at("0009") as engine:
        yield engine


def test_stored_results_move_into_one_partition_per_run_and_back(at_0009: Engine) -> None:
    with at_0009.begin() as conn:
        building = conn.execute(text(BUILDING), {"n": "1"}).scalar_one()
        runs = [
            conn.execute(
                text(
                    "INSERT INTO coverage_run (network, params, summary)"
                    " VALUES ('n', '{}', '{}') RETURNING id"
                )
            ).scalar_one()
            for _ in range(2)
        ]
        for run, rows in zip(runs, (3, 5), strict=True):
            conn.execute(
                text(
                    "INSERT INTO coverage_result (run_id, building_id, category, walk_m)"
                    " SELECT :run, :b, 'c' || i, i FROM generate_series(1, :rows) i"
                ),
                {"run": run, "b": building, "rows": rows},
            )

    upgrade(at_0009)

    with at_0009.begin() as conn:
        placed = dict(
            conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM coverage_result GROUP BY 1")
            ).all()
        )
        assert placed == {f"coverage_result_run_{runs[0]}": 3, f"coverage_result_run_{runs[1]}": 5}
        # new rows get ids after the old ones, and the keys hold in the partitions
        new_id = conn.execute(
            text(
                "INSERT INTO coverage_result (run_id, building_id, category)"
                " VALUES (:run, :b, 'z') RETURNING id"
            ),
            {"run": runs[0], "b": building},
        ).scalar_one()
        assert new_id > 8

    downgrade(at_0009, "0009")

    with at_0009.begin() as conn:
        kind = conn.execute(
            text("SELECT relkind FROM pg_class WHERE relname = 'coverage_result'")
        ).scalar_one()
        assert kind == "r"  # an ordinary table again, with every row
        assert conn.execute(text("SELECT count(*) FROM coverage_result")).scalar_one() == 9
        conn.execute(text("DELETE FROM building WHERE id = :b"), {"b": building})
        assert conn.execute(text("SELECT count(*) FROM coverage_result")).scalar_one() == 0
