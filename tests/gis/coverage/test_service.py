"""Coverage runs on the database, checked against the pure engine and networkx on a real campus.

The area is the Tsinghua/PKU OSM extract: its walking network, its 521 building polygons and
the POIs the checklist classifies. Residents are derived from footprints (OSM has none).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.coverage.context import CoverageParams
from gis.coverage.queries import delete_run
from gis.coverage.reach import nearest_facility
from gis.coverage.service import rerun_coverage, run_coverage
from gis.coverage.sites import site_facilities
from gis.coverage.store import CoverageGap, CoverageResult, CoverageRun, CoverageStat, Isochrone
from gis.errors import ConflictError, CoverageInputError, NotFoundError
from gis.network import build_walk_graph, read_osm, snap_points
from gis.network.service import import_network
from tests.gis.coverage.campus import (
    CAU,
    TSINGHUA,
    campus_buildings,
    campus_facilities,
    insert_buildings,
    insert_facilities,
)
from tests.gis.network.toy import reference_distances

CATEGORIES = ("convenience_store", "kindergarten", "fresh_food_market", "sports_ground")
# streets split the campus at 116.318 E; grid cells are 0.004° squares inside each street
ASSIGN_AREAS = """
INSERT INTO building_membership (id, street_code, grid_code)
SELECT id, street, street
        || to_char(floor((ST_X(anchor) - 116.28) / 0.004), 'FM00')
        || to_char(floor((ST_Y(anchor) - 39.97) / 0.004), 'FM00')
FROM (SELECT id, anchor,
      CASE WHEN ST_X(anchor) < 116.318 THEN '110108001' ELSE '110108002' END AS street
      FROM building) b
ON CONFLICT (id) DO UPDATE SET street_code = EXCLUDED.street_code, grid_code = EXCLUDED.grid_code
"""


@pytest.fixture
def campus(session: Session) -> Iterator[Session]:
    """The campus network (gated compounds walkable), buildings with areas, facilities."""
    import_network(session, TSINGHUA, name="campus", include_private=True)
    insert_buildings(session, campus_buildings(TSINGHUA))
    insert_facilities(session, campus_facilities(TSINGHUA))
    session.execute(text(ASSIGN_AREAS))
    yield session


def params(**changes: Any) -> CoverageParams:
    base: dict[str, Any] = {"network": "campus", "categories": CATEGORIES, "isochrones": False}
    return CoverageParams(**(base | changes))


def db_distances(session: Session, run_id: int, category: str) -> tuple[Any, Any]:
    rows = session.execute(
        select(CoverageResult.building_id, CoverageResult.walk_m)
        .where(CoverageResult.run_id == run_id, CoverageResult.category == category)
        .order_by(CoverageResult.building_id)
    ).all()
    ids = np.array([r[0] for r in rows])
    walk = np.array([np.inf if r[1] is None else r[1] for r in rows])
    return ids, walk


def anchors(session: Session, table: str, where: str = "") -> tuple[Any, Any]:
    column = "anchor" if table == "building" else "geom"
    rows = session.execute(
        text(f"SELECT id, ST_AsBinary({column}) FROM {table} {where} ORDER BY id")
    ).all()
    return np.array([r[0] for r in rows]), shapely.from_wkb([r[1] for r in rows])


def test_db_distances_match_the_pure_engine_and_networkx(campus: Session) -> None:
    run = run_coverage(campus, params())

    # independent of the database: the graph straight from the file, networkx Dijkstra
    graph = build_walk_graph(read_osm(TSINGHUA, include_private=True).edges)
    b_ids, b_points = anchors(campus, "building")
    buildings = snap_points(graph, graph.to_metric(b_points))
    checked = 0
    for category in CATEGORIES:
        _, f_points = anchors(campus, "facility", f"WHERE category = '{category}'")
        facilities = snap_points(graph, graph.to_metric(f_points))
        ids, walk = db_distances(campus, run.id, category)
        engine = nearest_facility(graph, facilities, buildings, budget_m=1000.0).distance_m
        expected = reference_distances(graph, facilities, buildings, cutoff=1000.0)

        assert np.array_equal(ids, b_ids)
        assert np.array_equal(np.isfinite(walk), np.isfinite(expected)), category
        both = np.isfinite(expected)
        assert np.abs(walk[both] - expected[both]).max() < 1.0, category
        assert np.abs(walk[both] - engine[both]).max() < 1e-3, category
        checked += int(both.sum())
    assert checked > 1000  # most buildings reach most categories: the check is not vacuous


def test_every_building_and_category_is_written_with_its_circle(campus: Session) -> None:
    run = run_coverage(campus, params())

    counts = dict(
        campus.execute(
            select(CoverageResult.category, func.count())
            .where(CoverageResult.run_id == run.id)
            .group_by(CoverageResult.category)
        ).all()
    )
    n_buildings = campus.execute(text("SELECT count(*) FROM building")).scalar()
    assert counts == dict.fromkeys(CATEGORIES, n_buildings)
    wrong_flags = campus.execute(
        select(func.count()).where(
            CoverageResult.run_id == run.id,
            CoverageResult.covered.is_distinct_from(
                func.coalesce(CoverageResult.walk_m <= CoverageResult.circle_m, False)
            ),
        )
    ).scalar()
    assert wrong_flags == 0
    circles = dict(
        campus.execute(
            select(CoverageResult.category, func.max(CoverageResult.circle_m))
            .where(CoverageResult.run_id == run.id)
            .group_by(CoverageResult.category)
        ).all()
    )
    assert circles["convenience_store"] == pytest.approx(1000 / 3)  # 5 min of 15 at 1,000 m
    assert circles["sports_ground"] == pytest.approx(2000 / 3)


def test_a_runs_results_are_its_own_partition_with_the_keys_enforced(campus: Session) -> None:
    first = run_coverage(campus, params())
    second = run_coverage(campus, params())
    n_buildings = campus.execute(text("SELECT count(*) FROM building")).scalar_one()

    for run in (first, second):
        partition = campus.execute(
            text("SELECT count(*) FROM coverage_result_run_" + str(run.id))
        ).scalar_one()
        assert partition == n_buildings * len(CATEGORIES)
    # deleting a building removes its results from every run (the cascade survives attaching)
    victim = campus.execute(text("SELECT min(id) FROM building")).scalar_one()
    campus.execute(text("DELETE FROM building WHERE id = :id"), {"id": victim})
    left = campus.execute(
        select(func.count()).where(CoverageResult.building_id == victim)
    ).scalar_one()
    assert left == 0
    # a result naming a building that does not exist is refused in the partition too
    with pytest.raises(IntegrityError), campus.begin_nested():
        campus.execute(
            text(
                "INSERT INTO coverage_result (run_id, building_id, category)"
                " VALUES (:run, -1, 'kindergarten')"
            ),
            {"run": second.id},
        )
    # deleting a run takes its rows with it
    campus.execute(text("DELETE FROM coverage_run WHERE id = :id"), {"id": first.id})
    assert (
        campus.execute(select(func.count()).where(CoverageResult.run_id == first.id)).scalar_one()
        == 0
    )


def test_deleting_a_run_drops_its_partition_and_everything_it_wrote(campus: Session) -> None:
    doomed = run_coverage(campus, params(isochrones=True, isochrone_minutes=(5,)))
    kept = run_coverage(campus, params())
    doomed_id = doomed.id
    tables = (CoverageResult, CoverageStat, Isochrone, CoverageGap)

    def rows(run_id: int) -> dict[str, int]:
        return {
            t.__tablename__: campus.execute(
                select(func.count()).where(t.run_id == run_id)
            ).scalar_one()
            for t in tables
        }

    def partition(run_id: int) -> object:
        return campus.execute(
            text("SELECT to_regclass(:name)"), {"name": f"coverage_result_run_{run_id}"}
        ).scalar_one()

    assert all(rows(doomed_id).values())  # results, statistics, isochrones and gaps were written
    kept_rows = rows(kept.id)

    delete_run(campus, doomed_id)

    assert partition(doomed_id) is None
    assert rows(doomed_id) == dict.fromkeys(rows(doomed_id), 0)
    assert campus.get(CoverageRun, doomed_id) is None
    assert partition(kept.id) is not None
    assert rows(kept.id) == kept_rows
    with pytest.raises(NotFoundError, match=f"coverage run {doomed_id} not found"):
        delete_run(campus, doomed_id)


def test_features_far_from_the_network_are_reported_not_snapped(campus: Session) -> None:
    far_building = campus.execute(
        text(
            "INSERT INTO building (geom, anchor, residents, dwellings, households, synthetic,"
            " dwellings_estimated) VALUES (ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(116.36,"
            " 40.05), 4326), 0.0002)), ST_SetSRID(ST_MakePoint(116.36, 40.05), 4326), 40, 16, 16,"
            " true, true) RETURNING id"
        )
    ).scalar_one()
    far_facility = campus.execute(
        text(
            "INSERT INTO facility (category, name, geom, synthetic) VALUES ('kindergarten',"
            " '远方幼儿园', ST_SetSRID(ST_MakePoint(116.25, 39.95), 4326), true) RETURNING id"
        )
    ).scalar_one()

    run = run_coverage(campus, params())

    report = run.summary["unsnapped_buildings"]
    assert report["count"] == 1
    assert report["first"][0]["id"] == far_building
    assert report["first"][0]["distance_m"] > 300
    assert "from the nearest walkable edge" in report["first"][0]["reason"]
    facilities = run.summary["unsnapped_facilities"]
    assert [f["id"] for f in facilities["first"]] == [far_facility]
    assert facilities["first"][0]["category"] == "kindergarten"
    row = campus.execute(
        select(CoverageResult.walk_m, CoverageResult.snap_m, CoverageResult.covered).where(
            CoverageResult.run_id == run.id, CoverageResult.building_id == far_building
        )
    ).first()
    assert row is not None
    assert row.walk_m is None and row.snap_m is None and row.covered is False


def test_the_snapping_limit_is_configurable(campus: Session) -> None:
    campus.execute(  # about 1 km west of the extract
        text(
            "INSERT INTO facility (category, geom, synthetic) VALUES ('kindergarten',"
            " ST_SetSRID(ST_MakePoint(116.296, 40.0), 4326), true)"
        )
    )
    strict = run_coverage(campus, params())
    lenient = run_coverage(campus, params(max_snap_m=3000.0))

    assert strict.summary["unsnapped_facilities"]["count"] == 1
    assert lenient.summary["unsnapped_facilities"]["count"] == 0
    assert lenient.params["max_snap_m"] == 3000.0


def _results(session: Session, run_id: int) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in session.execute(
            select(
                CoverageResult.building_id,
                CoverageResult.category,
                CoverageResult.walk_m,
                CoverageResult.facility_id,
                CoverageResult.euclid_m,
                CoverageResult.covered,
            )
            .where(CoverageResult.run_id == run_id)
            .order_by(CoverageResult.building_id, CoverageResult.category)
        ).all()
    ]


def test_a_run_is_recorded_and_reproducible(campus: Session) -> None:
    first = run_coverage(campus, params(), created_by="tester")
    again = rerun_coverage(campus, first.id)

    assert again.id != first.id
    assert again.params == first.params
    assert again.network_version == first.network_version is not None
    assert again.input_version == first.input_version is not None
    assert again.created_by == "tester"
    assert first.finished_at is not None and first.finished_at >= first.started_at
    assert first.summary["buildings"] == 521
    assert _results(campus, again.id) == _results(campus, first.id)


def test_a_rerun_is_refused_once_the_network_changed(campus: Session) -> None:
    run = run_coverage(campus, params())
    import_network(campus, CAU, name="campus")  # another network under the same name

    with pytest.raises(ConflictError, match=f"coverage run {run.id} used network 'campus'"):
        rerun_coverage(campus, run.id)


def test_new_inputs_give_a_new_input_version(campus: Session) -> None:
    first = run_coverage(campus, params())
    campus.execute(
        text(
            "UPDATE building SET residents = residents + 1"
            " WHERE id = (SELECT min(id) FROM building)"
        )
    )

    second = run_coverage(campus, params())

    assert second.network_version == first.network_version
    assert second.input_version != first.input_version


def test_area_statistics_agree_with_sql_over_the_stored_results(campus: Session) -> None:
    run = run_coverage(campus, params())

    expected = {
        (code, category): (residents, within)
        for code, category, residents, within in campus.execute(
            text(
                "SELECT m.street_code, r.category, sum(b.residents),"
                " sum(b.residents) FILTER (WHERE r.covered)"
                " FROM coverage_result r JOIN building b ON b.id = r.building_id"
                " LEFT JOIN building_membership m ON m.id = b.id"
                " WHERE r.run_id = :run GROUP BY 1, 2"
            ),
            {"run": run.id},
        ).all()
    }
    stored = campus.execute(
        select(
            CoverageStat.code,
            CoverageStat.category,
            CoverageStat.residents,
            CoverageStat.residents_within,
        ).where(
            CoverageStat.run_id == run.id,
            CoverageStat.level == "street",
            CoverageStat.category.is_not(None),
        )
    ).all()
    assert len(stored) == len(expected) == 2 * len(CATEGORIES)
    for code, category, residents, within in stored:
        assert (residents, within) == pytest.approx(expected[(code, category)])
    # completeness: residents of buildings with every category within its circle
    all_sql = dict(
        campus.execute(
            text(
                "SELECT m.street_code, sum(residents) FROM building b"
                " LEFT JOIN building_membership m ON m.id = b.id WHERE (SELECT bool_and(covered)"
                " FROM coverage_result r WHERE r.run_id = :run AND r.building_id = b.id)"
                " GROUP BY 1"
            ),
            {"run": run.id},
        ).all()
    )
    complete = campus.execute(
        select(CoverageStat.code, CoverageStat.residents_all, CoverageStat.meets_target).where(
            CoverageStat.run_id == run.id,
            CoverageStat.level == "street",
            CoverageStat.category.is_(None),
        )
    ).all()
    assert {c: r for c, r, _ in complete} == pytest.approx(
        {c: float(all_sql.get(c, 0)) for c, _, _ in complete}
    )
    grids = campus.execute(
        select(func.count(), func.sum(CoverageStat.residents)).where(
            CoverageStat.run_id == run.id,
            CoverageStat.level == "grid",
            CoverageStat.category.is_(None),
        )
    ).one()
    assert grids[0] > 4
    assert grids[1] == campus.execute(text("SELECT sum(residents) FROM building")).scalar()


def test_isochrones_hold_their_buildings_and_lie_inside_the_walk_radius(campus: Session) -> None:
    run = run_coverage(
        campus, params(categories=("kindergarten", "fresh_food_market"), isochrones=True)
    )

    counts = dict(
        campus.execute(
            select(Isochrone.method, func.count())
            .where(Isochrone.run_id == run.id)
            .group_by(Isochrone.method)
        ).all()
    )
    n_facilities = campus.execute(
        text(
            "SELECT count(*) FROM facility WHERE category IN ('kindergarten', 'fresh_food_market')"
        )
    ).scalar()
    assert counts == {"network": n_facilities, "euclid": n_facilities}
    # a building served within its circle and snapped closer than the band (50 m, less the
    # buffer's polygon approximation) lies inside its facility's isochrone
    outside = campus.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE NOT ST_Covers(i.geom, b.anchor))"
            " FROM coverage_result r JOIN building b ON b.id = r.building_id"
            " JOIN isochrone i ON i.run_id = r.run_id AND i.facility_id = r.facility_id"
            "  AND i.method = 'network'"
            " WHERE r.run_id = :run AND r.covered AND r.snap_m < 40"
        ),
        {"run": run.id},
    ).one()
    assert outside[0] > 50 and outside[1] == 0
    # no walk is shorter than the straight line: the network area lies in the disc + band
    escaped = campus.execute(
        text(
            "SELECT count(*) FROM isochrone i JOIN facility f ON f.id = i.facility_id"
            " WHERE i.run_id = :run AND i.method = 'network' AND NOT ST_Covers("
            "  ST_Buffer(f.geom::geography, i.minutes * 1000.0 / 15 + 50 + 5)::geometry, i.geom)"
        ),
        {"run": run.id},
    ).scalar()
    assert escaped == 0


def test_unknown_network_and_category_are_named(campus: Session) -> None:
    with pytest.raises(NotFoundError, match="network 'nowhere'"):
        run_coverage(campus, params(network="nowhere"))
    with pytest.raises(CoverageInputError, match="unknown category \\['bakery'\\]"):
        run_coverage(campus, params(categories=("bakery",)))
    with pytest.raises(CoverageInputError, match="budget_m"):
        run_coverage(campus, params(budget_m=-5.0))
    assert campus.execute(select(func.count()).select_from(CoverageRun)).scalar() == 0


def test_siting_gains_are_monotone_and_a_rerun_with_the_picks_realises_them(
    campus: Session,
) -> None:
    run = run_coverage(campus, params(categories=("kindergarten",)))
    before = run.summary["categories"]["kindergarten"]["residents_within"]

    report = site_facilities(campus, run.id, category="kindergarten", k=4)

    gains = [p.gain_residents for p in report.picks]
    assert len(gains) == 4 and gains[0] > 0
    assert all(a >= b for a, b in itertools.pairwise(gains))
    assert report.covered_before == pytest.approx(before)
    for pick in report.picks:  # the picks become facilities: the new run covers exactly that
        campus.execute(
            text(
                "INSERT INTO facility (category, geom, synthetic) VALUES ('kindergarten',"
                " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), true)"
            ),
            {"lon": pick.lon, "lat": pick.lat},
        )
    after = run_coverage(campus, params(categories=("kindergarten",)))
    assert after.summary["categories"]["kindergarten"]["residents_within"] == pytest.approx(
        before + sum(gains), abs=30
    )
