"""OGC API Features: Part 1 rules, paging, CQL2, CRS and scope, on the sample city."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.auth import Role
from gis.ogc.collections import COLLECTIONS, PERSONAL_TABLES
from gis.settings import Settings
from tests.api.ogc_sample import ORIGIN_LAT, ORIGIN_LON, STEP, Sample, load_sample
from tests.conftest import app_client

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def sample(session: Session) -> Sample:
    return load_sample(session)


@pytest.fixture
def anon(settings: Settings, session: Session) -> Iterator[TestClient]:
    """A client of an app that lets anonymous callers read non-personal layers."""
    opened = settings.model_copy(update={"anonymous_read": True, "page_max_items": 25})
    with app_client(opened, session) as test_client:
        yield test_client


def _walk(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        features += body["features"]
        assert body["numberReturned"] == len(body["features"])
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        url = nxt[0]["href"] if nxt else ""
        pages += 1
        assert pages < 100
    return features


def test_landing_and_conformance_links_have_rel_and_type(client: TestClient) -> None:
    landing = client.get("/")
    assert landing.status_code == 200
    assert landing.headers["content-type"] == "application/json"
    links = landing.json()["links"]
    assert all({"href", "rel", "type"} <= set(link) for link in links)
    rels = {link["rel"] for link in links}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    service_desc = next(link for link in links if link["rel"] == "service-desc")
    assert client.get(service_desc["href"]).json()["openapi"].startswith("3.1")

    classes = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert not any(c.endswith("/oas30") for c in classes)  # we serve OpenAPI 3.1


def test_registry_never_reads_personal_tables() -> None:
    for collection in COLLECTIONS.values():
        tables = {c.table.name for c in collection.source.columns}
        assert not tables & PERSONAL_TABLES, collection.id


def test_collections_list_what_the_role_may_read(
    client: TestClient, admin: dict[str, str], login: Any, sample: Sample
) -> None:
    ids = [c["id"] for c in client.get("/collections", headers=admin).json()["collections"]]
    assert {"streets", "communities", "grid-cells", "buildings", "incidents"} <= set(ids)
    # No coverage run yet: the result collections are not listed.
    assert "isochrones" not in ids and "coverage-results" not in ids
    for hidden in ("isochrones", "coverage-results"):  # nor are they readable
        assert client.get(f"/collections/{hidden}/items", headers=admin).status_code == 404

    analyst = login("ana", role=Role.ANALYST)
    ids = [c["id"] for c in client.get("/collections", headers=analyst).json()["collections"]]
    assert "buildings" in ids and "incidents" not in ids
    response = client.get("/collections/incidents/items", headers=analyst)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_anonymous_needs_configuration(
    client: TestClient, anon: TestClient, sample: Sample
) -> None:
    assert client.get("/collections").status_code == 401
    ids = {c["id"] for c in anon.get("/collections").json()["collections"]}
    assert "streets" in ids and "grid-cells" in ids
    assert "incidents" not in ids
    assert anon.get("/collections/incidents/items").status_code == 403


def test_collection_metadata_extent_and_links(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    body = client.get("/collections/buildings", headers=admin).json()
    assert body["id"] == "buildings"
    assert body["storageCrs"] == CRS84 and CRS84 in body["crs"]
    assert body["extent"]["spatial"]["crs"] == CRS84
    minx, miny, maxx, maxy = body["extent"]["spatial"]["bbox"][0]
    # Lattice of 10 columns x 4 rows, each footprint 0.6 STEP wide.
    assert minx == pytest.approx(ORIGIN_LON)
    assert miny == pytest.approx(ORIGIN_LAT)
    assert maxx == pytest.approx(ORIGIN_LON + 9.6 * STEP)
    assert maxy == pytest.approx(ORIGIN_LAT + 3.6 * STEP)
    rels = {link["rel"]: link["type"] for link in body["links"]}
    assert rels["items"] == GEOJSON
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"] == "application/schema+json"


def test_items_page_through_next_links(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    first = client.get("/collections/buildings/items?limit=7", headers=admin)
    assert first.status_code == 200
    assert first.headers["content-type"] == GEOJSON
    assert first.headers["content-crs"] == f"<{CRS84}>"
    body = first.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == sample.building_count
    assert body["numberReturned"] == 7
    features = _walk(client, "/collections/buildings/items?limit=7", admin)
    ids = [f["id"] for f in features]
    assert len(ids) == sample.building_count == len(set(ids))
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids)
    assert {f["properties"]["code"] for f in features} == {
        f"B{i:04d}" for i in range(sample.building_count)
    }


def test_limit_is_clamped_not_refused(anon: TestClient, sample: Sample) -> None:
    body = anon.get("/collections/grid-cells/items?limit=100000").json()
    links = {link["rel"]: link for link in body["links"]}
    assert "limit=25" in links["self"]["href"]  # page_max_items of the fixture
    # Only the cells of active plans: the draft plan's B-99 is not a member.
    assert sorted(f["properties"]["code"] for f in body["features"]) == ["A-01", "A-02", "B-01"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "bbox=1,2,3",
        "bbox=nan,1,2,3",
        "bbox=116,95,117,96",
        "crs=EPSG:3857",
        "bbox-crs=urn:x",
        "datetime=yesterday",
        "filter=floors%20%3E",
        "filter-lang=ecql",
        "unknown=1",
        "after=-1",
    ],
)
def test_bad_parameters_are_400_problems(
    client: TestClient, admin: dict[str, str], sample: Sample, query: str
) -> None:
    response = client.get(f"/collections/buildings/items?{query}", headers=admin)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


def test_unknown_collection_and_feature_are_404(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    assert client.get("/collections/persons/items", headers=admin).status_code == 404
    assert client.get("/collections/buildings/items/999999", headers=admin).status_code == 404
    assert client.get("/collections/buildings/items/abc", headers=admin).status_code == 404


def test_bbox_selects_the_lattice_cells(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    # Columns 0-2 of rows 0-1: six buildings (edges between lattice cells avoided).
    west, south = ORIGIN_LON - STEP / 10, ORIGIN_LAT - STEP / 10
    east, north = ORIGIN_LON + 2.8 * STEP, ORIGIN_LAT + 1.8 * STEP
    bbox = f"{west},{south},{east},{north}"
    body = client.get(f"/collections/buildings/items?bbox={bbox}", headers=admin).json()
    codes = sorted(f["properties"]["code"] for f in body["features"])
    assert codes == [f"B{i:04d}" for i in (0, 1, 2, 10, 11, 12)]
    assert body["numberMatched"] == 6

    # The same box in EPSG:4326 axis order (lat, lon).
    lat_first = f"{south},{west},{north},{east}"
    crs = "http://www.opengis.net/def/crs/EPSG/0/4326"
    body = client.get(
        f"/collections/buildings/items?bbox={lat_first}&bbox-crs={crs}", headers=admin
    ).json()
    assert body["numberMatched"] == 6


def test_output_crs_epsg4326_is_latitude_first(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    fid = sample.incident_ids[0]
    plain = client.get(f"/collections/incidents/items/{fid}", headers=admin)
    crs = "http://www.opengis.net/def/crs/EPSG/0/4490"
    flipped = client.get(f"/collections/incidents/items/{fid}?crs={crs}", headers=admin)
    assert flipped.headers["content-crs"] == f"<{crs}>"
    lon, lat = plain.json()["geometry"]["coordinates"]
    assert flipped.json()["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-6)
    assert (lon, lat) == pytest.approx((ORIGIN_LON + 0.0002, ORIGIN_LAT + 0.0002))


@pytest.mark.parametrize(
    ("cql", "lang", "expected"),
    [
        ("floors > 5", "cql2-text", lambda i: 1 + i % 7 > 5),
        (
            "floors BETWEEN 2 AND 3 AND street_code = '110101002'",
            "cql2-text",
            lambda i: 2 <= 1 + i % 7 <= 3 and i >= 20,
        ),
        ("code IN ('B0001','B0003','B9999')", "cql2-text", lambda i: i in (1, 3)),
        ("code LIKE 'B001%'", "cql2-text", lambda i: 10 <= i <= 19),
        ("CASEI(name) = CASEI('楼5')", "cql2-text", lambda i: i == 5),
        ("floors = dwellings", "cql2-text", lambda i: 1 + i % 7 == i),
        ("NOT (floors < 7) OR code = 'B0000'", "cql2-text", lambda i: 1 + i % 7 >= 7 or i == 0),
        (
            f"S_INTERSECTS(geometry, POINT({ORIGIN_LON + 0.0003} {ORIGIN_LAT + 0.0003}))",
            "cql2-text",
            lambda i: i == 0,
        ),
        (
            json.dumps(
                {
                    "op": "s_intersects",
                    "args": [
                        {"property": "geometry"},
                        {
                            "bbox": [
                                ORIGIN_LON + 4.5 * STEP,
                                ORIGIN_LAT + 2.5 * STEP,
                                ORIGIN_LON + 5.1 * STEP,
                                ORIGIN_LAT + 3.1 * STEP,
                            ]
                        },
                    ],
                }
            ),
            "cql2-json",
            lambda i: i in (24, 25, 34, 35),
        ),
        (
            json.dumps({"op": "isNull", "args": [{"property": "address"}]}),
            "cql2-json",
            lambda i: True,
        ),
    ],
)
def test_cql2_filters_match_the_lattice(
    client: TestClient, admin: dict[str, str], sample: Sample, cql: str, lang: str, expected: Any
) -> None:
    response = client.get(
        "/collections/buildings/items",
        params={"filter": cql, "filter-lang": lang, "limit": 100},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    got = sorted(int(f["properties"]["code"][1:]) for f in response.json()["features"])
    assert got == [i for i in range(sample.building_count) if expected(i)]


@pytest.mark.parametrize(
    ("cql", "needle"),
    [
        ("height > 3", "not a queryable"),
        ("floors = 'three'", "cannot apply"),
        ("name > 3", "cannot apply"),
        ("S_INTERSECTS(floors, POINT(1 2))", "two geometries"),
        ("ACCENTI(name) = ACCENTI('x')", "not supported"),
        ("floors * 99999999999 * 99999999999 > 1", "cannot be evaluated"),
    ],
)
def test_bad_cql2_is_a_400_naming_the_problem(
    client: TestClient, admin: dict[str, str], sample: Sample, cql: str, needle: str
) -> None:
    response = client.get("/collections/buildings/items", params={"filter": cql}, headers=admin)
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]


def test_queryables_is_a_closed_json_schema(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    response = client.get("/collections/buildings/queryables", headers=admin)
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["geometry"]["format"] == "geometry-multipolygon"
    assert schema["properties"]["floors"]["type"] == "integer"
    assert schema["properties"]["footprint_m2"]["type"] == "number"


def test_datetime_filters_incidents(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    def ids(query: str) -> list[int]:
        body = client.get(f"/collections/incidents/items?{query}", headers=admin).json()
        return sorted(f["id"] for f in body["features"])

    first, second = sample.incident_ids
    assert ids("datetime=2026-01-05") == [first]
    assert ids("datetime=2026-01-06T00:00:00Z/..") == [second]
    assert ids("datetime=../2026-01-08T00:00:00Z") == [first, second]
    body = client.get(f"/collections/incidents/items/{first}", headers=admin).json()
    assert "reporter" not in body["properties"]  # no reporter identity in OGC output


def test_grid_worker_sees_only_their_grid(client: TestClient, login: Any, sample: Sample) -> None:
    worker = login("wang", role=Role.GRID_WORKER, grid_codes=["A-01"])
    features = _walk(client, "/collections/buildings/items?limit=3", worker)
    assert {f["properties"]["grid_code"] for f in features} == {"A-01"}
    assert len(features) == sample.buildings_per_cell["A-01"]
    first = client.get("/collections/buildings/items?limit=1", headers=worker).json()
    assert first["numberMatched"] == sample.buildings_per_cell["A-01"]
    cells = client.get("/collections/grid-cells/items", headers=worker).json()
    assert [f["properties"]["code"] for f in cells["features"]] == ["A-01"]
    other = sample.incident_ids[1]  # in B-01
    assert client.get(f"/collections/incidents/items/{other}", headers=worker).status_code == 404
    incidents = client.get("/collections/incidents/items", headers=worker).json()
    assert [f["id"] for f in incidents["features"]] == [sample.incident_ids[0]]


def test_street_scoped_commander(client: TestClient, login: Any, sample: Sample) -> None:
    commander = login("zhao", role=Role.COMMANDER, divisions=["110101002"])
    body = client.get("/collections/buildings/items?limit=1", headers=commander).json()
    assert body["numberMatched"] == sample.building_count - sample.buildings_a


def test_divisions_have_integer_ids(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    body = client.get("/collections/streets/items", headers=admin).json()
    assert sorted(f["id"] for f in body["features"]) == [110101001, 110101002]
    one = client.get("/collections/streets/items/110101002", headers=admin).json()
    assert one["properties"]["name"] == "景山街道"
