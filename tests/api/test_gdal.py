"""GDAL's OAPIF driver (Debian gdal-bin 3.6) against a live server on committed sample data."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis.auth import Role, create_user, issue_api_key
from gis.settings import Settings
from tests.api.live import live_server
from tests.api.ogc_sample import Sample, load_sample

OGRINFO = shutil.which("ogrinfo") or "/usr/bin/ogrinfo"
pytestmark = pytest.mark.skipif(not Path(OGRINFO).exists(), reason="gdal-bin is not installed")


@pytest.fixture
def committed(db: Engine) -> Iterator[tuple[Sample, str]]:
    """The sample city committed (the server's own sessions must see it), plus an API key."""
    with Session(db) as session:
        sample = load_sample(session)
        machine = create_user(session, username="gdal-client", role=Role.ANALYST)
        key = issue_api_key(session, machine)
        session.commit()
    yield sample, key


@pytest.fixture
def server(settings: Settings, committed: tuple[Sample, str]) -> Iterator[str]:
    # page_max_items below GDAL 3.6's limit=10 forces the server to clamp and GDAL to page.
    live = settings.model_copy(update={"anonymous_read": True, "page_max_items": 7})
    with live_server(live) as url:
        yield url


def _ogrinfo(*args: str) -> str:
    result = subprocess.run(
        [OGRINFO, "-ro", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ogrinfo_lists_the_anonymous_collections(server: str) -> None:
    out = _ogrinfo("-so", f"OAPIF:{server}/")
    layers = set(re.findall(r"^\d+: (\S+)", out, flags=re.MULTILINE))
    # Anonymous read opens the non-personal layers; incidents (reporters, photos) stay closed.
    assert {"streets", "communities", "grid-cells", "buildings", "facilities"} <= layers
    assert "incidents" not in layers


def test_ogrinfo_reads_every_building_through_paging(
    server: str, committed: tuple[Sample, str]
) -> None:
    sample, key = committed
    out = _ogrinfo("-al", "-q", f"OAPIF:{server}/?api_key={key}", "buildings")
    codes = re.findall(r"^\s+code \(String\) = (B\d{4})$", out, flags=re.MULTILINE)
    assert sorted(codes) == [f"B{i:04d}" for i in range(sample.building_count)]
    summary = _ogrinfo("-al", "-so", f"OAPIF:{server}/?api_key={key}", "buildings")
    assert f"Feature Count: {sample.building_count}" in summary
    assert "floors: Integer" in summary
