"""Property-based check of the whole API against its own OpenAPI document (schemathesis).

Each operation gets a bounded number of generated requests, sent as a logged-in admin to a
live server on the test database. A request may be refused (4xx) but must never produce a
5xx, and every response must match its declared content type and schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from gis.auth import Role, create_user, login
from gis.settings import Settings
from tests.api.live import live_server

# The OpenAPI document needs no database: build it once at collection to list the operations.
_OPENAPI = create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
SCHEMA = schemathesis.openapi.from_dict(_OPENAPI).exclude(
    path_regex=r"^/incidents/events$"  # the live stream never ends; see test_events.py
)
OPERATIONS = sorted(result.ok().label for result in SCHEMA.get_all_operations())
EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    with live_server(Settings(database_url=database_url, gridgis_home=home)) as url:
        yield url


@pytest.fixture
def admin_headers(db: Engine) -> dict[str, str]:
    """A committed admin (the `db` fixture empties every table after each operation)."""
    with Session(db) as session, session.begin():
        create_user(session, username="fuzz-admin", password="correct horse", role=Role.ADMIN)
    with Session(db) as session, session.begin():
        token = login(session, "fuzz-admin", "correct horse")
    return {"Authorization": f"Bearer {token}"}


def test_the_api_has_operations_to_check() -> None:
    # The checked list follows the app's routes; these stand for each family of them.
    for label in (
        "GET /collections/{collectionId}/items",
        "GET /divisions",
        "POST /auth/token",
        "POST /open311/v2/requests.{fmt}",
    ):
        assert label in OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_errors_and_responses_match_the_schema(
    label: str, server: str, admin_headers: dict[str, str]
) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server, headers=admin_headers, checks=CHECKS, timeout=30)

    check()
