"""Domain errors. Messages are safe to show a user; ``api/problems.py`` maps them to HTTP."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class GisError(Exception):
    """Base class of every error gridgis raises on purpose."""


class NotFoundError(GisError):
    """A named resource does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class ConflictError(GisError):
    """The request conflicts with the current state (stale version, illegal transition...)."""


class InvalidInputError(GisError):
    """A single argument or value is unusable."""


class InvalidGeometryError(InvalidInputError):
    """A geometry is empty, invalid or of the wrong type."""


class UnknownCrsError(InvalidInputError):
    """A CRS tag is not one of wgs84, cgcs2000, gcj02, bd09 or EPSG:n."""


class DatabaseUnavailableError(GisError):
    """The database cannot be reached or did not answer in time."""


class EmbeddedPostgresError(GisError):
    """The embedded PostgreSQL cluster could not be initialised, started or stopped."""


@dataclass(frozen=True)
class FeatureProblem:
    """One bad feature or row of an input file.

    ``index`` is 0-based for features and the 1-based line/row number for CSV rows, as ``row``.
    """

    index: int
    reason: str
    code: str | None = None
    name: str | None = None
    field: str | None = None

    def describe(self) -> str:
        """Return a one-line, human-readable description."""
        who = f"feature {self.index}"
        if self.code:
            who += f" (code {self.code}"
            who += f", {self.name})" if self.name else ")"
        elif self.name:
            who += f" ({self.name})"
        where = f" [{self.field}]" if self.field else ""
        return f"{who}{where}: {self.reason}"


@dataclass
class ImportReport:
    """What an import found: problems (nothing written when any), repairs and counts."""

    source: str
    problems: list[FeatureProblem] = field(default_factory=list)
    repairs: list[FeatureProblem] = field(default_factory=list)
    warnings: list[FeatureProblem] = field(default_factory=list)
    feature_count: int = 0
    inserted: int = 0
    updated: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing blocks the import."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready structure (the API's per-feature error report)."""
        return {
            "source": self.source,
            "ok": self.ok,
            "feature_count": self.feature_count,
            "inserted": self.inserted,
            "updated": self.updated,
            "problems": [asdict(p) for p in self.problems],
            "repairs": [asdict(p) for p in self.repairs],
            "warnings": [asdict(p) for p in self.warnings],
        }


class ImportValidationError(GisError):
    """An import found bad features; nothing was written. ``report`` lists every one."""

    def __init__(self, report: ImportReport) -> None:
        n = len(report.problems)
        lines = "\n".join(p.describe() for p in report.problems[:50])
        more = f"\n... and {n - 50} more" if n > 50 else ""
        super().__init__(
            f"{report.source}: {n} bad feature(s), nothing was imported:\n{lines}{more}"
        )
        self.report = report


class NetworkReadError(InvalidInputError):
    """A network file (OSM, GraphML, GeoPackage, line file) cannot be read as a walking network."""


class NetworkGraphError(InvalidInputError):
    """An edge table cannot become a walking graph (bad ids, lengths or geometries)."""


class CoverageInputError(InvalidInputError):
    """A reachability, isochrone, coverage or siting input is unusable (named in the message)."""


class CoordinateTransformError(InvalidInputError):
    """Coordinates cannot be transformed between two CRSs (outside the source CRS's domain)."""


class SecretKeyError(GisError):
    """The key for resident data is missing, malformed or stored unsafely (named in the message)."""


class DuplicateResidentError(ConflictError):
    """A resident with this ID number is already registered (matched by blind index)."""


class MapInputError(InvalidInputError):
    """A map input is unusable: wrong CRS, a missing column, an empty or missing geometry."""


class MapAssetsError(GisError):
    """The locally served Leaflet/plugin assets are missing, stale, or lack a linked file."""


class InvalidParameterError(InvalidInputError):
    """An OGC API query parameter is unknown or has an unusable value (400, not 422)."""


class CqlFilterError(InvalidParameterError):
    """A CQL2 filter cannot be parsed, names an unknown queryable or mixes types."""


class TileOutOfRangeError(NotFoundError):
    """A tile address lies outside the tile matrix set or below a collection's minimum zoom."""

    def __init__(self, reason: str) -> None:
        GisError.__init__(self, reason)
        self.kind = "tile"
        self.key = reason


class InvalidIdNumberError(InvalidInputError):
    """A citizen ID number (GB 11643) is malformed; ``reason`` says why, without the number."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid ID number: {reason}")
        self.reason = reason


class InvalidPhoneError(InvalidInputError):
    """A phone number is neither a mainland mobile nor a landline."""


class DecryptionError(GisError):
    """A sealed field cannot be opened: wrong key, unknown key version or tampered bytes."""


class IllegalTransitionError(ConflictError):
    """An incident action is not allowed in the incident's current state (names both)."""

    def __init__(self, message: str, *, state: str, action: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.state = state
        self.action = action
        self.allowed = allowed


class SeedDataError(InvalidInputError):
    """An editable seed-data file (class table, checklist, holiday calendar) is malformed."""


class WorkCalendarError(InvalidInputError):
    """A working-time computation is impossible: naive time, outside the calendar, bad hours."""
