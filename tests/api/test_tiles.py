"""Vector tiles: decode real MVT bytes, empty tiles, zoom guard rails, caps and scope."""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth import Principal, Role
from gis.ogc.collections import COLLECTIONS
from gis.ogc.tiles import TileAddress, vector_tile
from tests.api.ogc_sample import ORIGIN_LAT, ORIGIN_LON, Sample, load_sample

MVT = "application/vnd.mapbox-vector-tile"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return (x, y) of the WebMercatorQuad tile holding a point (the slippy-map formula)."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.fixture
def sample(session: Session) -> Sample:
    return load_sample(session)


def test_tile_decodes_to_the_buildings_it_covers(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    z = 14  # one tile (~2.4 km) holds the whole 1 km lattice
    x, y = tile_of(ORIGIN_LON + 0.005, ORIGIN_LAT + 0.002, z)
    assert tile_of(ORIGIN_LON, ORIGIN_LAT, z) == (x, y)
    response = client.get(
        f"/collections/buildings/tiles/WebMercatorQuad/{z}/{y}/{x}", headers=admin
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(response.content)
    features: list[dict[str, Any]] = layers["buildings"]["features"]
    assert len(features) == sample.building_count
    assert {f["properties"]["code"] for f in features} == {
        f"B{i:04d}" for i in range(sample.building_count)
    }
    assert all(f["geometry"]["type"] == "Polygon" for f in features)
    assert all(isinstance(f["id"], int) for f in features)


def test_empty_tile_is_204_and_low_zoom_is_404(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    x, y = tile_of(ORIGIN_LON + 1.0, ORIGIN_LAT + 1.0, 14)  # 100 km away
    empty = client.get(f"/collections/buildings/tiles/WebMercatorQuad/14/{y}/{x}", headers=admin)
    assert empty.status_code == 204
    x, y = tile_of(ORIGIN_LON, ORIGIN_LAT, 5)
    low = client.get(f"/collections/buildings/tiles/WebMercatorQuad/5/{y}/{x}", headers=admin)
    assert low.status_code == 404
    assert "minimum zoom" in low.json()["detail"] or "from zoom" in low.json()["detail"]
    outside = client.get("/collections/buildings/tiles/WebMercatorQuad/14/0/16384", headers=admin)
    assert outside.status_code == 404


def test_feature_cap_and_scope(session: Session, sample: Sample) -> None:
    z = 14
    x, y = tile_of(ORIGIN_LON, ORIGIN_LAT, z)
    address = TileAddress(z=z, y=y, x=x)
    buildings = COLLECTIONS["buildings"]
    capped = vector_tile(session, buildings, Principal.system(), address, feature_cap=5)
    assert len(mapbox_vector_tile.decode(capped)["buildings"]["features"]) == 5
    worker = Principal(username="w", role=Role.GRID_WORKER, grid_codes=("A-02",))
    scoped = mapbox_vector_tile.decode(vector_tile(session, buildings, worker, address))
    grids = {f["properties"]["grid_code"] for f in scoped["buildings"]["features"]}
    assert grids == {"A-02"}
    assert len(scoped["buildings"]["features"]) == sample.buildings_per_cell["A-02"]


MERCATOR_HALF_M = 20037508.342789244  # half the side of the Web Mercator square
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)


def on_tile(shape: shapely.Geometry, z: int, x: int, y: int, extent: int) -> shapely.Geometry:
    """``shape`` (EPSG:4326) in the units of tile z/x/y, y up, as mapbox_vector_tile decodes."""
    size_m = 2 * MERCATOR_HALF_M / 2**z
    west, south = -MERCATOR_HALF_M + x * size_m, MERCATOR_HALF_M - (y + 1) * size_m

    def units(xy: np.ndarray) -> np.ndarray:
        mx, my = TO_3857.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([(mx - west) / size_m * extent, (my - south) / size_m * extent])

    return shapely.transform(shape, units)


@pytest.mark.parametrize(
    ("collection_id", "table", "z"),
    [("grid-cells", "grid_cell", 11), ("buildings", "building", 13), ("buildings", "building", 14)],
)
def test_tile_geometry_sits_where_web_mercator_puts_it(
    session: Session, sample: Sample, collection_id: str, table: str, z: int
) -> None:
    # Each vertex must land within one tile unit of where pyproj's Web Mercator puts it (MVT
    # rounds to whole units), for cells and for buildings, near and far from the tile's edges.
    x, y = tile_of(ORIGIN_LON, ORIGIN_LAT, z)
    address = TileAddress(z, y, x)
    data = vector_tile(session, COLLECTIONS[collection_id], Principal.system(), address)
    decoded = mapbox_vector_tile.decode(data)[collection_id]
    extent = decoded["extent"]
    rows = session.execute(text(f"SELECT id, ST_AsBinary(geom) FROM {table}")).all()
    stored = {int(fid): shapely.from_wkb(bytes(wkb)) for fid, wkb in rows}
    whole_tile = shapely.box(0, 0, extent, extent)
    compared = 0
    for feature in decoded["features"]:
        expected = on_tile(stored[feature["id"]], z, x, y, extent)
        if not whole_tile.contains(expected):
            continue  # clipped at the tile edge: compare only features the tile holds whole
        got = shapely.geometry.shape(feature["geometry"])
        assert shapely.hausdorff_distance(got, expected) <= 1.0 + 1e-9, feature["id"]
        compared += 1
    assert compared >= len(decoded["features"]) // 2 > 0


def test_incident_tiles_leave_out_long_texts(session: Session, sample: Sample) -> None:
    x, y = tile_of(ORIGIN_LON, ORIGIN_LAT, 14)
    data = vector_tile(session, COLLECTIONS["incidents"], Principal.system(), TileAddress(14, y, x))
    features = mapbox_vector_tile.decode(data)["incidents"]["features"]
    assert len(features) == 2
    assert all("description" not in f["properties"] for f in features)
    assert {f["properties"]["reported_at"][:10] for f in features} == {"2026-01-05", "2026-01-07"}


def test_tileset_is_ogc_and_tilejson(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    body = client.get("/collections/buildings/tiles/WebMercatorQuad", headers=admin).json()
    assert body["tilejson"] == "3.0.0"
    assert body["minzoom"] == COLLECTIONS["buildings"].min_zoom
    assert body["tiles"][0].endswith("/collections/buildings/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert body["vector_layers"][0]["id"] == "buildings"
    assert body["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert all({"href", "rel", "type"} <= set(link) for link in body["links"])
    listing = client.get("/collections/buildings/tiles", headers=admin).json()
    assert listing["tilesets"][0]["dataType"] == "vector"
