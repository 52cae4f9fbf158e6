"""CQL2 filters (OGC API Features Part 3) to SQLAlchemy conditions.

The `cql2` package (Rust, the parser tipg uses) parses cql2-text or cql2-json into canonical
cql2-json; this module walks that JSON into a typed SQLAlchemy expression over a collection's
queryables only. Every literal is a bound parameter, every property is looked up in the
collection's whitelist, and operand types are checked before PostgreSQL sees them, so a bad
filter is a 400 naming the problem rather than a database error.

Supported: ``and or not``, ``= <> < <= > >=``, ``LIKE``, ``BETWEEN``, ``IN``, ``IS NULL``,
``CASEI``, arithmetic ``+ - * /``, property-property comparisons, all eight ``S_*`` spatial
functions with any GeoJSON/WKT geometry or ``BBOX``, and ``T_BEFORE``/``T_AFTER``/
``T_INTERSECTS``/``T_EQUALS``/``T_DISJOINT`` on instants and intervals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

import cql2
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)

from gis.errors import CqlFilterError
from gis.ogc.collections import Collection, PropertyKind, SqlColumn
from gis.ogc.crs import CRS84_URI

GEOMETRY_PROPERTY: Final = "geometry"
FILTER_LANGS: Final = ("cql2-text", "cql2-json")

_COMPARISONS: Final = {"=", "<>", "<", "<=", ">", ">="}
_SPATIAL: Final = {
    "s_intersects": func.ST_Intersects,
    "s_within": func.ST_Within,
    "s_contains": func.ST_Contains,
    "s_disjoint": func.ST_Disjoint,
    "s_equals": func.ST_Equals,
    "s_touches": func.ST_Touches,
    "s_overlaps": func.ST_Overlaps,
    "s_crosses": func.ST_Crosses,
}
_ARITHMETIC: Final = {"+", "-", "*", "/"}
_NUMERIC: Final = {PropertyKind.INTEGER, PropertyKind.NUMBER}
_TEMPORAL: Final = {PropertyKind.DATETIME, PropertyKind.DATE}
_SQL_TYPES: Final = {
    PropertyKind.STRING: String(),
    PropertyKind.INTEGER: Integer(),
    PropertyKind.NUMBER: Float(),
    PropertyKind.BOOLEAN: Boolean(),
    PropertyKind.DATETIME: DateTime(timezone=True),
    PropertyKind.DATE: Date(),
}
_GEOMETRY: Final = "geometry"  # operand kind of spatial values
_INTERVAL: Final = "interval"


def parse_filter(
    text: str, *, lang: str = "cql2-text", filter_crs: str | None = None
) -> dict[str, Any]:
    """Parse a ``filter`` parameter into canonical cql2-json, or raise CqlFilterError."""
    if lang not in FILTER_LANGS:
        raise CqlFilterError(
            f"filter-lang {lang!r} is not supported; use {' or '.join(FILTER_LANGS)}"
        )
    if filter_crs not in (None, "", CRS84_URI):
        raise CqlFilterError(f"filter-crs {filter_crs!r} is not supported; use {CRS84_URI}")
    try:
        expr = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        expr.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()
        raise CqlFilterError(
            f"filter is not valid {lang}: {' '.join(first_line[:6])[:400]}"
        ) from None
    tree = expr.to_json()
    if not isinstance(tree, dict | bool):
        raise CqlFilterError("filter must be a boolean expression")
    return tree


def filter_condition(
    text: str, collection: Collection, *, lang: str = "cql2-text", filter_crs: str | None = None
) -> ColumnElement[bool]:
    """Return the SQL condition of a CQL2 filter over ``collection``'s queryables.

    Raises
    ------
    CqlFilterError
        When the filter does not parse, names a property that is not a queryable, uses an
        unsupported operator, or compares values of different types.
    """
    tree = parse_filter(text, lang=lang, filter_crs=filter_crs)
    return _Translator(collection).predicate(tree)


class _Translator:
    def __init__(self, collection: Collection) -> None:
        self.columns: Mapping[str, SqlColumn] = collection.properties
        self.kinds = collection.kinds()
        self.geom = collection.geom
        self.collection_id = collection.id

    # ---- predicates -------------------------------------------------------------------
    def predicate(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, bool):
            return true() if node else false()
        if isinstance(node, dict) and "property" in node:
            column, kind = self.scalar(node)
            if kind != PropertyKind.BOOLEAN:
                raise CqlFilterError(f"property {node['property']!r} is not a boolean")
            return column.is_(True)
        if not isinstance(node, dict) or "op" not in node:
            raise CqlFilterError(f"expected a boolean expression, got {node!r}")
        op = str(node["op"]).lower()
        args: list[Any] = list(node.get("args", []))
        if op in ("and", "or"):
            parts = [self.predicate(a) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.predicate(self._one(op, args)))
        if op in _COMPARISONS:
            return self._comparison(op, args)
        if op == "like":
            return self._like(args)
        if op == "between":
            return self._between(args)
        if op == "in":
            return self._in(args)
        if op == "isnull":
            column, _ = self.scalar(self._one(op, args))
            return column.is_(None)
        if op in _SPATIAL:
            return self._spatial(op, args)
        if op.startswith("t_"):
            return self._temporal(op, args)
        raise CqlFilterError(f"operator or function {node['op']!r} is not supported")

    def _comparison(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        left, right = self._pair(op, args)
        (lhs, lkind), (rhs, rkind) = self.scalar(left), self.scalar(right)
        self._compatible(op, lkind, rkind, left, right)
        result: ColumnElement[bool] = lhs.operate(_OPERATORS[op], rhs)
        return result

    def _like(self, args: list[Any]) -> ColumnElement[bool]:
        left, pattern = self._pair("like", args)
        lhs, lkind = self.scalar(left)
        rhs, rkind = self.scalar(pattern)
        if lkind != PropertyKind.STRING or rkind != PropertyKind.STRING:
            raise CqlFilterError("LIKE compares strings only")
        return lhs.like(rhs, escape="\\")

    def _between(self, args: list[Any]) -> ColumnElement[bool]:
        if len(args) != 3:
            raise CqlFilterError("BETWEEN needs a value and two bounds")
        value, vkind = self.scalar(args[0])
        low, lkind = self.scalar(args[1])
        high, hkind = self.scalar(args[2])
        for kind, arg in ((lkind, args[1]), (hkind, args[2])):
            self._compatible("between", vkind, kind, args[0], arg)
        if vkind not in _NUMERIC | _TEMPORAL:
            raise CqlFilterError("BETWEEN needs numbers or dates")
        return value.between(low, high)

    def _in(self, args: list[Any]) -> ColumnElement[bool]:
        left, options = self._pair("in", args)
        if not isinstance(options, list) or not options:
            raise CqlFilterError("IN needs a non-empty list")
        lhs, lkind = self.scalar(left)
        values = []
        for option in options:
            value, okind = self.scalar(option)
            self._compatible("in", lkind, okind, left, option)
            values.append(value)
        return lhs.in_(values)

    def _spatial(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        left, right = self._pair(op, args)
        lhs, lkind = self.scalar(left)
        rhs, rkind = self.scalar(right)
        if lkind != _GEOMETRY or rkind != _GEOMETRY:
            raise CqlFilterError(f"{op.upper()} needs two geometries")
        result: ColumnElement[bool] = _SPATIAL[op](lhs, rhs)
        return result

    def _temporal(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        left, right = self._pair(op, args)
        a0, a1 = self._instant_or_interval(left)
        b0, b1 = self._instant_or_interval(right)
        # Open interval ends (None) impose no bound.
        if op == "t_before":
            return _cond(a1 < b0 if a1 is not None and b0 is not None else None)
        if op == "t_after":
            return _cond(a0 > b1 if a0 is not None and b1 is not None else None)
        if op == "t_equals":
            return and_(_eq(a0, b0), _eq(a1, b1))
        if op in ("t_intersects", "t_disjoint"):
            overlap = and_(
                _cond(a0 <= b1 if a0 is not None and b1 is not None else None),
                _cond(b0 <= a1 if b0 is not None and a1 is not None else None),
            )
            return overlap if op == "t_intersects" else not_(overlap)
        raise CqlFilterError(f"temporal function {op.upper()} is not supported")

    # ---- operands ----------------------------------------------------------------------
    def scalar(self, node: Any) -> tuple[SqlColumn, str]:
        if isinstance(node, bool):
            return literal(node, Boolean()), PropertyKind.BOOLEAN
        if isinstance(node, int | float):
            if isinstance(node, float) and node.is_integer() and abs(node) < 2**62:
                return literal(int(node), Integer()), PropertyKind.INTEGER
            return literal(node, Float()), PropertyKind.NUMBER
        if isinstance(node, str):
            return literal(node, String()), PropertyKind.STRING
        if not isinstance(node, dict):
            raise CqlFilterError(f"unexpected value {node!r}")
        if "property" in node:
            return self._property(str(node["property"]))
        if "timestamp" in node:
            return (
                literal(_timestamp(node["timestamp"]), DateTime(timezone=True)),
                PropertyKind.DATETIME,
            )
        if "date" in node:
            return literal(_date(node["date"]), Date()), PropertyKind.DATE
        if "bbox" in node:
            return _bbox(node["bbox"]), _GEOMETRY
        if "type" in node and ("coordinates" in node or "geometries" in node):
            geojson = json.dumps(node, separators=(",", ":"))
            return func.ST_SetSRID(func.ST_GeomFromGeoJSON(geojson), 4326), _GEOMETRY
        if "op" in node:
            return self._function(node)
        raise CqlFilterError(f"unexpected value {node!r}")

    def _function(self, node: dict[str, Any]) -> tuple[SqlColumn, str]:
        op = str(node["op"]).lower()
        args = list(node.get("args", []))
        if op == "casei":
            value, kind = self.scalar(self._one(op, args))
            if kind != PropertyKind.STRING:
                raise CqlFilterError("CASEI applies to strings only")
            return func.lower(value), PropertyKind.STRING
        if op in _ARITHMETIC:
            left, right = self._pair(op, args)
            (lhs, lkind), (rhs, rkind) = self.scalar(left), self.scalar(right)
            if lkind not in _NUMERIC or rkind not in _NUMERIC:
                raise CqlFilterError(f"arithmetic {op!r} needs numbers")
            floats = op == "/" or PropertyKind.NUMBER in (lkind, rkind)
            kind = PropertyKind.NUMBER if floats else lkind
            if op == "/":  # float division, never an integer division or a zero error
                return lhs / func.nullif(rhs.cast(Float()), 0.0), kind
            return lhs.operate(_OPERATORS[op], rhs), kind
        if op in _COMPARISONS or op in {"and", "or", "not", "like", "in", "isnull", "between"}:
            return self.predicate(node), PropertyKind.BOOLEAN
        raise CqlFilterError(f"function {node['op']!r} is not supported")

    def _property(self, name: str) -> tuple[SqlColumn, str]:
        if name == GEOMETRY_PROPERTY:
            return self.geom, _GEOMETRY
        column = self.columns.get(name)
        if column is None:
            known = ", ".join([GEOMETRY_PROPERTY, *self.columns])
            raise CqlFilterError(
                f"{name!r} is not a queryable of collection {self.collection_id!r}; "
                f"queryables: {known}"
            )
        return column, self.kinds[name]

    def _instant_or_interval(self, node: Any) -> tuple[SqlColumn | None, SqlColumn | None]:
        if isinstance(node, dict) and "interval" in node:
            bounds = node["interval"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise CqlFilterError("INTERVAL needs two bounds")
            ends = [self._interval_end(b) for b in bounds]
            return ends[0], ends[1]
        value, kind = self.scalar(node)
        if kind not in _TEMPORAL:
            raise CqlFilterError("temporal functions need dates, timestamps or intervals")
        return value, value

    def _interval_end(self, bound: Any) -> SqlColumn | None:
        if bound == "..":
            return None
        if isinstance(bound, str):
            return literal(_timestamp(bound), DateTime(timezone=True))
        value, kind = self.scalar(bound)
        if kind not in _TEMPORAL:
            raise CqlFilterError("interval bounds must be dates or timestamps")
        return value

    # ---- checks ------------------------------------------------------------------------
    @staticmethod
    def _one(op: str, args: list[Any]) -> Any:
        if len(args) != 1:
            raise CqlFilterError(f"{op.upper()} takes one argument, got {len(args)}")
        return args[0]

    @staticmethod
    def _pair(op: str, args: list[Any]) -> tuple[Any, Any]:
        if len(args) != 2:
            raise CqlFilterError(f"{op.upper()} takes two arguments, got {len(args)}")
        return args[0], args[1]

    @staticmethod
    def _compatible(op: str, left: str, right: str, lnode: Any, rnode: Any) -> None:
        same_family = (
            left == right
            or (left in _NUMERIC and right in _NUMERIC)
            or (left in _TEMPORAL and right in _TEMPORAL)
        )
        if not same_family or left == _GEOMETRY:
            raise CqlFilterError(
                f"cannot apply {op!r} to {_show(lnode)} ({left}) and {_show(rnode)} ({right})"
            )


def _show(node: Any) -> str:
    if isinstance(node, dict) and "property" in node:
        return str(node["property"])
    return json.dumps(node, ensure_ascii=False)[:80]


def _cond(expr: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return true() if expr is None else expr


def _eq(a: SqlColumn | None, b: SqlColumn | None) -> ColumnElement[bool]:
    if a is None or b is None:
        return true() if a is None and b is None else false()
    result: ColumnElement[bool] = a == b
    return result


def _timestamp(text: Any) -> datetime:
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        raise CqlFilterError(f"{text!r} is not an RFC 3339 timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _date(text: Any) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise CqlFilterError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _bbox(values: Any) -> ColumnElement[Any]:
    if not isinstance(values, list) or len(values) not in (4, 6):
        raise CqlFilterError("BBOX needs 4 or 6 numbers")
    if len(values) == 6:  # drop the heights
        values = [values[0], values[1], values[3], values[4]]
    minx, miny, maxx, maxy = values
    return func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)


def _operators() -> dict[str, Any]:
    import operator

    return {
        "=": operator.eq,
        "<>": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
    }


_OPERATORS: Final = _operators()
