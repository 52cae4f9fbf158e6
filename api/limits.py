"""Limits enforced before a request reaches a route: body sizes and requests in flight."""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` (``upload_max_bytes`` on upload paths) with 413.

    Content-Length is checked up front; chunked bodies are counted as they stream.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int, upload_suffix: str = "/import"
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_suffix = upload_suffix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 once the body passes the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_max_bytes if path.endswith(self.upload_suffix) else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(
            413,
            "Request body too large",
            f"the body exceeds {limit} bytes",
            "body-too-large",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    """Raised inside the app when a streamed body passes the limit."""


class Admission:
    """Let at most ``max_in_flight`` requests into the app at once; the rest wait their turn.

    Each request holds at most one pooled database connection, so admitting no more requests
    than the pool has connections means a route never waits for a connection held by a
    finished request that is itself waiting for a thread (a deadlock that ends in pool
    timeouts). Waiting here costs no thread and no connection, and requests get in first come,
    first served: fewer than the pool allows (`api.app.admitted_requests`) keeps the admitted
    ones from sharing the GIL and the database's cores with many others, which is what makes
    tail latency long under load. Long-lived streams
    (``exempt`` prefixes: the server-sent events, static files) are not counted.
    """

    def __init__(self, app: ASGIApp, *, max_in_flight: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_in_flight = max(1, max_in_flight)
        self.exempt = exempt
        self._slots: anyio.Semaphore | None = None  # made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request once a slot is free (exempt paths at once)."""
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_in_flight)
        async with self._slots:
            await self.app(scope, receive, send)
