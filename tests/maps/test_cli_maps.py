"""``gridgis map …``: each map is written with its assets beside it, scoped like the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis.cli import main
from gis.settings import get_settings
from maps.assets import vendor_ready
from tests.maps.city import City, load_city
from tests.maps.test_routes import EXTERNAL

pytestmark = pytest.mark.usefixtures("vendor")


@pytest.fixture
def city(db: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[City]:
    """The city, committed (the CLI opens its own connection); DATABASE_URL points at it."""
    with Session(db) as session, session.begin():
        loaded = load_city(session)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield loaded
    get_settings.cache_clear()


def _written(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    assert '<script src="vendor/leaflet/leaflet.js"></script>' in html
    assert EXTERNAL.search(html) is None
    assert vendor_ready(path.parent / "vendor")
    return html


def test_map_grid_writes_an_offline_file(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = sorted(city.streets)
    out = tmp_path / "grid.html"

    assert main(["map", "grid", "--street", first, "--out", str(out)]) == 0

    html = _written(out)
    assert all(f'"{code}"' in html for code in city.cells[first])
    assert not any(f'"{code}"' in html for code in city.cells[second])
    assert "/collections/buildings" not in html  # nothing to fetch from a file
    assert f"wrote {out}" in capsys.readouterr().out


def test_map_incidents_embeds_the_cases(city: City, tmp_path: Path) -> None:
    out = tmp_path / "incidents.html"

    assert main(["map", "incidents", "--district", "110101", "--out", str(out)]) == 0

    html = _written(out)
    assert "leaflet-realtime" not in html  # a file has no live source
    for incident_id in city.incident_grid:
        assert f'"id": {incident_id},' in html
    assert f"{len(city.overdue_ids)} overdue" in html


def test_map_coverage_of_one_category(city: City, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "coverage.html"

    assert main(["map", "coverage", "--category", "primary_school", "--out", str(out)]) == 0

    html = _written(out)
    assert "(primary_school)" in html
    assert "(kindergarten)" not in html


def test_map_as_a_grid_worker_is_scoped(city: City, tmp_path: Path) -> None:
    out = tmp_path / "mine.html"

    assert main(["map", "grid", "--as", "wang", "--out", str(out)]) == 0

    html = _written(out)
    every = [code for codes in city.cells.values() for code in codes]
    assert [code for code in every if f'"{code}"' in html] == [city.worker_grid]


def test_map_errors_name_the_problem(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.html"

    code = main(["map", "coverage", "--as", "wang", "--out", str(out)])
    missing = main(["map", "grid", "--street", "110101999", "--out", str(out)])

    err = capsys.readouterr().err
    assert (code, missing) == (1, 1)
    assert "may not read coverage" in err
    assert "110101999" in err
    assert not out.exists()
