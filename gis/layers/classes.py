"""GB/T 30428.2-style component (部件) and event (事件) classes, loaded from editable seed data.

The tables live in ``gis/data/classes/components.csv`` and ``events.csv`` (columns and
sources in the README next to them). Codes are 2-digit major + 2-digit minor class, kept as
strings; an incident's class is the 4-character ``code``. Each class carries the handling
time limits (normal and urgent, in working hours or working days) and the department cases
are dispatched to. `load_classes` checks the whole file and reports every bad row at once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

from gis.errors import InvalidInputError, SeedDataError
from gis.layers.worktime import WorkCalendar, add_working_time, default_calendar


class ClassKind(StrEnum):
    """Whether a class describes a component (a facility) or an event (a happening)."""

    COMPONENT = "component"
    EVENT = "event"


class LimitUnit(StrEnum):
    """Unit of a handling time limit."""

    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"


class Certainty(StrEnum):
    """How well a row is sourced (standards.md conventions)."""

    READ = "read"
    SECONDARY = "secondary"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class TimeLimit:
    """A handling time limit such as 4 working hours or 2 working days."""

    value: float
    unit: LimitUnit

    def working_seconds(self, calendar: WorkCalendar) -> float:
        """Return the limit in working seconds (a working day is the calendar's day)."""
        if self.unit is LimitUnit.WORKING_DAYS:
            return self.value * calendar.day_seconds
        return self.value * 3600.0

    def deadline(self, start: datetime, *, calendar: WorkCalendar) -> datetime:
        """Return the deadline of a case dispatched at ``start`` (aware)."""
        if self.unit is LimitUnit.WORKING_DAYS:
            return add_working_time(start, days=self.value, calendar=calendar)
        return add_working_time(start, hours=self.value, calendar=calendar)

    def __str__(self) -> str:
        unit = "working hours" if self.unit is LimitUnit.WORKING_HOURS else "working days"
        return f"{self.value:g} {unit}"


@dataclass(frozen=True)
class CaseClass:
    """One minor class with its major class, time limits and department."""

    kind: ClassKind
    major_code: str
    minor_code: str
    major_name: str
    major_name_en: str
    name: str
    name_en: str
    normal_limit: TimeLimit | None
    urgent_limit: TimeLimit | None
    department: str
    certainty: Certainty
    source: str
    note: str

    @property
    def code(self) -> str:
        """The 4-character class code, major + minor (e.g. ``"0102"``)."""
        return self.major_code + self.minor_code

    def time_limit(self, *, urgent: bool) -> TimeLimit | None:
        """Return the limit for an urgent or a normal case (None: the class has none)."""
        return self.urgent_limit if urgent else self.normal_limit

    def time_limit_min(self, *, urgent: bool, calendar: WorkCalendar | None = None) -> int | None:
        """Return the limit in whole working minutes, for storing with a case at intake.

        Working days are converted with ``calendar``'s day length (default: the packaged
        calendar's, 7.5 h), so the stored minutes give the same deadline as `TimeLimit.deadline`.
        """
        limit = self.time_limit(urgent=urgent)
        if limit is None:
            return None
        return round(limit.working_seconds(calendar or default_calendar()) / 60)


@dataclass(frozen=True)
class ClassTable:
    """Both class tables, keyed by 4-character code."""

    components: dict[str, CaseClass]
    events: dict[str, CaseClass]

    def get(self, code: str, *, kind: ClassKind | str = ClassKind.EVENT) -> CaseClass:
        """Return the class ``code`` of ``kind``.

        Raises
        ------
        InvalidInputError
            If there is no such class: a class code arrives as input (an intake, an import
            row), so an unknown one is bad input, not a missing resource.
        """
        table = self.events if ClassKind(kind) is ClassKind.EVENT else self.components
        try:
            return table[code]
        except KeyError:
            raise InvalidInputError(
                f"unknown {ClassKind(kind)} class {code!r}; known codes: {', '.join(sorted(table))}"
            ) from None

    def majors(self, kind: ClassKind | str = ClassKind.EVENT) -> dict[str, str]:
        """Return {major code: major name} of ``kind``, in code order."""
        table = self.events if ClassKind(kind) is ClassKind.EVENT else self.components
        return {c.major_code: c.major_name for c in sorted(table.values(), key=lambda c: c.code)}


COLUMNS: Final = (
    "major_code",
    "minor_code",
    "major_name",
    "major_name_en",
    "name",
    "name_en",
    "normal_limit",
    "normal_unit",
    "urgent_limit",
    "urgent_unit",
    "department",
    "certainty",
    "source",
    "note",
)
HOURS_PER_DAY_FOR_CHECKS: Final = 7.5
"""Day length used only to check that an urgent limit is not longer than the normal one."""
_CODE: Final = re.compile(r"[0-9]{2}")


def _limit(row: dict[str, str], prefix: str, problems: list[str], where: str) -> TimeLimit | None:
    raw, unit = row[f"{prefix}_limit"].strip(), row[f"{prefix}_unit"].strip()
    if not raw and not unit:
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{where}: {prefix}_limit {raw!r} is not a number")
        return None
    if not value > 0:
        problems.append(f"{where}: {prefix}_limit must be positive, got {raw}")
        return None
    try:
        return TimeLimit(value, LimitUnit(unit))
    except ValueError:
        problems.append(
            f"{where}: {prefix}_unit {unit!r} is not one of {[str(u) for u in LimitUnit]}"
        )
        return None


def _hours(limit: TimeLimit) -> float:
    days = limit.unit is LimitUnit.WORKING_DAYS
    return limit.value * (HOURS_PER_DAY_FOR_CHECKS if days else 1.0)


def _parse_row(
    row: dict[str, str], kind: ClassKind, where: str, problems: list[str]
) -> CaseClass | None:
    before = len(problems)
    major, minor = row["major_code"].strip(), row["minor_code"].strip()
    for column, value in (("major_code", major), ("minor_code", minor)):
        if not _CODE.fullmatch(value):
            problems.append(f"{where}: {column} must be 2 digits, got {value!r}")
    for column in ("major_name", "name", "department"):
        if not row[column].strip():
            problems.append(f"{where}: {column} is empty")
    normal = _limit(row, "normal", problems, where)
    urgent = _limit(row, "urgent", problems, where)
    if len(problems) == before:
        if (normal is None) != (urgent is None):
            problems.append(f"{where}: give both the normal and the urgent limit, or neither")
        elif kind is ClassKind.EVENT and normal is None:
            problems.append(f"{where}: an event class needs its time limits")
        elif normal is not None and urgent is not None and _hours(urgent) > _hours(normal):
            problems.append(f"{where}: urgent limit {urgent} is longer than normal {normal}")
    try:
        certainty = Certainty(row["certainty"].strip())
    except ValueError:
        problems.append(
            f"{where}: certainty {row['certainty']!r} is not one of {[str(c) for c in Certainty]}"
        )
        certainty = Certainty.UNCERTAIN
    if len(problems) > before:
        return None
    return CaseClass(
        kind=kind,
        major_code=major,
        minor_code=minor,
        major_name=row["major_name"].strip(),
        major_name_en=row["major_name_en"].strip(),
        name=row["name"].strip(),
        name_en=row["name_en"].strip(),
        normal_limit=normal,
        urgent_limit=urgent,
        department=row["department"].strip(),
        certainty=certainty,
        source=row["source"].strip(),
        note=row["note"].strip(),
    )


def read_class_table(text: str, *, kind: ClassKind, source: str) -> dict[str, CaseClass]:
    """Parse one CSV table; raise SeedDataError listing every bad row (1-based line numbers).

    Checks: the header has exactly `COLUMNS`; codes are 2 digits; a code appears once; a
    major code has one major name; limits are positive numbers in a known unit, urgent not
    longer than normal, both present or both absent (and present for events).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        raise SeedDataError(
            f"{source}: header must be {','.join(COLUMNS)}; got {','.join(header) or 'nothing'}"
        )
    problems: list[str] = []
    out: dict[str, CaseClass] = {}
    first_line: dict[str, int] = {}
    major_names: dict[str, tuple[str, int]] = {}
    for line, row in enumerate(reader, start=2):
        where = f"{source} line {line}"
        if None in row or any(v is None for v in row.values()):
            problems.append(f"{where}: expected {len(COLUMNS)} fields")
            continue
        item = _parse_row(row, kind, where, problems)
        if item is None:
            continue
        if item.code in out:
            problems.append(
                f"{where}: code {item.code} already defined on line {first_line[item.code]}"
            )
            continue
        name, seen = major_names.setdefault(item.major_code, (item.major_name, line))
        if name != item.major_name:
            problems.append(
                f"{where}: major {item.major_code} is named {item.major_name!r} here "
                f"but {name!r} on line {seen}"
            )
            continue
        out[item.code] = item
        first_line[item.code] = line
    if problems:
        raise SeedDataError(
            f"{len(problems)} problem(s) in the class table:\n" + "\n".join(problems)
        )
    if not out:
        raise SeedDataError(f"{source}: the class table has no rows")
    return out


def _read(path: str | Path | None, name: str) -> tuple[str, str]:
    if path is None:
        return resources.files("gis.data").joinpath(f"classes/{name}").read_text("utf-8"), name
    return Path(path).read_text("utf-8"), str(path)


def load_classes(
    *, components: str | Path | None = None, events: str | Path | None = None
) -> ClassTable:
    """Read both class tables (default: the packaged seed data) and validate them."""
    comp_text, comp_source = _read(components, "components.csv")
    event_text, event_source = _read(events, "events.csv")
    return ClassTable(
        components=read_class_table(comp_text, kind=ClassKind.COMPONENT, source=comp_source),
        events=read_class_table(event_text, kind=ClassKind.EVENT, source=event_source),
    )


@lru_cache(maxsize=1)
def default_classes() -> ClassTable:
    """Return the packaged class tables (cached)."""
    return load_classes()


def get_class(code: str, *, kind: ClassKind | str = ClassKind.EVENT) -> CaseClass:
    """Return the packaged class ``code`` of ``kind`` (default event); see `ClassTable.get`."""
    return default_classes().get(code, kind=kind)
