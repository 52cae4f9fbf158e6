"""Planner edits on a plan's cells: split, merge, move a building, redraw a shared edge.

Pure shapely on a metric CRS (the street's Gauss-Krüger zone). Each function takes the cells
as a mapping code -> Polygon and returns the changed cells only; the plan store writes them as
a new version. Edits never leave a cell in several pieces or lose area: each result is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split

from gis.errors import InvalidGeometryError, InvalidInputError

Cells = Mapping[str, Polygon]
# Shared edges are found with this tolerance (metres): vertices of neighbours rarely coincide
# exactly after reprojection.
EDGE_TOLERANCE_M = 0.05
AREA_TOLERANCE_M2 = 1.0


def _single_polygon(geom: BaseGeometry, what: str) -> Polygon:
    """Return ``geom`` as one Polygon, dropping slivers below 1 m²; else refuse the edit."""
    if isinstance(geom, Polygon):
        return geom
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon)]
    big = [p for p in parts if p.area >= AREA_TOLERANCE_M2]
    if len(big) != 1:
        raise InvalidGeometryError(
            f"{what} would fall into {len(big)} separate pieces; a cell must be one polygon"
        )
    return big[0]


def _cell(cells: Cells, code: str) -> Polygon:
    try:
        return cells[code]
    except KeyError:
        raise InvalidInputError(f"cell {code} is not in this plan") from None


def _neighbours(a: Polygon, b: Polygon) -> bool:
    shared = a.buffer(EDGE_TOLERANCE_M).intersection(b.buffer(EDGE_TOLERANCE_M))
    return bool(shared.area > 2 * EDGE_TOLERANCE_M * 1.0 and shared.length > 1.0)


def split_cell(cells: Cells, code: str, line: LineString) -> tuple[Polygon, Polygon]:
    """Split cell ``code`` along ``line`` (metric CRS) into two cells.

    The line must cross the cell from edge to edge; the larger part keeps the code.

    Returns
    -------
    (kept, new): the part that keeps ``code`` and the part that gets a new number.
    """
    cell = _cell(cells, code)
    # Extend the line slightly so an end drawn on the edge still cuts through.
    coords = list(line.coords)
    if len(coords) < 2:
        raise InvalidInputError("a split line needs at least two points")
    pieces = shapely.get_parts(split(cell, _extend(line, 2 * EDGE_TOLERANCE_M + 1.0)))
    polys = sorted(
        (p for p in pieces if isinstance(p, Polygon) and p.area >= AREA_TOLERANCE_M2),
        key=lambda p: p.area,
        reverse=True,
    )
    if len(polys) < 2:
        raise InvalidGeometryError(f"the line does not cut cell {code} into two parts")
    if len(polys) > 2:
        raise InvalidGeometryError(
            f"the line cuts cell {code} into {len(polys)} parts; draw a line that crosses it once"
        )
    return polys[0], polys[1]


def _extend(line: LineString, by_m: float) -> LineString:
    (x0, y0), (x1, y1) = line.coords[0], line.coords[1]
    (xa, ya), (xb, yb) = line.coords[-2], line.coords[-1]

    def push(px: float, py: float, qx: float, qy: float) -> tuple[float, float]:
        dx, dy = px - qx, py - qy
        norm = (dx * dx + dy * dy) ** 0.5 or 1.0
        return px + dx / norm * by_m, py + dy / norm * by_m

    start = push(x0, y0, x1, y1)
    end = push(xb, yb, xa, ya)
    return LineString([start, *list(line.coords), end])


def merge_cells(cells: Cells, codes: list[str]) -> Polygon:
    """Merge neighbouring cells into one; the result keeps the first code.

    All cells must form one connected polygon (neighbours sharing an edge, not a corner).
    """
    if len(codes) < 2:
        raise InvalidInputError("merging needs at least two cells")
    if len(set(codes)) != len(codes):
        raise InvalidInputError("a cell is listed twice")
    geoms = [_cell(cells, c) for c in codes]
    _require_connected(codes, geoms)
    # Snap tiny gaps between neighbours so the union is one polygon, then drop the buffer.
    merged = shapely.union_all([g.buffer(EDGE_TOLERANCE_M) for g in geoms]).buffer(
        -EDGE_TOLERANCE_M
    )
    return _single_polygon(merged, f"merging {', '.join(codes)}")


def _require_connected(codes: list[str], geoms: list[Polygon]) -> None:
    """Refuse cells that do not form one edge-connected group (corners do not count)."""
    reached = {0}
    frontier = [0]
    while frontier:  # a handful of cells: a plain graph walk is clearest
        i = frontier.pop()
        for j in range(len(geoms)):
            if j not in reached and _neighbours(geoms[i], geoms[j]):
                reached.add(j)
                frontier.append(j)
    if len(reached) != len(geoms):
        apart = ", ".join(c for k, c in enumerate(codes) if k not in reached)
        raise InvalidGeometryError(
            f"cells {apart} share no edge with {codes[0]}; merging would give separate pieces"
        )


def move_area(
    cells: Cells, region: BaseGeometry, *, from_code: str, to_code: str
) -> tuple[Polygon, Polygon]:
    """Move ``region`` (e.g. a building's plot) from one cell to a neighbouring cell.

    Returns the new (from, to) polygons. Refused when the cells are not neighbours, the region
    is not in ``from_code``, or either cell would fall apart.
    """
    source, target = _cell(cells, from_code), _cell(cells, to_code)
    if not _neighbours(source, target):
        raise InvalidInputError(f"cells {from_code} and {to_code} are not neighbours")
    moved = region.intersection(source)
    if moved.area < AREA_TOLERANCE_M2:
        raise InvalidInputError(f"the building is not inside cell {from_code}")
    new_source = _single_polygon(source.difference(moved), f"cell {from_code}")
    new_target = _single_polygon(
        shapely.union_all([target.buffer(EDGE_TOLERANCE_M), moved.buffer(EDGE_TOLERANCE_M)]).buffer(
            -EDGE_TOLERANCE_M
        ),
        f"cell {to_code}",
    )
    return new_source, new_target


def redraw_edge(
    cells: Cells, code_a: str, code_b: str, line: LineString
) -> tuple[Polygon, Polygon]:
    """Replace the shared edge of two neighbours with ``line`` (metric CRS).

    The union of the two cells is cut by the new line; each side goes to the cell that held
    most of it before, so the two cells keep their identity.
    """
    a, b = _cell(cells, code_a), _cell(cells, code_b)
    if not _neighbours(a, b):
        raise InvalidInputError(f"cells {code_a} and {code_b} are not neighbours")
    union = merge_cells({code_a: a, code_b: b}, [code_a, code_b])
    first, second = split_cell({"union": union}, "union", line)
    if first.intersection(a).area + second.intersection(b).area >= (
        first.intersection(b).area + second.intersection(a).area
    ):
        return first, second
    return second, first


def as_polygon(geom: BaseGeometry) -> Polygon:
    """Return a one-part MultiPolygon or Polygon as a Polygon (cells are single polygons)."""
    if isinstance(geom, MultiPolygon) and len(geom.geoms) == 1:
        return geom.geoms[0]
    return _single_polygon(geom, "the cell")
