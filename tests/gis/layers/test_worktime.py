import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from gis.errors import SeedDataError, WorkCalendarError
from gis.layers.worktime import (
    WorkCalendar,
    add_working_time,
    calendar_gaps,
    default_calendar,
    is_overdue,
    load_calendar,
    working_time_between,
)

BJ = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()  # 09:00-12:00 and 13:30-18:00, PRC holidays 2025-2026


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)  # type: ignore[misc]


def test_packaged_calendar_has_the_official_2025_and_2026_arrangements() -> None:
    assert CAL.holiday_years == frozenset({2025, 2026})
    assert CAL.day_seconds == 7.5 * 3600
    # 2026 Spring Festival: 15-23 February off, Saturdays 14 and 28 February worked.
    assert not CAL.is_workday(date(2026, 2, 16))  # a Monday
    assert CAL.is_workday(date(2026, 2, 14)) and CAL.is_workday(date(2026, 2, 28))
    # 2025 National Day + Mid-Autumn: 1-8 October off; Sunday 28 Sep and Saturday 11 Oct worked.
    assert not CAL.is_workday(date(2025, 10, 8))
    assert CAL.is_workday(date(2025, 9, 28)) and CAL.is_workday(date(2025, 10, 11))
    assert CAL.is_workday(date(2025, 12, 31)) and not CAL.is_workday(date(2025, 12, 27))


def test_deadline_within_one_day_skips_lunch() -> None:
    # 10:00 + 4 working hours: 2 h to 12:00, lunch, 2 h from 13:30 -> 15:30.
    assert add_working_time(bj(2026, 1, 5, 10), hours=4, calendar=CAL) == bj(2026, 1, 5, 15, 30)


def test_deadline_that_runs_out_at_noon_is_noon() -> None:
    assert add_working_time(bj(2026, 1, 5, 9), hours=3, calendar=CAL) == bj(2026, 1, 5, 12)


def test_deadline_across_a_weekend() -> None:
    # Friday 9 Jan 2026 17:00 + 2 h: 1 h on Friday, then Monday 12 Jan 09:00 + 1 h.
    assert add_working_time(bj(2026, 1, 9, 17), hours=2, calendar=CAL) == bj(2026, 1, 12, 10)


def test_deadline_across_a_public_holiday_onto_a_make_up_workday() -> None:
    # Wed 31 Dec 2025 16:00 + 4 h: 2 h on the 31st; 1-3 Jan are the New Year holiday; Sunday
    # 4 Jan is a make-up working day (调休), so the remaining 2 h end there at 11:00.
    assert add_working_time(bj(2025, 12, 31, 16), hours=4, calendar=CAL) == bj(2026, 1, 4, 11)
    # Without the holiday data it would be Thursday 1 January.
    plain = WorkCalendar()
    assert add_working_time(bj(2025, 12, 31, 16), hours=4, calendar=plain) == bj(2026, 1, 1, 11)


def test_deadline_across_the_spring_festival() -> None:
    # Friday 13 Feb 2026 17:00 + 2 h: 1 h Friday, Saturday 14 Feb is a make-up day -> 10:00.
    assert add_working_time(bj(2026, 2, 13, 17), hours=2, calendar=CAL) == bj(2026, 2, 14, 10)
    # Saturday 14 Feb 17:30 + 1 h: the holiday runs 15-23 Feb -> Tuesday 24 Feb 09:30.
    assert add_working_time(bj(2026, 2, 14, 17, 30), hours=1, calendar=CAL) == bj(
        2026, 2, 24, 9, 30
    )


def test_working_days() -> None:
    # Monday 10:00 + 2 working days = Wednesday 10:00; from a Saturday, Tuesday evening.
    assert add_working_time(bj(2026, 1, 5, 10), days=2, calendar=CAL) == bj(2026, 1, 7, 10)
    assert add_working_time(bj(2026, 1, 10, 10), days=2, calendar=CAL) == bj(2026, 1, 13, 18)
    # Green-area maintenance, 5 working days from Thursday 30 April 2026 10:00: 1-5 May off,
    # Saturday 9 May worked -> Thu 30, Wed 6, Thu 7, Fri 8, Sat 9 -> Monday 11 May 10:00.
    assert add_working_time(bj(2026, 4, 30, 10), days=5, calendar=CAL) == bj(2026, 5, 11, 10)


def test_start_outside_working_hours_and_zero_amount() -> None:
    # Starting in the lunch break: the clock starts at 13:30.
    assert add_working_time(bj(2026, 1, 5, 12, 40), hours=1, calendar=CAL) == bj(2026, 1, 5, 14, 30)
    # At 06:00 the clock starts at 09:00.
    assert add_working_time(bj(2026, 1, 5, 6), amount=timedelta(minutes=30), calendar=CAL) == bj(
        2026, 1, 5, 9, 30
    )
    assert add_working_time(bj(2026, 1, 3, 6), hours=0, calendar=CAL) == bj(2026, 1, 3, 6)


def test_other_timezones_in_and_out() -> None:
    start_utc = datetime(2026, 1, 9, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
    result = add_working_time(start_utc, hours=2, calendar=CAL)
    assert result == bj(2026, 1, 12, 10) and result.utcoffset() == timedelta(hours=8)


def test_working_time_between() -> None:
    assert working_time_between(bj(2026, 1, 5, 9), bj(2026, 1, 6, 9), calendar=CAL) == timedelta(
        hours=7.5
    )
    # Across New Year 2026: Wed 31 Dec 17:00 -> Sun 4 Jan (make-up day) 10:00 = 1 h + 1 h.
    assert working_time_between(
        bj(2025, 12, 31, 17), bj(2026, 1, 4, 10), calendar=CAL
    ) == timedelta(hours=2)
    assert working_time_between(bj(2026, 1, 6, 9), bj(2026, 1, 5, 9), calendar=CAL) == timedelta(
        hours=-7.5
    )
    assert working_time_between(bj(2026, 1, 3, 9), bj(2026, 1, 3, 17), calendar=CAL) == timedelta(0)


def test_add_and_between_are_inverse_on_random_instants() -> None:
    rng = np.random.default_rng(7)
    starts = pd.DatetimeIndex(
        pd.Timestamp("2025-01-01", tz="Asia/Shanghai")
        + pd.to_timedelta(rng.integers(0, 700 * 86_400, 2_000), unit="s")
    )
    seconds = rng.uniform(1, 40 * 3600, starts.size)
    ends = CAL.add_working_seconds(starts, seconds)
    assert np.allclose(CAL.working_seconds(ends) - CAL.working_seconds(starts), seconds, atol=1e-5)
    # Every deadline lies inside (or at the end of) a working period of a working day.
    local = ends.tz_convert("Asia/Shanghai")
    tod = local.hour * 3600 + local.minute * 60 + local.second
    in_periods = ((tod > 9 * 3600) & (tod <= 12 * 3600)) | (
        (tod > 13.5 * 3600) & (tod <= 18 * 3600)
    )
    assert in_periods.all()
    assert all(CAL.is_workday(d) for d in local.date)


def test_scalar_and_vectorised_paths_agree() -> None:
    rng = np.random.default_rng(11)
    starts = pd.DatetimeIndex(
        pd.Timestamp("2025-01-01", tz="Asia/Shanghai")
        + pd.to_timedelta(rng.integers(0, 700 * 86_400, 300), unit="s")
    )
    seconds = rng.uniform(0, 60 * 3600, starts.size)
    vector = CAL.add_working_seconds(starts, seconds)
    scalar = [
        add_working_time(a, timedelta(seconds=float(s)), calendar=CAL)
        for a, s in zip(starts.to_pydatetime(), seconds, strict=True)
    ]
    # Equal to the microsecond (the two paths round floats in a different order).
    gaps = [abs(v.to_pydatetime() - s) for v, s in zip(vector, scalar, strict=True)]
    assert max(gaps) <= timedelta(microseconds=1)
    assert np.allclose(
        CAL.working_seconds(starts), [CAL.working_seconds_at(a) for a in starts.to_pydatetime()]
    )


def test_is_overdue() -> None:
    deadline = bj(2026, 1, 5, 15, 30)
    assert not is_overdue(deadline, bj(2026, 1, 5, 15, 30))
    assert is_overdue(deadline, bj(2026, 1, 5, 15, 31))
    assert is_overdue(deadline, datetime(2026, 1, 5, 7, 31, tzinfo=UTC))
    assert not is_overdue(None, bj(2030, 1, 1))


def test_refusals() -> None:
    with pytest.raises(WorkCalendarError, match="timezone-aware"):
        add_working_time(datetime(2026, 1, 5, 9), hours=1, calendar=CAL)
    with pytest.raises(WorkCalendarError, match="exactly one"):
        add_working_time(bj(2026, 1, 5, 9), hours=1, days=1, calendar=CAL)
    with pytest.raises(WorkCalendarError, match="not negative"):
        add_working_time(bj(2026, 1, 5, 9), hours=-1, calendar=CAL)
    with pytest.raises(WorkCalendarError, match="outside the working calendar"):
        add_working_time(bj(2100, 1, 5, 9), hours=1, calendar=CAL)
    with pytest.raises(WorkCalendarError, match="last year"):
        add_working_time(bj(2099, 12, 31, 9), days=30, calendar=CAL)
    with pytest.raises(WorkCalendarError, match="overlap"):
        WorkCalendar(periods=((time(9), time(13)), (time(12), time(18))))
    with pytest.raises(WorkCalendarError, match="both holiday and make-up"):
        WorkCalendar(
            holidays=frozenset({date(2026, 1, 4)}), extra_workdays=frozenset({date(2026, 1, 4)})
        )


def test_configurable_hours() -> None:
    cal = WorkCalendar(periods=((time(8, 30), time(12)), (time(14), time(17, 30))))
    assert cal.day_seconds == 7 * 3600
    assert add_working_time(bj(2026, 1, 5, 11), hours=2, calendar=cal) == bj(2026, 1, 5, 15)


def test_calendar_gaps() -> None:
    assert calendar_gaps(CAL, date(2025, 6, 1), date(2027, 3, 1)) == [2027]


def _write(tmp_path: Path, year: dict[str, object]) -> Path:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"years": {"2026": year}}), encoding="utf-8")
    return path


def test_holiday_file_is_checked(tmp_path: Path) -> None:
    good = {
        "holidays": [{"name": "元旦", "from": "2026-01-01", "to": "2026-01-03", "days": 3}],
        "makeup_workdays": [{"date": "2026-01-04"}],
    }
    assert load_calendar(_write(tmp_path, good)).is_workday(date(2026, 1, 4))
    bad_count = {
        "holidays": [{"name": "元旦", "from": "2026-01-01", "to": "2026-01-03", "days": 2}]
    }
    with pytest.raises(SeedDataError, match=r"says 2 days, 2026-01-01\.\.2026-01-03 is 3"):
        load_calendar(_write(tmp_path, bad_count))
    weekday = {"makeup_workdays": [{"date": "2026-01-05"}]}
    with pytest.raises(SeedDataError, match="2026-01-05 is a weekday"):
        load_calendar(_write(tmp_path, weekday))
    bad_date = {"holidays": [{"name": "x", "from": "2026-02-30", "to": "2026-03-01"}]}
    with pytest.raises(SeedDataError, match="'2026-02-30' is not an ISO date"):
        load_calendar(_write(tmp_path, bad_date))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(SeedDataError, match="not a holiday file"):
        load_calendar(tmp_path / "broken.json")


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("gis.layers.worktime"))
    assert result.attempted > 0 and result.failed == 0
