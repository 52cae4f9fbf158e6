"""Admission control: how many requests a worker works on at once, and who waits."""

from __future__ import annotations

import anyio
import httpx2 as httpx

from api.app import admitted_requests
from api.limits import Admission
from gis.settings import Settings


class _Gauge:
    """ASGI app that answers after a pause and records how many requests were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.order: list[str] = []

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.order.append(scope["path"])
        await anyio.sleep(0.02)
        self.inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _storm(app: Admission, paths: list[str]) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def one(path: str) -> None:
            statuses.append((await client.get(path)).status_code)

        async with anyio.create_task_group() as tasks:
            for path in paths:
                tasks.start_soon(one, path)
                await anyio.sleep(0.001)  # arrive in this order
    return statuses


def test_admission_lets_in_at_most_the_cap_and_the_rest_in_arrival_order() -> None:
    gauge = _Gauge()
    paths = [f"/r{i}" for i in range(12)]

    statuses = anyio.run(_storm, Admission(gauge, max_in_flight=3), paths)

    assert statuses == [200] * 12
    assert gauge.most_inside == 3
    assert gauge.order == paths


def test_exempt_paths_are_not_counted() -> None:
    gauge = _Gauge()

    anyio.run(_storm, Admission(gauge, max_in_flight=1, exempt=("/events",)), ["/events"] * 5)

    assert gauge.most_inside == 5


def test_admitted_requests_default_to_threads_plus_one_within_the_pool() -> None:
    base = Settings(worker_threads=3, pool_size=5, pool_max_overflow=10)

    assert admitted_requests(base) == 4
    assert admitted_requests(base.model_copy(update={"max_in_flight": 8})) == 8
    # Never more than the pool has connections (one each), whatever is asked for.
    assert admitted_requests(base.model_copy(update={"max_in_flight": 50})) == 15
    assert admitted_requests(base.model_copy(update={"pool_size": 2, "pool_max_overflow": 0})) == 2
