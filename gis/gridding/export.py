"""Export a plan's cells with their attributes: GeoJSON or GeoPackage (EPSG:4326)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyogrio
from sqlalchemy.orm import Session

from gis.errors import InvalidInputError
from gis.gridding.store import get_plan, load_cells

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def export_plan(session: Session, plan_id: int, path: Path) -> tuple[Path, int]:
    """Write plan ``plan_id``'s cells to ``path`` (.geojson or .gpkg); return path and count.

    The file carries the plan's street, version and status on every cell, so a cell read
    back alone still says which plan it belongs to.
    """
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInputError(f"cannot export to {path.name}: use a .geojson or .gpkg file name")
    plan = get_plan(session, plan_id)
    cells = load_cells(session, plan_id).drop(columns=["id"])
    cells["street_code"] = plan.street_code
    cells["plan_version"] = plan.version
    cells["plan_status"] = plan.status
    cells["in_band"] = cells["in_band"].astype("boolean")
    cells["worker_id"] = cells["worker_id"].astype("Int64")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # GDAL appends to an existing GeoPackage otherwise
    pyogrio.write_dataframe(cells, path, driver=driver, layer="grid_cell")
    return path, len(cells)


def export_bytes(session: Session, plan_id: int, suffix: str) -> bytes:
    """Return the exported file's bytes (for HTTP responses)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = export_plan(session, plan_id, Path(tmp) / f"plan-{plan_id}{suffix}")
        return path.read_bytes()
