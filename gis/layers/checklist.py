"""The life-circle facility checklist: categories, target circles and OSM tag matchers.

The checklist is data, not code: ``gis/data/life_circle.toml`` (its header documents the
format). Each category has a stable ``key``, a Chinese name, a target walking circle of 5, 10
or 15 minutes (standards.md §5) and OSM tag matchers. `classify_osm_tags` classifies one
feature; `Checklist.classify_frame` classifies a table of features at once with vectorised
pandas (one pass per condition, not per feature).

Rules: categories are tried in file order and the first whose matchers match wins; a
matcher matches when all its conditions hold; features matching an ``exclude`` matcher are
never facilities.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from gis.errors import NotFoundError, SeedDataError

CIRCLES_MIN: Final = (5, 10, 15)
_KEY: Final = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Condition:
    """One tag condition: a value set, presence, absence, or a regular expression.

    With neither ``values`` nor ``pattern`` the tag must be present (or absent if ``absent``).
    """

    key: str
    values: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    absent: bool = False

    def test(self, tags: Mapping[str, Any]) -> bool:
        """Return True when ``tags`` satisfy the condition."""
        value = tags.get(self.key)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return self.absent
        if self.absent:
            return False
        text = str(value)
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        return self.values is None or text in self.values

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Return the condition over every row of a table with one column per tag key."""
        if self.key not in frame.columns:
            return pd.Series(self.absent, index=frame.index)
        column = frame[self.key]
        if self.absent:
            return column.isna()
        if self.pattern is not None:
            found = column.astype("string").str.contains(self.pattern, regex=True)
            return found.fillna(False).astype(bool)
        if self.values is None:
            return column.notna()
        return column.isin(list(self.values))


Matcher = tuple[Condition, ...]


def _matches(matchers: tuple[Matcher, ...], tags: Mapping[str, Any]) -> bool:
    return any(all(c.test(tags) for c in m) for m in matchers)


def _mask(matchers: tuple[Matcher, ...], frame: pd.DataFrame) -> pd.Series:
    out = pd.Series(False, index=frame.index)
    for matcher in matchers:
        hit = pd.Series(True, index=frame.index)
        for condition in matcher:
            hit &= condition.mask(frame)
        out |= hit
    return out


@dataclass(frozen=True)
class Category:
    """One kind of life-circle facility."""

    key: str
    name: str
    name_en: str
    circle_min: int
    certainty: str
    source: str
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class Checklist:
    """The categories in priority order, and the matchers that exclude a feature outright."""

    categories: tuple[Category, ...]
    exclude: tuple[Matcher, ...] = ()

    def get(self, key: str) -> Category:
        """Return the category ``key``, or raise NotFoundError."""
        for category in self.categories:
            if category.key == key:
                return category
        raise NotFoundError("facility category", key)

    @property
    def keys(self) -> tuple[str, ...]:
        """Category keys in priority order."""
        return tuple(c.key for c in self.categories)

    def circles(self) -> dict[str, int]:
        """Return {category key: target circle in minutes}."""
        return {c.key: c.circle_min for c in self.categories}

    def classify(self, tags: Mapping[str, Any]) -> str | None:
        """Return the key of the first category ``tags`` match, or None."""
        if _matches(self.exclude, tags):
            return None
        for category in self.categories:
            if _matches(category.matchers, tags):
                return category.key
        return None

    def classify_frame(self, frame: pd.DataFrame) -> pd.Series:
        """Return the category key of every row (None where none), vectorised.

        ``frame`` has one column per OSM tag key (missing tags NaN/None), as pyosmium or
        ``osmnx.features_from_xml`` give them; columns the checklist never mentions are ignored.
        """
        hits = np.zeros((len(self.categories) + 1, len(frame)), dtype=bool)
        for i, category in enumerate(self.categories):
            hits[i] = _mask(category.matchers, frame).to_numpy(dtype=bool)
        hits[-1] = True  # sentinel row: "no category"
        first = hits.argmax(axis=0)  # index of the first category that matches, in file order
        first[_mask(self.exclude, frame).to_numpy(dtype=bool)] = len(self.categories)
        keys = np.array([*self.keys, None], dtype=object)
        picked = keys[first]
        return pd.Series(picked, index=frame.index, dtype=object, name="category")


# ---------------------------------------------------------------------------------- loading
def _condition(key: object, raw: object, where: str) -> Condition:
    if not isinstance(key, str) or not key.rstrip("~"):
        raise SeedDataError(f"{where}: tag key {key!r} is empty")
    if key.endswith("~"):
        if not isinstance(raw, str) or not raw:
            raise SeedDataError(f"{where}: {key!r} needs a non-empty regular expression")
        try:
            return Condition(key[:-1], pattern=re.compile(raw))
        except re.error as exc:
            raise SeedDataError(f"{where}: {key!r} = {raw!r} is not a regex: {exc}") from None
    if raw == "*":
        return Condition(key)
    if raw == "!":
        return Condition(key, absent=True)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v for v in raw):
        raise SeedDataError(f'{where}: {key!r} must be "*", "!" or a list of non-empty strings')
    return Condition(key, values=frozenset(raw))


def _matchers(raw: object, where: str) -> tuple[Matcher, ...]:
    if not isinstance(raw, list):
        raise SeedDataError(f"{where}: must be a list of tag tables")
    out: list[Matcher] = []
    for i, table in enumerate(raw, start=1):
        here = f"{where} matcher {i}"
        if not isinstance(table, dict) or not table:
            raise SeedDataError(f"{here}: must be a non-empty table of tag conditions")
        out.append(tuple(_condition(k, v, here) for k, v in table.items()))
    return tuple(out)


def _category(raw: object, index: int, source: str) -> Category:
    where = f"{source} category {index}"
    if not isinstance(raw, dict):
        raise SeedDataError(f"{where}: must be a table")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise SeedDataError(f"{where}: key {key!r} must be lower_snake_case")
    where = f"{source} category {key!r}"
    unknown = sorted(
        set(raw) - {"key", "name", "name_en", "circle_min", "certainty", "source", "match"}
    )
    if unknown:
        raise SeedDataError(f"{where}: unknown field(s) {unknown}")
    for field in ("name", "name_en"):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise SeedDataError(f"{where}: {field} is missing or empty")
    circle = raw.get("circle_min")
    if circle not in CIRCLES_MIN or isinstance(circle, bool):
        raise SeedDataError(f"{where}: circle_min must be one of {CIRCLES_MIN}, got {circle!r}")
    matchers = _matchers(raw.get("match"), f"{where} match")
    if not matchers:
        raise SeedDataError(f"{where}: needs at least one matcher")
    return Category(
        key=key,
        name=raw["name"].strip(),
        name_en=raw["name_en"].strip(),
        circle_min=int(circle),
        certainty=str(raw.get("certainty", "uncertain")),
        source=str(raw.get("source", "")),
        matchers=matchers,
    )


def parse_checklist(text: str, *, source: str = "checklist") -> Checklist:
    """Parse and validate checklist TOML; raise SeedDataError naming the bad entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SeedDataError(f"{source}: not valid TOML: {exc}") from None
    if data.get("version") != 1:
        raise SeedDataError(f"{source}: version must be 1, got {data.get('version')!r}")
    raw = data.get("category")
    if not isinstance(raw, list) or not raw:
        raise SeedDataError(f"{source}: no [[category]] entries")
    categories = tuple(_category(c, i, source) for i, c in enumerate(raw, start=1))
    seen: set[str] = set()
    for category in categories:
        if category.key in seen:
            raise SeedDataError(f"{source}: category key {category.key!r} is defined twice")
        seen.add(category.key)
    exclude = _matchers(data.get("exclude", []), f"{source} exclude")
    return Checklist(categories=categories, exclude=exclude)


def load_checklist(path: str | Path | None = None) -> Checklist:
    """Read a checklist file (default: the packaged ``life_circle.toml``)."""
    if path is None:
        text = resources.files("gis.data").joinpath("life_circle.toml").read_text("utf-8")
        return parse_checklist(text, source="life_circle.toml")
    return parse_checklist(Path(path).read_text("utf-8"), source=str(path))


@lru_cache(maxsize=1)
def default_checklist() -> Checklist:
    """Return the packaged checklist (cached)."""
    return load_checklist()


def classify_osm_tags(tags: Mapping[str, Any], *, checklist: Checklist | None = None) -> str | None:
    """Return the facility category key of an OSM feature's tags, or None.

    Examples
    --------
    >>> classify_osm_tags({"amenity": "school", "name": "清华大学洁华幼儿园"})
    'kindergarten'
    >>> classify_osm_tags({"highway": "bus_stop", "name": "中关村中学"}) is None
    True
    """
    return (checklist or default_checklist()).classify(tags)
