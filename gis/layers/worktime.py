"""Working-time deadlines: 工作时/工作日 on a calendar of working hours, weekends and holidays.

Case time limits are in working hours or working days (standards.md §4.3). A `WorkCalendar`
knows the daily working periods (default 09:00-12:00 and 13:30-18:00), that Saturdays and
Sundays are off except official make-up working days (调休), and the public holidays from
``gis/data/calendar/cn_holidays.json`` (State Council arrangements, one entry per year).

The calendar is turned once into a monotone function W(t) = working seconds from the start of
the calendar's range to instant t. Then

- working time between a and b is W(b) − W(a);
- a deadline ``amount`` after ``start`` is the first instant t with W(t) = W(start) + amount,
  so a limit that runs out at the end of the morning falls due at 12:00, not at 13:30;
- one working day is the calendar's daily working time (7.5 h by default), so "2 working
  days" from Monday 10:00 is Wednesday 10:00, and from Saturday it is Tuesday 18:00.

W is a cumulative sum over days plus a piecewise-linear function of the time of day, so both
directions are vectorised numpy (`WorkCalendar.working_seconds`,
`WorkCalendar.add_working_seconds`) and the scalar functions use the same arrays.

Years missing from the holiday file are treated as weekends-only; `WorkCalendar.holiday_years`
says which years the data covers, and `calendar_gaps` which years of a range it does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from gis.errors import SeedDataError, WorkCalendarError

DEFAULT_PERIODS: Final = ((time(9), time(12)), (time(13, 30), time(18)))
"""Beijing government office hours; configurable per city."""
DEFAULT_TZ: Final = "Asia/Shanghai"
_DAY_S: Final = 86_400
_UNIX_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods of a day, public holidays and make-up working days, in one timezone.

    Parameters
    ----------
    periods
        Working periods of a working day as (start, end) local times, sorted, not overlapping.
    holidays
        Days off that would otherwise be working days (weekend days may be listed too).
    extra_workdays
        Make-up working days (调休): weekend days that are working days.
    tz
        IANA timezone of the local times.
    first_year, last_year
        The range the calendar can compute in; instants outside it are refused.
    holiday_years
        The years ``holidays`` and ``extra_workdays`` are complete for (from the data file).
    """

    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    tz: str = DEFAULT_TZ
    first_year: int = 2000
    last_year: int = 2099
    holiday_years: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.periods:
            raise WorkCalendarError("a working day needs at least one working period")
        ends = [0.0]
        for start, end in self.periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise WorkCalendarError("working periods are local times without a timezone")
            a, b = _seconds_of(start), _seconds_of(end)
            if not ends[-1] <= a < b:
                raise WorkCalendarError(
                    f"working periods must be sorted and not overlap; {start}-{end} does not"
                )
            ends.append(b)
        both = self.holidays & self.extra_workdays
        if both:
            raise WorkCalendarError(f"days both holiday and make-up workday: {sorted(both)}")
        if self.first_year > self.last_year:
            raise WorkCalendarError(f"first_year {self.first_year} > last_year {self.last_year}")
        try:
            ZoneInfo(self.tz)
        except (KeyError, ValueError) as exc:
            raise WorkCalendarError(f"unknown timezone {self.tz!r}") from exc

    # ------------------------------------------------------------------------ derived arrays
    @cached_property
    def zone(self) -> ZoneInfo:
        """The calendar's timezone."""
        return ZoneInfo(self.tz)

    @cached_property
    def _first_ordinal(self) -> int:
        return date(self.first_year, 1, 1).toordinal()

    @cached_property
    def _period_bounds(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(start, end, worked-before) seconds of each period within a working day."""
        starts = np.array([_seconds_of(a) for a, _ in self.periods], dtype=np.float64)
        ends = np.array([_seconds_of(b) for _, b in self.periods], dtype=np.float64)
        before = np.concatenate([[0.0], np.cumsum(ends - starts)[:-1]])
        return starts, ends, before

    @cached_property
    def day_seconds(self) -> float:
        """Working seconds in one working day (one "working day" of a time limit)."""
        starts, ends, _ = self._period_bounds
        return float((ends - starts).sum())

    @cached_property
    def _days(self) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """(is working day, working seconds before the day) for every day of the range."""
        first = self._first_ordinal
        n = date(self.last_year, 12, 31).toordinal() - first + 1
        ordinals = np.arange(first, first + n)
        work = (ordinals + 6) % 7 < 5  # date.weekday() is (ordinal + 6) % 7; 5, 6 = Sat, Sun
        for day in self.holidays:
            if self.first_year <= day.year <= self.last_year:
                work[day.toordinal() - first] = False
        for day in self.extra_workdays:
            if self.first_year <= day.year <= self.last_year:
                work[day.toordinal() - first] = True
        before = np.concatenate([[0.0], np.cumsum(work * self.day_seconds)[:-1]])
        return work, before

    @cached_property
    def _day_end(self) -> FloatArray:
        """Working seconds up to the end of each day of the range."""
        work, before = self._days
        return before + work * self.day_seconds

    def is_workday(self, day: date) -> bool:
        """Return True when ``day`` is a working day."""
        work, _ = self._days
        return bool(work[self._day_index(np.array([day.toordinal()]))[0]])

    # ----------------------------------------------------------------------- vectorised core
    def _day_index(self, ordinals: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        idx = ordinals - self._first_ordinal
        work, _ = self._days
        outside = (idx < 0) | (idx >= work.size)
        if outside.any():
            bad = date.fromordinal(int(ordinals[np.flatnonzero(outside)[0]]))
            raise WorkCalendarError(
                f"{bad} is outside the working calendar ({self.first_year}-{self.last_year})"
            )
        return idx

    def _local(self, instants: pd.DatetimeIndex) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """(day index, seconds since local midnight) of aware instants."""
        if instants.tz is None:
            raise WorkCalendarError("working time needs timezone-aware datetimes, got naive ones")
        wall = instants.tz_convert(self.tz).tz_localize(None).as_unit("us").asi8
        days, micros = np.divmod(wall, _DAY_S * 1_000_000)
        return self._day_index(days + _UNIX_EPOCH_ORDINAL), micros / 1e6

    def working_seconds(
        self, instants: pd.Series | pd.DatetimeIndex | Sequence[datetime]
    ) -> FloatArray:
        """Return W(t): working seconds from the start of the range to each aware instant."""
        idx, sod = self._local(_instants(instants))
        work, before = self._days
        starts, ends, _ = self._period_bounds
        within = np.clip(sod[:, None] - starts[None, :], 0.0, (ends - starts)[None, :]).sum(1)
        return before[idx] + np.where(work[idx], within, 0.0)

    def add_working_seconds(
        self, starts: pd.Series | pd.DatetimeIndex | Sequence[datetime], seconds: Any
    ) -> pd.DatetimeIndex:
        """Return, for each start, the first instant ``seconds`` of working time later.

        ``seconds`` is a scalar or an array as long as ``starts``; it may not be negative.
        The result is in the calendar's timezone, rounded to the microsecond.
        """
        index = _instants(starts)
        amount = np.broadcast_to(np.asarray(seconds, dtype=np.float64), (len(index),))
        if (amount < 0).any() or not np.isfinite(amount).all():
            raise WorkCalendarError("working time to add must be finite and not negative")
        target = self.working_seconds(index) + amount
        work, before = self._days
        day_end = self._day_end
        # First day whose working time reaches the target; inside it, the first period that does.
        day = np.searchsorted(day_end, target, side="left")
        if (day >= work.size).any():
            raise WorkCalendarError(
                f"the deadline falls after the working calendar's last year ({self.last_year})"
            )
        rest = target - before[day]
        p_start, p_end, p_before = self._period_bounds
        period = np.clip(np.searchsorted(p_before + (p_end - p_start), rest, side="left"), 0, None)
        period = np.minimum(period, p_start.size - 1)
        sod = p_start[period] + (rest - p_before[period])
        micros = (day + self._first_ordinal - _UNIX_EPOCH_ORDINAL) * (_DAY_S * 1_000_000)
        wall = micros + np.rint(sod * 1e6).astype(np.int64)
        local = pd.DatetimeIndex(wall.astype("datetime64[us]")).tz_localize(
            self.tz, ambiguous="raise", nonexistent="shift_forward"
        )
        # Adding nothing leaves the start as it is, even outside working hours.
        utc_us = np.where(amount == 0, index.as_unit("us").asi8, local.as_unit("us").asi8)
        return (
            pd.DatetimeIndex(utc_us.astype("datetime64[us]")).tz_localize("UTC").tz_convert(self.tz)
        )

    # ------------------------------------------------------------------------- scalar core
    # The same function W and its inverse for one instant, in plain Python on the cached
    # arrays: a deadline per state change should not pay for building pandas indexes.
    def working_seconds_at(self, instant: datetime) -> float:
        """Return W(t) for one aware instant (see `working_seconds`)."""
        local = _aware(instant, "the instant").astimezone(self.zone)
        day = int(self._day_index(np.array([local.toordinal()]))[0])
        work, before = self._days
        if not work[day]:
            return float(before[day])
        sod = _seconds_of(local.time())
        within = sum(
            min(max(sod - _seconds_of(a), 0.0), _seconds_of(b) - _seconds_of(a))
            for a, b in self.periods
        )
        return float(before[day]) + within

    def instant_at(self, target: float) -> datetime:
        """Return the first instant t with W(t) = ``target`` (inverse of `working_seconds_at`)."""
        work, before = self._days
        day = int(np.searchsorted(self._day_end, target, side="left"))
        if day >= work.size:
            raise WorkCalendarError(
                f"the deadline falls after the working calendar's last year ({self.last_year})"
            )
        rest = target - float(before[day])
        p_start, p_end, p_before = self._period_bounds
        k = min(
            int(np.searchsorted(p_before + (p_end - p_start), rest, side="left")), p_start.size - 1
        )
        sod = float(p_start[k]) + (rest - float(p_before[k]))
        wall = datetime.combine(date.fromordinal(day + self._first_ordinal), time())
        return (wall + timedelta(microseconds=round(sod * 1e6))).replace(tzinfo=self.zone)


def _instants(values: pd.Series | pd.DatetimeIndex | Sequence[datetime]) -> pd.DatetimeIndex:
    """Return aware instants as a DatetimeIndex, refusing naive ones (mixed offsets are fine)."""
    if isinstance(values, pd.DatetimeIndex | pd.Series):
        index = pd.DatetimeIndex(values)
        if index.tz is None:
            raise WorkCalendarError("working time needs timezone-aware datetimes, got naive ones")
        return index
    items = list(values)
    for item in items:
        _aware(item, "every instant")
    return pd.DatetimeIndex(pd.to_datetime(items, utc=True))


def _seconds_of(value: time) -> float:
    return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise WorkCalendarError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value


# -------------------------------------------------------------------------- scalar interface
def add_working_time(
    start: datetime,
    amount: timedelta | None = None,
    *,
    hours: float | None = None,
    days: float | None = None,
    calendar: WorkCalendar,
) -> datetime:
    """Return the deadline ``amount`` (or ``hours``, or ``days``) of working time after start.

    Give exactly one of ``amount``, ``hours`` and ``days``. A working day is
    ``calendar.day_seconds`` of working time. The result is in the calendar's timezone.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> friday = datetime(2026, 1, 9, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> add_working_time(friday, hours=2, calendar=WorkCalendar()).isoformat()
    '2026-01-12T10:00:00+08:00'
    """
    given = [x for x in (amount, hours, days) if x is not None]
    if len(given) != 1:
        raise WorkCalendarError("give exactly one of amount, hours and days")
    if amount is not None:
        seconds = amount.total_seconds()
    elif hours is not None:
        seconds = hours * 3600.0
    else:
        seconds = float(days or 0) * calendar.day_seconds
    if not (math.isfinite(seconds) and seconds >= 0):
        raise WorkCalendarError("working time to add must be finite and not negative")
    if seconds == 0:
        return _aware(start, "start").astimezone(calendar.zone)
    return calendar.instant_at(calendar.working_seconds_at(start) + seconds)


def working_time_between(a: datetime, b: datetime, *, calendar: WorkCalendar) -> timedelta:
    """Return the working time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    elapsed = calendar.working_seconds_at(_aware(b, "b")) - calendar.working_seconds_at(
        _aware(a, "a")
    )
    return timedelta(seconds=round(elapsed, 6))


def is_overdue(deadline: datetime | None, now: datetime) -> bool:
    """Return True when ``now`` is past ``deadline`` (a case without deadline never is)."""
    if deadline is None:
        return False
    return _aware(now, "now") > _aware(deadline, "deadline")


# --------------------------------------------------------------------------------- data file
_DATA_PACKAGE: Final = "gis.data"
_HOLIDAY_FILE: Final = "calendar/cn_holidays.json"


def _parse_day(text: object, where: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise SeedDataError(f"{where}: {text!r} is not an ISO date (YYYY-MM-DD)") from None


def _read_year(year: int, entry: dict[str, Any], source: str) -> tuple[set[date], set[date]]:
    """Return (holidays, make-up workdays) of one year's arrangement, checking each claim."""
    off: set[date] = set()
    extra: set[date] = set()
    for i, item in enumerate(entry.get("holidays", [])):
        where = f"{source}: {year} holiday {i + 1} ({item.get('name', '?')})"
        first, last = _parse_day(item.get("from"), where), _parse_day(item.get("to"), where)
        if last < first or first.year != year:
            raise SeedDataError(f"{where}: from {first} to {last} is not a range in {year}")
        span = {first + timedelta(days=k) for k in range((last - first).days + 1)}
        if "days" in item and int(item["days"]) != len(span):
            raise SeedDataError(
                f"{where}: says {item['days']} days, {first}..{last} is {len(span)}"
            )
        off |= span
    for i, item in enumerate(entry.get("makeup_workdays", [])):
        where = f"{source}: {year} make-up workday {i + 1}"
        day = _parse_day(item.get("date"), where)
        if day.weekday() < 5:
            raise SeedDataError(f"{where}: {day} is a weekday, so it cannot be a make-up day")
        if day in off:
            raise SeedDataError(f"{where}: {day} is also listed as a holiday")
        extra.add(day)
    return off, extra


def load_calendar(
    path: str | Path | None = None,
    *,
    periods: Iterable[tuple[time, time]] = DEFAULT_PERIODS,
    tz: str = DEFAULT_TZ,
    first_year: int = 2000,
    last_year: int = 2099,
) -> WorkCalendar:
    """Read a holiday file (default: the packaged ``cn_holidays.json``) into a calendar.

    Raises
    ------
    SeedDataError
        If the file is not JSON of the expected shape, or a claim in it is inconsistent: a
        range whose stated day count differs, a make-up day on a weekday, a day both off and
        on.
    """
    if path is None:
        text = resources.files(_DATA_PACKAGE).joinpath(_HOLIDAY_FILE).read_text("utf-8")
        source = _HOLIDAY_FILE
    else:
        text, source = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
        years = data["years"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SeedDataError(f"{source}: not a holiday file with a 'years' object ({exc})") from None
    holidays: set[date] = set()
    extra: set[date] = set()
    for key, entry in years.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(entry, dict)):
            raise SeedDataError(f"{source}: year key {key!r} must be a year with an object")
        off, on = _read_year(int(key), entry, source)
        holidays |= off
        extra |= on
    return WorkCalendar(
        periods=tuple(periods),
        holidays=frozenset(holidays),
        extra_workdays=frozenset(extra),
        tz=tz,
        first_year=first_year,
        last_year=last_year,
        holiday_years=frozenset(int(y) for y in years),
    )


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """Return the packaged PRC holiday calendar with Beijing office hours (cached)."""
    return load_calendar()


def calendar_gaps(calendar: WorkCalendar, first: date, last: date) -> list[int]:
    """Return the years from ``first`` to ``last`` that have no holiday data in ``calendar``."""
    return [y for y in range(first.year, last.year + 1) if y not in calendar.holiday_years]
