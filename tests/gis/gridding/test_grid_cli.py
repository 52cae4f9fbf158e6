"""``gridgis synth buildings`` and ``gridgis grid …`` end to end on a committed database."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import Engine, text

from gis.cli import main
from tests.conftest import PROJECT_DATA

STREET = "110101011"


@pytest.fixture
def cli_env(cli_env: Engine) -> Engine:
    """The shared CLI database, with Dongcheng's boundaries imported through the CLI."""
    beijing = PROJECT_DATA / "boundaries" / "beijing"
    assert main(["import", "boundaries", str(beijing / "districts/dongcheng-outline.geojson")]) == 0
    assert main(["import", "boundaries", str(beijing / "subdistricts/dongcheng-all.geojson")]) == 0
    return cli_env


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_synth_generate_validate_export_activate(
    cli_env: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["synth", "buildings", "--street", STREET, "--seed", "5"]) == 0
    assert "synthetic buildings" in capsys.readouterr().out
    with cli_env.connect() as conn:
        synthetic, households = conn.execute(
            text("SELECT count(*) FILTER (WHERE synthetic), sum(households) FROM building")
        ).one()
    assert synthetic > 100 and households > 1000

    assert main(["grid", "generate", "--street", STREET, "--json"]) == 0
    (result,) = _json(capsys)  # type: ignore[misc]
    plan_id = result["plan_id"]
    assert result["in_band"] == result["basic_cells"] > 0

    assert main(["grid", "validate", str(plan_id), "--json"]) == 0
    assert _json(capsys)["ok"] is True  # type: ignore[index]

    gpkg, geojson = tmp_path / "plan.gpkg", tmp_path / "plan.geojson"
    assert main(["grid", "export", str(plan_id), "-o", str(gpkg)]) == 0
    assert main(["grid", "export", str(plan_id), "-o", str(geojson)]) == 0
    capsys.readouterr()
    cells = gpd.read_file(gpkg, layer="grid_cell")
    assert len(cells) == result["cells"]
    assert {"code", "households", "compactness", "road_share", "plan_version"} <= set(cells)
    assert cells["households"].sum() == households
    assert len(gpd.read_file(geojson)) == len(cells)

    assert main(["grid", "activate", str(plan_id), "--json"]) == 0
    assert _json(capsys)["status"] == "active"  # type: ignore[index]
    with cli_env.connect() as conn:
        missing = conn.execute(
            text(
                "SELECT count(*) FROM building b"
                " LEFT JOIN building_membership m ON m.id = b.id WHERE m.grid_code IS NULL"
            )
        ).scalar_one()
    assert missing == 0


def _neighbours(engine: Engine, plan_id: int) -> tuple[str, str]:
    from sqlalchemy.orm import Session

    from gis.gridding.store import load_cells

    with Session(engine) as session:
        cells = load_cells(session, plan_id).to_crs(4548)
    geoms = dict(zip(cells["code"], cells.geometry, strict=True))
    for a, ga in geoms.items():
        for b, gb in geoms.items():
            if a < b and ga.intersection(gb).length > 50:
                return a, b
    raise AssertionError("no neighbouring cells")


def test_edit_history_and_rollback(cli_env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", "generate", "--street", STREET, "--method", "square", "--json"]) == 0
    plan_id = _json(capsys)[0]["plan_id"]  # type: ignore[index]
    first, second = _neighbours(cli_env, plan_id)

    assert (
        main(
            [
                "grid",
                "edit",
                str(plan_id),
                "merge",
                "--code",
                first,
                "--code",
                second,
                "--base-version",
                "1",
                "--reason",
                "one worker",
                "--json",
            ]
        )
        == 0
    )
    assert _json(capsys)["changed"] == [first]  # type: ignore[index]
    assert (
        main(["grid", "rollback", STREET, "1", "--base-version", "2", "--reason", "back", "--json"])
        == 0
    )
    back = _json(capsys)
    assert main(["grid", "history", STREET, "--json"]) == 0
    history = _json(capsys)

    assert back["method"] == "rollback:1"  # type: ignore[index]
    assert [row["version"] for row in history] == [3, 2, 1]  # type: ignore[union-attr]
    assert history[0]["cells"] == history[2]["cells"]  # type: ignore[index]


def test_stale_edit_and_bad_export_name_fail_with_a_clear_message(
    cli_env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["grid", "generate", "--street", STREET, "--method", "square", "--json"]) == 0
    plan_id = _json(capsys)[0]["plan_id"]  # type: ignore[index]

    code = main(["grid", "edit", str(plan_id), "rebalance", "--base-version", "7", "--reason", "x"])
    assert code == 1
    assert "you edited version 7" in capsys.readouterr().err
    assert main(["grid", "export", str(plan_id), "-o", "cells.shp"]) == 1
    assert "use a .geojson or .gpkg" in capsys.readouterr().err
