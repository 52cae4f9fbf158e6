from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gis.errors import InvalidInputError, SeedDataError
from gis.layers.classes import (
    COLUMNS,
    Certainty,
    ClassKind,
    LimitUnit,
    TimeLimit,
    default_classes,
    get_class,
    load_classes,
    read_class_table,
)
from gis.layers.worktime import WorkCalendar, default_calendar

HEADER = ",".join(COLUMNS)
BJ = ZoneInfo("Asia/Shanghai")


def test_packaged_tables_hold_the_read_facts() -> None:
    table = default_classes()
    # Event major 01 = 市容环境 with 01 私搭乱建 ... 07 焚烧垃圾/树叶 (standards.md §2.4).
    assert table.majors(ClassKind.EVENT)["01"] == "市容环境"
    assert get_class("0101").name == "私搭乱建"
    garbage = get_class("0102")
    assert garbage.name == "暴露垃圾" and garbage.certainty is Certainty.READ
    assert garbage.normal_limit == TimeLimit(4, LimitUnit.WORKING_HOURS)
    assert get_class("0104").normal_limit == TimeLimit(2, LimitUnit.WORKING_HOURS)  # 道路保洁
    assert get_class("0106").normal_limit == TimeLimit(5, LimitUnit.WORKING_DAYS)  # 绿地养护
    assert get_class("0101").normal_limit == TimeLimit(20, LimitUnit.WORKING_DAYS)  # 拆除
    # Component 01 01 = 公用设施 / 上水井盖, from the Suzhou ObjID 3205080101000001.
    cover = table.get("0101", kind="component")
    assert (cover.major_name, cover.name, cover.kind) == (
        "公用设施",
        "上水井盖",
        ClassKind.COMPONENT,
    )
    # Every event class has limits; every row says how sure it is.
    assert all(c.normal_limit and c.urgent_limit for c in table.events.values())
    assert len(table.majors("event")) >= 5 and len(table.majors("component")) >= 5


def test_time_limit_helpers() -> None:
    garbage = get_class("0102")
    calendar = WorkCalendar(periods=default_calendar().periods)
    assert garbage.time_limit_min(urgent=False, calendar=calendar) == 240
    assert garbage.time_limit_min(urgent=True, calendar=calendar) == 120
    assert get_class("0106").time_limit_min(urgent=False) == 5 * 450  # 5 days of 7.5 h
    days = TimeLimit(2, LimitUnit.WORKING_DAYS)
    assert days.working_seconds(calendar) == 2 * 7.5 * 3600
    monday = datetime(2026, 1, 5, 10, tzinfo=BJ)
    assert days.deadline(monday, calendar=calendar) == datetime(2026, 1, 7, 10, tzinfo=BJ)
    assert str(days) == "2 working days"
    with pytest.raises(
        InvalidInputError, match="unknown event class '9999'; known codes: 0101, 0102"
    ):
        get_class("9999")


def _table(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


GOOD = "01,02,市容环境,City,暴露垃圾,Garbage,4,working_hours,2,working_hours,环卫,read,s,n"


def test_a_good_table_parses(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(_table(GOOD), encoding="utf-8")
    comps = tmp_path / "components.csv"
    comps.write_text(
        _table("01,01,公用设施,Utilities,上水井盖,Cover,,,,,供水,read,s,n"), encoding="utf-8"
    )
    table = load_classes(components=comps, events=events)
    assert list(table.events) == ["0102"] and table.components["0101"].normal_limit is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "1,02,市容环境,City,暴露垃圾,G,4,working_hours,2,working_hours,环卫,read,s,n",
            "major_code must be 2 digits, got '1'",
        ),
        (
            "01,2a,市容环境,City,暴露垃圾,G,4,working_hours,2,working_hours,环卫,read,s,n",
            "minor_code must be 2 digits",
        ),
        ("01,03,市容环境,City,,G,4,working_hours,2,working_hours,环卫,read,s,n", "name is empty"),
        (
            "01,03,市容环境,City,x,G,four,working_hours,2,working_hours,环卫,read,s,n",
            "normal_limit 'four' is not a number",
        ),
        (
            "01,03,市容环境,City,x,G,0,working_hours,2,working_hours,环卫,read,s,n",
            "normal_limit must be positive",
        ),
        (
            "01,03,市容环境,City,x,G,4,hours,2,working_hours,环卫,read,s,n",
            "normal_unit 'hours' is not one of",
        ),
        (
            "01,03,市容环境,City,x,G,4,working_hours,1,working_days,环卫,read,s,n",
            "urgent limit 1 working days is longer than normal 4 working hours",
        ),
        ("01,03,市容环境,City,x,G,,,,,环卫,read,s,n", "an event class needs its time limits"),
        (
            "01,03,市容环境,City,x,G,4,working_hours,,,环卫,read,s,n",
            "give both the normal and the urgent limit",
        ),
        (
            "01,03,市容环境,City,x,G,4,working_hours,2,working_hours,环卫,maybe,s,n",
            "certainty 'maybe'",
        ),
        (
            "01,02,市容环境,City,again,G,4,working_hours,2,working_hours,环卫,read,s,n",
            "line 3: code 0102 already defined on line 2",
        ),
        (
            "01,03,街面秩序,City,x,G,4,working_hours,2,working_hours,环卫,read,s,n",
            "major 01 is named '街面秩序' here but '市容环境' on line 2",
        ),
        ("01,03,市容环境,City,x", "expected 14 fields"),
    ],
)
def test_bad_rows_are_reported_with_line_and_reason(row: str, message: str) -> None:
    with pytest.raises(SeedDataError, match=r"events\.csv line 3") as err:
        read_class_table(_table(GOOD, row), kind=ClassKind.EVENT, source="events.csv")
    assert message in str(err.value)


def test_every_bad_row_is_reported_at_once() -> None:
    bad = "1,02,市容环境,City,,G,4,working_hours,2,working_hours,环卫,read,s,n"
    with pytest.raises(SeedDataError, match="4 problem") as err:
        read_class_table(
            _table(GOOD, bad, bad.replace("1,02", "01,2")), kind=ClassKind.EVENT, source="e"
        )
    assert "e line 3" in str(err.value) and "e line 4" in str(err.value)


def test_bad_header_and_empty_table() -> None:
    with pytest.raises(SeedDataError, match="header must be"):
        read_class_table("code,name\n0101,x\n", kind=ClassKind.EVENT, source="e")
    with pytest.raises(SeedDataError, match="no rows"):
        read_class_table(HEADER + "\n", kind=ClassKind.EVENT, source="e")
