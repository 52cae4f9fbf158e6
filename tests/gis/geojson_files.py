"""GeoJSON test files written on the fly (bad and good inputs for the importers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def feature(geom: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geom}


def write_json(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` as UTF-8 JSON to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
