"""Settings: one class, every field read from the environment variable of the same name."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    # PostgreSQL runs as `postgres` when we are root, and it cannot enter /root (mode 700),
    # so root's cluster lives under /var/lib; everyone else gets an XDG data directory.
    if os.geteuid() == 0:
        return Path("/var/lib/gridgis")
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gridgis"


class Settings(BaseSettings):
    """Every field is read from the environment variable of the same name (and `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # DATABASE_URL: use this server; unset means the embedded cluster under GRIDGIS_HOME.
    database_url: str | None = None
    gridgis_home: Path = _default_home()  # GRIDGIS_HOME: embedded cluster and state
    statement_timeout_ms: int = 30_000  # STATEMENT_TIMEOUT_MS: no query holds a worker longer
    pool_timeout_s: float = 10.0  # POOL_TIMEOUT_S: wait for a free connection, then 503
    pool_size: int = 5  # POOL_SIZE: database connections each API worker keeps open
    pool_max_overflow: int = 10  # POOL_MAX_OVERFLOW: extra connections under load
    max_body_bytes: int = 2 * 1024 * 1024  # MAX_BODY_BYTES: JSON/XML request bodies
    max_upload_bytes: int = 512 * 1024 * 1024  # MAX_UPLOAD_BYTES: file uploads to */import
    page_max_items: int = 10_000  # PAGE_MAX_ITEMS: limits above this are clamped
    page_default_items: int = 100  # PAGE_DEFAULT_ITEMS
    token_ttl_h: float = 12.0  # TOKEN_TTL_H: bearer token lifetime
    # AUTH_CACHE_S: a worker re-checks a credential it accepted after this many seconds, so a
    # key replaced or a user disabled elsewhere stops working within it (0: every request).
    auth_cache_s: float = 5.0
    # WORKER_THREADS: threads per API worker for synchronous request work (default: CPUs + 1).
    # More threads than cores only fight over the GIL: at 32 clients on 2 cores, 3 threads
    # served tiles at 346-376 req/s (p99 180 ms), the 40-thread default 159-187 (p99 470-640).
    worker_threads: int | None = None
    # MAX_IN_FLIGHT: requests one API worker works on at once; the rest wait, first come first
    # served, without holding a thread or a connection (default: threads + 1; never more than
    # POOL_SIZE + POOL_MAX_OVERFLOW). Admitting more only makes them share the GIL and the
    # database's cores, which stretches every one: at 32 clients on 2 cores (bench/api.py),
    # 15 in flight gave items p99 194-223 ms and tiles 139-184 ms, 4 in flight 138-208 and
    # 101-115 ms at higher throughput.
    max_in_flight: int | None = None
    # ANONYMOUS_READ: let anyone read non-personal layers (OGC API, tiles, divisions).
    anonymous_read: bool = False
    ogc_exact_count_max: int = 100_000  # OGC_EXACT_COUNT_MAX: above this numberMatched is estimated
    sse_heartbeat_s: float = 15.0  # SSE_HEARTBEAT_S: keeps proxies from closing idle streams
    # MAP_TILES_URL: basemap tiles of the maps ({z}/{x}/{y}, e.g. an intranet tile server);
    # unset draws the maps' own layers on a plain background (works on any network).
    map_tiles_url: str | None = None
    map_tiles_attribution: str = "© OpenStreetMap contributors"  # MAP_TILES_ATTRIBUTION

    # Incident intake: a report of the same minor class this close, this recent, is a duplicate.
    duplicate_radius_m: float = 50.0  # DUPLICATE_RADIUS_M
    duplicate_window_h: float = 24.0  # DUPLICATE_WINDOW_H
    # RESIDENT_SMALL_CELL_MIN: aggregate groups smaller than this are suppressed for analysts.
    resident_small_cell_min: int = 5
    # Layer imports: gross floor area per dwelling when dwellings are estimated as
    # footprint x floors / DWELLING_SIZE_M2, and rows per streamed chunk.
    dwelling_size_m2: float = 90.0  # DWELLING_SIZE_M2
    import_chunk_rows: int = 50_000  # IMPORT_CHUNK_ROWS

    # Encryption key for resident ID numbers and phones (base64, 32 bytes). The embedded
    # default writes one to GRIDGIS_HOME on first use; production must set it.
    gridgis_secret_key: str | None = None

    @field_validator("database_url", mode="before")
    @classmethod
    def _use_psycopg3(cls, value: object) -> object:
        if not isinstance(value, str) or not value:
            return value or None
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                return value.replace(scheme, "postgresql+psycopg://", 1)
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (tests build their own `Settings`)."""
    return Settings()
