from pathlib import Path

import pandas as pd
import pytest

from gis.errors import NotFoundError, SeedDataError
from gis.layers.checklist import (
    classify_osm_tags,
    default_checklist,
    load_checklist,
    parse_checklist,
)

REAL_OSM = Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "beijing" / "osm"

REQUIRED = {
    "community_health_centre",
    "community_health_station",
    "primary_school",
    "middle_school",
    "kindergarten",
    "elderly_day_care",
    "nursing_home",
    "fresh_food_market",
    "convenience_store",
    "pharmacy",
    "culture_centre",
    "culture_station",
    "sports_ground",
    "community_service_centre",
    "community_service_station",
    "police_station",
}


def test_packaged_checklist_covers_the_issue_list_with_circles() -> None:
    checklist = default_checklist()
    assert set(checklist.keys) >= REQUIRED
    circles = checklist.circles()
    assert set(circles.values()) <= {5, 10, 15}
    # Read in standards.md §5: MOFCOM 5 min convenience store; GB 50180 15-min culture centre.
    assert circles["convenience_store"] == 5 and circles["culture_centre"] == 15
    assert checklist.get("police_station").name == "派出所"
    with pytest.raises(NotFoundError):
        checklist.get("casino")


@pytest.mark.parametrize(
    ("tags", "category"),
    [
        ({"amenity": "kindergarten"}, "kindergarten"),
        ({"amenity": "school", "name": "清华大学洁华幼儿园"}, "kindergarten"),
        ({"amenity": "school", "name": "清华附小"}, "primary_school"),
        ({"amenity": "school", "isced:level": "1"}, "primary_school"),
        ({"amenity": "school", "name": "中关村中学"}, "middle_school"),
        ({"building": "school", "name": "清华附中国际部"}, "middle_school"),
        ({"amenity": "school", "name": "诗雅艺术学校"}, None),  # level unknown: not guessed
        ({"amenity": "restaurant", "name": "清华附中食堂"}, None),
        ({"leisure": "stadium", "name": "清华附中操场"}, "sports_ground"),
        ({"leisure": "pitch"}, "sports_ground"),
        ({"amenity": "parking", "name": "原幼儿园停车场"}, None),
        ({"landuse": "construction", "name": "规划幼儿园"}, None),
        ({"highway": "bus_stop", "name": "中关村中学"}, None),
        ({"shop": "convenience", "name": "7-Eleven"}, "convenience_store"),
        ({"amenity": "pharmacy"}, "pharmacy"),
        ({"healthcare": "pharmacy"}, "pharmacy"),
        ({"amenity": "police"}, "police_station"),
        (
            {"amenity": "hospital", "name": "中国农业大学东区社区卫生服务中心"},
            "community_health_centre",
        ),
        ({"amenity": "clinic", "name": "东华门社区卫生服务站"}, "community_health_station"),
        ({"amenity": "clinic", "name": "社区卫生服务中心"}, "community_health_centre"),
        ({"amenity": "marketplace"}, "fresh_food_market"),
        ({"amenity": "nursing_home"}, "nursing_home"),
        ({"name": "东华门街道养老驿站"}, "elderly_day_care"),
        ({"amenity": "library", "name": "图书馆"}, "culture_centre"),
        ({"amenity": "community_centre", "name": "多福巷社区文化活动站"}, "culture_station"),
        ({"amenity": "community_centre", "name": "多福巷社区居委会"}, "community_service_station"),
        ({"name": "东华门街道办事处", "office": "government"}, "community_service_centre"),
        ({"amenity": "bank"}, None),
        ({}, None),
    ],
)
def test_classify_osm_tags(tags: dict[str, str], category: str | None) -> None:
    assert classify_osm_tags(tags) == category


def test_frame_classification_matches_the_scalar_one() -> None:
    rows = [
        {"amenity": "school", "name": "清华附小"},
        {"amenity": "restaurant", "name": "清华附中食堂"},
        {"leisure": "stadium", "name": "清华附中操场"},
        {"highway": "bus_stop", "name": "中关村中学"},
        {"shop": "convenience"},
        {"name": "东华门街道养老驿站"},
        {},
    ]
    frame = pd.DataFrame(rows)
    checklist = default_checklist()
    assert checklist.classify_frame(frame).tolist() == [checklist.classify(r) for r in rows]


def test_real_osm_extracts() -> None:
    osmium = pytest.importorskip("osmium")
    rows: list[dict[str, str]] = []
    for path in sorted(REAL_OSM.glob("*.osm")):
        for obj in osmium.FileProcessor(str(path)):
            if len(obj.tags):
                rows.append(dict(obj.tags))
    assert len(rows) > 1000
    frame = pd.DataFrame(rows)
    categories = default_checklist().classify_frame(frame)
    assert categories.tolist() == [classify_osm_tags(r) for r in rows]
    named = dict(zip(frame["name"], categories, strict=True))
    assert named["清华附小"] == "primary_school"
    assert named["中关村中学"] == "middle_school"
    assert named["清华大学洁华幼儿园"] == "kindergarten"
    assert named["中国农业大学东区社区卫生服务中心"] == "community_health_centre"
    assert named["清华附中食堂"] is None
    counts = categories.value_counts()
    assert counts["convenience_store"] >= 20 and counts["police_station"] >= 1


def _toml(body: str) -> str:
    return "version = 1\n" + body


CATEGORY = """
[[category]]
key = "pharmacy"
name = "药店"
name_en = "Pharmacy"
circle_min = 10
match = [ { amenity = ["pharmacy"] } ]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 2\n" + CATEGORY, "version must be 1"),
        (_toml(""), "no \\[\\[category\\]\\] entries"),
        (_toml(CATEGORY + CATEGORY), "'pharmacy' is defined twice"),
        (
            _toml(CATEGORY.replace("circle_min = 10", "circle_min = 20")),
            "circle_min must be one of",
        ),
        (_toml(CATEGORY.replace('key = "pharmacy"', 'key = "Pharmacy"')), "lower_snake_case"),
        (_toml(CATEGORY.replace('name = "药店"', 'name = ""')), "name is missing or empty"),
        (_toml(CATEGORY.replace('["pharmacy"]', "[]")), 'must be "\\*", "!" or a list'),
        (_toml(CATEGORY.replace('amenity = ["pharmacy"]', '"name~" = "(药"')), "is not a regex"),
        (
            _toml(CATEGORY.replace('match = [ { amenity = ["pharmacy"] } ]', "match = []")),
            "at least one matcher",
        ),
        (_toml(CATEGORY + "colour = 3\n"), "unknown field"),
        ("version = ", "not valid TOML"),
    ],
)
def test_bad_checklists_are_refused(text: str, message: str) -> None:
    with pytest.raises(SeedDataError, match=message):
        parse_checklist(text)


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(_toml(CATEGORY), encoding="utf-8")
    checklist = load_checklist(path)
    assert checklist.keys == ("pharmacy",)
    assert classify_osm_tags({"amenity": "pharmacy"}, checklist=checklist) == "pharmacy"
    assert classify_osm_tags({"shop": "convenience"}, checklist=checklist) is None


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("gis.layers.checklist"))
    assert result.attempted > 0 and result.failed == 0
