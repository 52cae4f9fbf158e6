"""``gridgis network import`` and ``gridgis coverage run|report|site`` end to end."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis.cli import main
from tests.gis.coverage.campus import (
    TSINGHUA,
    campus_buildings,
    campus_facilities,
    insert_buildings,
    insert_facilities,
)
from tests.gis.coverage.test_service import ASSIGN_AREAS


def test_network_import_coverage_run_report_and_site(
    cli_env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["network", "import", str(TSINGHUA), "--name", "campus", "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["name"] == "campus" and imported["edge_count"] > 1000
    assert imported["fragments"]["fragments"] >= 1
    with Session(cli_env) as session, session.begin():
        insert_buildings(session, campus_buildings(TSINGHUA))
        insert_facilities(session, campus_facilities(TSINGHUA))
        session.execute(text(ASSIGN_AREAS))

    code = main(
        [
            "coverage", "run", "--network", "campus", "--category", "kindergarten",
            "--category", "sports_ground", "--no-isochrones", "--json",
        ]
    )  # fmt: skip

    run = json.loads(capsys.readouterr().out)
    assert code == 0
    assert run["network_version"] == imported["version"]
    assert set(run["summary"]["categories"]) == {"kindergarten", "sports_ground"}
    assert run["params"]["isochrones"] is False

    assert main(["coverage", "report", str(run["id"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {a["code"] for a in report["areas"]} == {"110108001", "110108002"}
    assert all(0 <= a["share_all"] <= 1 for a in report["areas"])
    assert {"kindergarten", "sports_ground"} <= set(report["areas"][0])

    assert main(["coverage", "report", str(run["id"])]) == 0  # the rich table
    assert "110108001" in capsys.readouterr().out

    cmd = ["coverage", "site", str(run["id"]), "--category", "kindergarten", "--k", "2"]
    assert main([*cmd, "--json"]) == 0
    sites = json.loads(capsys.readouterr().out)
    assert len(sites["picks"]["features"]) == 2
    assert sites["share_after"] > sites["share_before"]

    assert main(["coverage", "delete", str(run["id"])]) == 0
    assert f"deleted 1 run(s): {run['id']}" in capsys.readouterr().out
    assert main(["coverage", "report", str(run["id"])]) == 1
    assert f"coverage run {run['id']} not found" in capsys.readouterr().err


def test_cli_errors_name_what_is_wrong(cli_env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "run", "--network", "nowhere"]) == 1
    assert "network 'nowhere' not found" in capsys.readouterr().err
    assert main(["coverage", "report", "999"]) == 1
    assert "coverage run 999 not found" in capsys.readouterr().err
    assert main(["coverage", "delete", "999"]) == 1
    assert "coverage run 999 not found" in capsys.readouterr().err
