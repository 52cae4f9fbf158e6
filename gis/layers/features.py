"""Single-feature reads and writes of buildings, facilities and components (the API's CRUD).

Reads are limited to the caller's scope (`Principal.scope_clause`); a feature outside it is
"not found", so its existence is not revealed. Creates and updates go through the import
pipeline (`gis.layers.imports.import_features`): the same checks, the same per-row report,
membership assigned on the way.
"""

from __future__ import annotations

import uuid
from typing import Any

import shapely
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gis.auth import Permission, Principal
from gis.errors import ConflictError, InvalidInputError, NotFoundError
from gis.layers.exports import COLUMNS, COMMON, layer_select, model_of, scope_of
from gis.layers.import_checks import ImportLayer
from gis.layers.imports import import_features
from gis.settings import Settings

API_SOURCE = "api"
# Read-only attributes: computed or owned by the system, never taken from a request body.
_DERIVED = frozenset(
    {"footprint_m2", "dwellings_estimated", "street_code", "grid_code", "source", "synthetic"}
)


def _feature(row: Any, layer: ImportLayer) -> dict[str, Any]:
    names = [*COLUMNS[layer], *COMMON]
    properties = dict(zip(names, row[1:-1], strict=True))
    for key in ("initial_date", "change_date"):
        if properties.get(key) is not None:
            properties[key] = str(properties[key])
    geometry = shapely.geometry.mapping(shapely.from_wkb(bytes(row[-1])))
    return {"type": "Feature", "id": row[0], "geometry": geometry, "properties": properties}


def list_features(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Return one page of a layer as a GeoJSON FeatureCollection (EPSG:4326), ordered by id."""
    kind = ImportLayer(layer)
    stmt = layer_select(kind, principal, bbox=bbox)
    matched = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.limit(limit).offset(offset)).all()
    return {
        "type": "FeatureCollection",
        "numberMatched": int(matched),
        "numberReturned": len(rows),
        "features": [_feature(r, kind) for r in rows],
    }


def get_feature(
    session: Session, layer: ImportLayer | str, principal: Principal, feature_id: int
) -> dict[str, Any]:
    """Return one feature, or raise NotFoundError (also when it is outside the scope)."""
    kind = ImportLayer(layer)
    model = model_of(kind)
    row = session.execute(layer_select(kind, principal).where(model.id == feature_id)).one_or_none()
    if row is None:
        raise NotFoundError(kind.value, feature_id)
    return _feature(row, kind)


def _id_by_key(session: Session, layer: ImportLayer, source: str, key: str) -> int:
    model = model_of(layer)
    if layer is ImportLayer.COMPONENT:
        where = model.obj_id == key  # type: ignore[union-attr]
    else:
        where = (model.source == source) & (model.source_id == key)
    return int(session.execute(select(model.id).where(where)).scalar_one())


def _writable(feature: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInputError("the body must be a GeoJSON Feature")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidInputError("properties must be an object")
    return {k: v for k, v in properties.items() if k not in _DERIVED}


def create_feature(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    feature: dict[str, Any],
    *,
    crs: str = "wgs84",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate and insert one feature (source ``api``); return it as stored."""
    kind = ImportLayer(layer)
    properties = _writable(feature)
    properties.pop("id", None)
    if kind is not ImportLayer.COMPONENT:
        key = properties.get("source_id") or properties.get("code") or uuid.uuid4().hex
        properties["source_id"] = str(key)
        if _exists(session, kind, API_SOURCE, str(key)):
            raise ConflictError(f"{kind.value} with key {key!r} exists; update it instead")
    body = {"type": "Feature", "properties": properties, "geometry": feature.get("geometry")}
    import_features(
        session, kind, [body], source=API_SOURCE, principal=principal, crs=crs, settings=settings
    )
    key = str(properties["obj_id" if kind is ImportLayer.COMPONENT else "source_id"])
    return get_feature(session, kind, principal, _id_by_key(session, kind, API_SOURCE, key))


def _exists(session: Session, layer: ImportLayer, source: str, key: str) -> bool:
    model = model_of(layer)
    stmt = select(model.id).where((model.source == source) & (model.source_id == key))
    return session.execute(stmt).first() is not None


def update_feature(
    session: Session,
    layer: ImportLayer | str,
    principal: Principal,
    feature_id: int,
    feature: dict[str, Any],
    *,
    crs: str = "wgs84",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Change the given properties and/or geometry of a feature; return it as stored.

    Properties left out keep their values; an estimated dwelling count is re-estimated when
    floors or the footprint change and no count is given.
    """
    kind = ImportLayer(layer)
    principal.require(Permission.WRITE_LAYERS)
    current = get_feature(session, kind, principal, feature_id)
    changes = _writable(feature)
    merged = {
        k: v
        for k, v in current["properties"].items()
        if k not in _DERIVED
        and not (k == "dwellings" and current["properties"].get("dwellings_estimated"))
    }
    merged.update(changes)
    source = str(current["properties"]["source"] or API_SOURCE)
    merged["source_id"] = current["properties"]["source_id"]
    if kind is ImportLayer.COMPONENT and merged.get("obj_id") != current["properties"]["obj_id"]:
        raise InvalidInputError("obj_id identifies a component and cannot change")
    body = {"type": "Feature", "properties": merged, "geometry": feature.get("geometry")}
    if body["geometry"] is None:
        body["geometry"] = current["geometry"]
        crs = "wgs84"
    import_features(
        session, kind, [body], source=source, principal=principal, crs=crs, settings=settings
    )
    return get_feature(session, kind, principal, feature_id)


def delete_feature(
    session: Session, layer: ImportLayer | str, principal: Principal, feature_id: int
) -> None:
    """Delete one feature in the caller's scope, or raise NotFoundError."""
    kind = ImportLayer(layer)
    principal.require(Permission.WRITE_LAYERS)
    model = model_of(kind)
    readable = select(model.id).outerjoin(model.membership).where(scope_of(model, principal))
    result = session.execute(delete(model).where(model.id == feature_id, model.id.in_(readable)))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(kind.value, feature_id)
