"""Residents over HTTP: masked by default, audited unmasking, grid scope, suppressed counts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.audit import AuditRecord
from gis.auth import Role
from tests.api.conftest import key_headers
from tests.api.ogc_sample import load_sample

PROBLEM = "application/problem+json"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(birth: str, seq: int) -> str:
    """A valid Dongcheng ID number (GB 11643 check digit computed independently)."""
    body = f"110101{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


@pytest.fixture
def people(session: Session) -> dict[str, dict[str, str]]:
    """Users with API keys (no password hashing: the tests stay fast)."""

    def login(name: str, **user: Any) -> dict[str, str]:
        return key_headers(session, name, **user)

    load_sample(session)
    return {
        "registrar": login("reg", role=Role.ADMIN, divisions=["110101"]),
        "auditor": login("aud", role=Role.ADMIN, can_unmask=True),
        "wang": login("wang", role=Role.GRID_WORKER, grid_codes=["A-01"]),
        "li": login("li", role=Role.GRID_WORKER, grid_codes=["A-02"]),
        "ana": login("ana", role=Role.ANALYST),
    }


def _register(client: TestClient, headers: dict[str, str], i: int, building: str) -> Any:
    return client.post(
        "/residents",
        json={
            "id_number": make_id("19850612", 10 + i),
            "name": f"王小{i}明",
            "phone": f"1381234{i:04d}",
            "building": building,
            "unit_label": "1-101",
        },
        headers=headers,
    )


def test_register_list_get_masked_and_scoped(client: TestClient, people: Any) -> None:
    # B0000 is in cell A-01, B0009 in A-02 (sample lattice).
    made = _register(client, people["registrar"], 1, "B0000")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["id_number"] == "1101**********" + make_id("19850612", 11)[-4:]
    assert body["phone"] == "138****0001" and body["name"] == "王**明" and body["masked"]
    _register(client, people["registrar"], 2, "B0009").raise_for_status()

    mine = client.get("/residents", headers=people["wang"]).json()
    assert [r["grid_code"] for r in mine] == ["A-01"]
    assert "19850612" not in mine[0]["id_number"]
    other = client.get("/residents", headers=people["li"]).json()
    assert [r["grid_code"] for r in other] == ["A-02"]
    # Asking for the other grid or the other person by id does not escape the scope.
    assert (
        client.get("/residents", headers=people["wang"], params={"grid_code": "A-02"}).json() == []
    )
    assert client.get(f"/residents/{other[0]['id']}", headers=people["wang"]).status_code == 404
    assert client.get(f"/residents/{body['id']}", headers=people["wang"]).json()["masked"]


def test_unmask_needs_the_right_and_is_audited(
    client: TestClient, session: Session, people: Any
) -> None:
    person = _register(client, people["registrar"], 3, "B0000").json()["id"]

    refused = client.get(f"/residents/{person}", headers=people["wang"], params={"unmask": True})
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    clear = client.get(
        f"/residents/{person}",
        headers=people["auditor"],
        params={"unmask": True, "purpose": "welfare visit"},
    ).json()
    assert clear["id_number"] == make_id("19850612", 13) and not clear["masked"]
    (record,) = session.execute(select(AuditRecord).where(AuditRecord.action == "unmask")).scalars()
    assert (record.actor, record.target_id) == ("aud", str(person))
    assert record.detail["purpose"] == "welfare visit"


def test_bad_resident_is_refused_with_the_field_and_reason(client: TestClient, people: Any) -> None:
    bad = client.post(
        "/residents",
        json={
            "id_number": "110101198506120101",
            "name": "张三",
            "building": "B0000",
            "unit_label": "1",
        },
        headers=people["registrar"],
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert "id_number: check digit should be" in bad.json()["detail"]
    elsewhere = _register(client, people["wang"], 4, "B0009")  # A-02 is not wang's grid
    assert elsewhere.status_code == 422 and "building" in elsewhere.json()["detail"]


def test_analysts_get_suppressed_counts_only(client: TestClient, people: Any) -> None:
    for i in range(6):
        _register(client, people["registrar"], 10 + i, "B0000").raise_for_status()
    _register(client, people["registrar"], 20, "B0009").raise_for_status()

    assert client.get("/residents", headers=people["ana"]).status_code == 403
    counts = {
        c["key"]: c["residents"]
        for c in client.get("/residents/counts", headers=people["ana"]).json()
    }
    assert counts == {"A-01": 6, "A-02": None}  # one person in A-02: suppressed (< 5)
