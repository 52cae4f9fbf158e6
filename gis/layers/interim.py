"""INTERIM stand-ins for modules a colleague is writing; delete when they land.

`incident_service`, `register` and `keys` need ``gis.layers.workflow`` (states, actions,
``next_state``), ``gis.layers.worktime`` (working-time deadlines), ``gis.layers.classes``
(GB/T 30428.2 classes with time limits), ``gis.layers.idnumber`` (GB 11643) and
``gis.privacy`` (masking, AES-GCM, blind index). None existed when this was written, so this
module holds the *minimum* of each, with the names those modules were asked to export. Each
section says what it stands in for; swapping is an import change in the three callers.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gis.errors import ConflictError, InvalidInputError

# =============================================================== workflow (gis.layers.workflow)
REPORTED: Final = "reported"
FILED: Final = "filed"
CANCELLED: Final = "cancelled"
DISPATCHED: Final = "dispatched"
IN_PROGRESS: Final = "in_progress"
HANDLED: Final = "handled"
CLOSED: Final = "closed"
POSTPONED: Final = "postponed"
SUSPENDED: Final = "suspended"

STATES: Final = frozenset(
    {REPORTED, FILED, CANCELLED, DISPATCHED, IN_PROGRESS, HANDLED, CLOSED, POSTPONED, SUSPENDED}
)
INITIAL_STATE: Final = REPORTED
TERMINAL_STATES: Final = frozenset({CANCELLED, CLOSED})
OPEN_STATES: Final = tuple(sorted(STATES - TERMINAL_STATES))
PAUSED_STATES: Final = frozenset({POSTPONED, SUSPENDED})
# The handling unit's clock runs here; "handled" waits for the supervisor, not the unit.
CLOCK_RUNNING_STATES: Final = (DISPATCHED, IN_PROGRESS)

REPORT_ACTION: Final = "report"
CANCEL_ACTION: Final = "cancel"
REWORK_ACTION: Final = "rework"
RESUME_ACTION: Final = "resume"

# action -> {from state: to state}; "resume" returns to the state the case was paused in.
TRANSITIONS: Final[dict[str, dict[str, str]]] = {
    "file": {REPORTED: FILED},
    CANCEL_ACTION: {REPORTED: CANCELLED, FILED: CANCELLED},
    "dispatch": {FILED: DISPATCHED},
    "start": {DISPATCHED: IN_PROGRESS},
    "handle": {IN_PROGRESS: HANDLED, DISPATCHED: HANDLED},
    "close": {HANDLED: CLOSED},  # verification passed (核查结案)
    REWORK_ACTION: {HANDLED: DISPATCHED},  # verification failed (返工)
    "postpone": {DISPATCHED: POSTPONED, IN_PROGRESS: POSTPONED},
    "suspend": {FILED: SUSPENDED, DISPATCHED: SUSPENDED, IN_PROGRESS: SUSPENDED},
    RESUME_ACTION: {POSTPONED: "*", SUSPENDED: "*"},
}
ACTIONS: Final = frozenset(TRANSITIONS)
# Actions of the supervision/command centre; the rest (start, handle) are field actions.
DISPATCHER_ACTIONS: Final = frozenset(
    {
        "file",
        CANCEL_ACTION,
        "dispatch",
        "close",
        REWORK_ACTION,
        "postpone",
        "suspend",
        RESUME_ACTION,
    }
)


class IllegalTransitionError(ConflictError):
    """The action is not allowed in the incident's current state (HTTP 409)."""


def next_state(state: str, action: str, *, resume_to: str | None = None) -> str:
    """Return the state after ``action``, or raise IllegalTransitionError saying what is allowed.

    Examples
    --------
    >>> next_state("handled", "rework")
    'dispatched'
    """
    if action not in TRANSITIONS:
        raise IllegalTransitionError(
            f"unknown action {action!r}; actions are {sorted(TRANSITIONS)}"
        )
    target = TRANSITIONS[action].get(state)
    if target is None:
        allowed = sorted(a for a, moves in TRANSITIONS.items() if state in moves)
        raise IllegalTransitionError(
            f"cannot {action} an incident that is {state!r}; allowed: {allowed or 'nothing'}"
        )
    if target == "*":
        if resume_to is None or resume_to in PAUSED_STATES | TERMINAL_STATES:
            raise IllegalTransitionError(f"a {state} incident has no state to resume to")
        return resume_to
    return target


@dataclass(frozen=True)
class EventRow:
    """One logged transition, as the KPI function reads it."""

    incident_id: int
    action: str
    from_state: str | None
    to_state: str
    at: datetime


@dataclass
class Kpis:
    """The §4.4 indicators of one group of incidents."""

    due: int = 0  # 应结案数: cases whose clock started
    postponed: int = 0  # 缓办数
    closed: int = 0  # 结案数
    closed_on_time: int = 0  # 按期结案数
    rework: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)  # mean time in each state

    @property
    def closure_rate(self) -> float | None:
        """结案率 = 结案数 / (应结案数 − 缓办数)."""
        base = self.due - self.postponed
        return self.closed / base if base > 0 else None

    @property
    def on_time_rate(self) -> float | None:
        """按期结案率 = 按期结案数 / (应结案数 − 缓办数)."""
        base = self.due - self.postponed
        return self.closed_on_time / base if base > 0 else None


def compute_kpis(events: Iterable[EventRow], *, deadlines: dict[int, datetime | None]) -> Kpis:
    """Compute the indicators from an event log ordered by incident and time.

    A case is due once dispatched; postponed while it is still postponed; closed on time when
    its last ``handle`` before closing is at or before its (extended) deadline.
    """
    kpis = Kpis()
    spent: dict[str, list[float]] = {}
    by_incident: dict[int, list[EventRow]] = {}
    for e in events:
        by_incident.setdefault(e.incident_id, []).append(e)
    for incident_id, log in by_incident.items():
        for a, b in itertools.pairwise(log):
            spent.setdefault(a.to_state, []).append((b.at - a.at).total_seconds())
        actions = [e.action for e in log]
        if "dispatch" not in actions:
            continue
        kpis.due += 1
        kpis.rework += actions.count(REWORK_ACTION)
        if log[-1].to_state == POSTPONED:  # still 缓办 at the end of the log
            kpis.postponed += 1
        if log[-1].to_state == CLOSED:
            kpis.closed += 1
            handled = [e.at for e in log if e.action == "handle"]
            deadline = deadlines.get(incident_id)
            if deadline is None or (handled and handled[-1] <= deadline):
                kpis.closed_on_time += 1
    kpis.step_seconds = {s: sum(v) / len(v) for s, v in sorted(spent.items())}
    return kpis


# ============================================================== worktime (gis.layers.worktime)
@dataclass(frozen=True)
class WorkCalendar:
    """Working periods of a working day, holidays and swapped working days (调休)."""

    periods: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(17)))
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    tz: str = "Asia/Shanghai"

    def is_workday(self, day: date) -> bool:
        """Return True for a working day."""
        if day in self.extra_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def intervals(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """Yield working intervals (aware) from the day of ``start`` on."""
        zone = ZoneInfo(self.tz)
        day = start.astimezone(zone).date()
        for _ in range(3660):
            if self.is_workday(day):
                for a, b in self.periods:
                    yield (datetime.combine(day, a, zone), datetime.combine(day, b, zone))
            day += timedelta(days=1)


def default_calendar() -> WorkCalendar:
    """Return the weekday calendar (no holiday data in the interim)."""
    return WorkCalendar()


def add_working_time(start: datetime, amount: timedelta, *, calendar: WorkCalendar) -> datetime:
    """Return the instant ``amount`` of working time after ``start``."""
    left = amount
    for a, b in calendar.intervals(start):
        if b <= start:
            continue
        begin = max(a, start)
        if b - begin >= left:
            return (begin + left).astimezone(UTC)
        left -= b - begin
    raise InvalidInputError("working time does not fit in ten years of calendar")


def working_time(start: datetime, end: datetime, *, calendar: WorkCalendar) -> timedelta:
    """Return the working time between two instants (zero when ``end <= start``)."""
    total = timedelta()
    for a, b in calendar.intervals(start):
        if a >= end:
            break
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += hi - lo
    return total


# ================================================================ classes (gis.layers.classes)
@dataclass(frozen=True)
class EventClass:
    """A GB/T 30428.2 minor class with its time limits (working minutes) and department."""

    code: str  # major + minor
    kind: str
    name: str
    normal_limit_min: int
    urgent_limit_min: int
    department: str

    @property
    def major_code(self) -> str:
        """Two-digit major class."""
        return self.code[:2]

    @property
    def minor_code(self) -> str:
        """Two-digit minor class."""
        return self.code[2:]

    def time_limit_min(self, *, urgent: bool) -> int:
        """Working minutes allowed after dispatch."""
        return self.urgent_limit_min if urgent else self.normal_limit_min


_CLASSES: Final = {
    c.code: c
    for c in (
        # renrendoc.com/paper/191493937.html (standards §4.3): 暴露垃圾 4 working hours.
        EventClass("0101", "event", "暴露垃圾", 4 * 60, 2 * 60, "环卫"),
        EventClass("0102", "event", "积存垃圾渣土", 2 * 8 * 60, 4 * 60, "环卫"),
        EventClass("0103", "event", "道路不洁", 2 * 60, 60, "环卫"),
        EventClass("0104", "event", "私搭乱建", 20 * 8 * 60, 4 * 60, "城管执法"),
        EventClass("0105", "event", "积水", 4 * 60, 2 * 60, "排水"),
    )
}


def get_class(code: str) -> EventClass:
    """Return the class with this 4-digit code, or raise InvalidInputError."""
    try:
        return _CLASSES[code]
    except KeyError:
        raise InvalidInputError(
            f"unknown incident class {code!r}; known: {sorted(_CLASSES)}"
        ) from None


# ============================================================ idnumber (gis.layers.idnumber)
class IdNumberError(InvalidInputError):
    """An ID number is malformed; the message gives the reason."""


@dataclass(frozen=True)
class IdNumberInfo:
    """What an ID number says about its holder."""

    region: str
    birth_date: date
    sex: str  # M|F


_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK: Final = "10X98765432"
_PROVINCES: Final = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)


def parse_id_number(text: str) -> IdNumberInfo:
    """Validate an 18-character ID number (GB 11643) and return what it encodes."""
    if len(text) != 18:
        raise IdNumberError(f"an ID number has 18 characters, got {len(text)}")
    if not re.fullmatch(r"\d{17}[\dX]", text):
        raise IdNumberError("an ID number is 17 digits and a check character 0-9 or X")
    if text[:2] not in _PROVINCES:
        raise IdNumberError(f"region code {text[:6]} names no province ({text[:2]})")
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise IdNumberError(f"birth date {text[6:14]} is not a calendar date") from None
    if born.year < 1880 or born > datetime.now(UTC).date():
        raise IdNumberError(f"birth date {born.isoformat()} is not plausible")
    expected = _CHECK[sum(int(c) * w for c, w in zip(text[:17], _WEIGHTS, strict=True)) % 11]
    if text[17] != expected:
        raise IdNumberError(f"check character is {text[17]}, the digits give {expected}")
    return IdNumberInfo(text[:6], born, "M" if int(text[16]) % 2 else "F")


# ======================================================================== privacy (gis.privacy)
def mask_id_number(value: str) -> str:
    """Keep the 4-digit area prefix and the last 4 characters (hides the birth date)."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_phone(value: str) -> str:
    """Show a phone as 3 + 4 (``138****1234``)."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_name(value: str) -> str:
    """Keep the surname (and the last character of names longer than two)."""
    if len(value) <= 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(master)


class FieldCipher:
    """AES-256-GCM for single fields; the column name is authenticated data.

    Output: 1 version byte, 12-byte nonce, ciphertext with tag. A value copied into another
    column fails to decrypt instead of being shown as that column.
    """

    _VERSION: Final = b"\x01"

    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(_subkey(master, b"gridgis field encryption v1"))

    def encrypt(self, value: str, *, column: str) -> bytes:
        """Return the sealed bytes of ``value``."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), column.encode())
        return self._VERSION + nonce + sealed

    def decrypt(self, blob: bytes, *, column: str) -> str:
        """Return the clear text of a value sealed for ``column``."""
        if blob[:1] != self._VERSION:
            raise InvalidInputError("unknown ciphertext version")
        return self._aead.decrypt(blob[1:13], blob[13:], column.encode()).decode()


def blind_index(master: bytes, value: str) -> bytes:
    """Return a keyed HMAC-SHA256 of ``value`` for equality lookups without decrypting."""
    key = _subkey(master, b"gridgis blind index v1")
    return hmac.new(key, value.encode(), hashlib.sha256).digest()
