"""A worker's short memory of credentials it has already checked against the database.

Every API request carries a token or key; looking it up costs a query and an ORM load, which
on a vector tile was a third of the worker's time. A worker therefore trusts a credential it
checked less than ``ttl_s`` seconds ago (never past a token's own expiry). Changes made in
this process (a new API key) clear the memory at once; changes made elsewhere (another worker,
the CLI) take effect within ``ttl_s``. ``ttl_s = 0`` checks every request.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gis.auth import Principal

_ALL_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


class PrincipalCache:
    """Principals by credential digest, each valid until its deadline (monotonic clock)."""

    def __init__(self, ttl_s: float, *, max_entries: int = 10_000) -> None:
        self.ttl_s = max(0.0, float(ttl_s))
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        _ALL_CACHES.add(self)

    def get(self, digest: str) -> Principal | None:
        """Return the remembered principal, or None when unknown or stale."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        deadline, principal = entry
        if time.monotonic() >= deadline:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, expires_at: datetime | None = None) -> None:
        """Remember ``principal`` for ``ttl_s`` seconds, or until ``expires_at`` if sooner."""
        if self.ttl_s <= 0:
            return
        ttl = self.ttl_s
        if expires_at is not None:
            ttl = min(ttl, (expires_at - datetime.now(expires_at.tzinfo)).total_seconds())
            if ttl <= 0:
                return
        with self._lock:
            self._entries[digest] = (time.monotonic() + ttl, principal)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (after a credential or user changed)."""
        with self._lock:
            self._entries.clear()


def forget_checked_credentials() -> None:
    """Clear every cache of this process: call after changing keys, tokens or users."""
    for cache in list(_ALL_CACHES):
        cache.clear()
