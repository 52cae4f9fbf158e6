"""The command line: boundary import reports, the demo, users and keys."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from shapely.geometry import mapping
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.auth import authenticate, login
from gis.cli import main
from tests.gis.geojson_files import feature, feature_collection, write_json
from tests.gis.test_boundaries import BOWTIE, DONGCHENG, GOOD


def test_cli_reports_each_bad_feature_as_json_and_exits_1(
    cli_env: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "boundaries", str(DONGCHENG)]) == 0
    path = write_json(
        tmp_path,
        "bad.geojson",
        feature_collection([GOOD, feature(mapping(BOWTIE), code="110101998000", Name="自交街道")]),
    )
    capsys.readouterr()

    code = main(["import", "boundaries", str(path), "--json"])

    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["ok"] is False
    assert out["problems"][0]["index"] == 1
    assert out["problems"][0]["code"] == "110101998"
    assert out["problems"][0]["name"] == "自交街道"
    with cli_env.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM division")).scalar() == 1


def test_cli_demo_tells_the_whole_story_on_two_streets(
    cli_env: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--no-serve", "--limit-streets", "2", "--incidents", "60", "--sites", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    with cli_env.connect() as conn:
        streets = conn.execute(text("SELECT count(*) FROM division WHERE level = 'street'"))
        assert streets.scalar() == 32  # every real street is imported, two are worked on
        active = conn.execute(
            text("SELECT street_code FROM grid_plan WHERE status = 'active' ORDER BY 1")
        ).scalars()
        assert list(active) == ["110101001", "110101002"]
        workerless = conn.execute(
            text(
                "SELECT count(*) FROM grid_cell c JOIN grid_plan p ON p.id = c.plan_id"
                " WHERE p.status = 'active' AND c.worker_id IS NULL"
            )
        )
        assert workerless.scalar() == 0
        open_cases = conn.execute(
            text("SELECT count(*) FROM incident WHERE status NOT IN ('closed', 'cancelled')")
        ).scalar()
        runs = conn.execute(text("SELECT count(*) FROM coverage_run")).scalar()
    assert runs == 1
    assert f"incidents open {open_cases:,}" in out
    for name in ("grid", "incidents", "coverage"):
        page = tmp_path / f"{name}.html"
        assert page.stat().st_size > 10_000
        assert str(page.resolve()) in out.replace("\n", "")
    assert (tmp_path / "vendor").is_dir()
    assert "residents with every category within its circle" in out
    assert "Suggested site" in (tmp_path / "coverage.html").read_text()  # the siting picks


def test_cli_users_add_and_machine_key(
    cli_env: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough secret\n"))
    assert (
        main(
            [
                "users",
                "add",
                "wang",
                "--role",
                "grid_worker",
                "--grid",
                "110101001001001",
                "--password-stdin",
            ]
        )
        == 0
    )
    assert main(["users", "add", "bot", "--role", "commander", "--machine"]) == 0

    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("ggk_")
    with Session(cli_env) as session:
        assert authenticate(session, key).username == "bot"
        token = login(session, "wang", "long enough secret")
        assert authenticate(session, token).grid_codes == ("110101001001001",)
