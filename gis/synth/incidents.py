"""Synthetic incidents (``gridgis synth incidents``): thousands of cases with real workflows.

Cases are placed uniformly over the active grid cells of the given streets (cells drawn by
area), with a class mix weighted towards what city-management centres mostly receive
(exposed garbage, unlicensed vending, small ads). Each case follows one workflow path, e.g.
report → file → dispatch → start → handle → close, sometimes with a rework cycle, a
postponement or a suspension; every step is checked against `gis.layers.workflow.next_state`
once per path, so the log is a legal, append-only history. Handling takes a random share of
the class's time limit in working time (`gis.layers.worktime`), so some cases close late and
some open ones are overdue; steps after the end instant are cut, which leaves recent cases
open. A share of reports are duplicates of a nearby original of the same class, linked and
cancelled as intake does. Everything is flagged ``synthetic`` and written with COPY, without
NOTIFY (a bulk load is not live news).

Randomness comes from one ``numpy.random.Generator(seed)``: the same seed, streets and grid
plans give the same cases.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.db import copy_rows, hex_ewkb
from gis.errors import InvalidInputError
from gis.gridding.models import GridCell, GridPlan
from gis.layers.classes import CaseClass, default_classes
from gis.layers.workflow import Action, State, next_state
from gis.layers.worktime import WorkCalendar, default_calendar
from gis.settings import Settings

SOURCE: Final = "synth"
# Relative frequency by class code; classes not listed get the default.
CLASS_WEIGHTS: Final = {"0102": 14.0, "0401": 10.0, "0201": 9.0, "0104": 6.0, "0402": 6.0}
DEFAULT_CLASS_WEIGHT: Final = 2.0
PATHS: Final[dict[str, tuple[tuple[Action, ...], float]]] = {
    "reported": ((Action.REPORT,), 0.03),
    "cancelled": ((Action.REPORT, Action.CANCEL), 0.05),
    "filed": ((Action.REPORT, Action.FILE), 0.03),
    "dispatched": ((Action.REPORT, Action.FILE, Action.DISPATCH), 0.07),
    "started": ((Action.REPORT, Action.FILE, Action.DISPATCH, Action.START), 0.08),
    "handled": ((Action.REPORT, Action.FILE, Action.DISPATCH, Action.START, Action.HANDLE), 0.06),
    "closed": (
        (Action.REPORT, Action.FILE, Action.DISPATCH, Action.START, Action.HANDLE, Action.CLOSE),
        0.50,
    ),
    "fixed_on_arrival": (
        (Action.REPORT, Action.FILE, Action.DISPATCH, Action.HANDLE, Action.CLOSE),
        0.08,
    ),
    "rework": (
        (
            Action.REPORT,
            Action.FILE,
            Action.DISPATCH,
            Action.START,
            Action.HANDLE,
            Action.REWORK,
            Action.START,
            Action.HANDLE,
            Action.CLOSE,
        ),
        0.06,
    ),
    "postponed": (
        (Action.REPORT, Action.FILE, Action.DISPATCH, Action.START, Action.POSTPONE),
        0.02,
    ),
    "suspended": ((Action.REPORT, Action.FILE, Action.DISPATCH, Action.SUSPEND), 0.02),
}
"""Workflow paths and their shares (they sum to 1)."""
MEAN_STEP_MIN: Final = {
    Action.CANCEL: 30.0,
    Action.FILE: 20.0,
    Action.DISPATCH: 30.0,
    Action.START: 90.0,
    Action.CLOSE: 180.0,
    Action.REWORK: 120.0,
    Action.POSTPONE: 120.0,
    Action.SUSPEND: 240.0,
}
"""Mean clock minutes before each action (exponential); handling uses working time."""
_NS: Final = 1_000_000_000
CHANNELS: Final = (("worker", 0.6), ("hotline", 0.25), ("video", 0.1), ("open311", 0.05))


@dataclass(frozen=True)
class SynthIncidentOptions:
    """What to generate. Times are aware; the cases are reported in ``[end - days, end]``."""

    street_codes: tuple[str, ...]
    count: int = 3000
    days: float = 120.0
    end: datetime | None = None
    seed: int = 20260105
    duplicate_share: float = 0.03
    urgent_share: float = 0.1


@dataclass(frozen=True)
class SynthIncidentReport:
    """What was written."""

    incidents: int
    events: int
    duplicates: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class _Cells:
    ids: npt.NDArray[np.int64]
    codes: npt.NDArray[np.object_]
    streets: npt.NDArray[np.object_]
    workers: npt.NDArray[np.object_]
    geoms: npt.NDArray[np.object_]


def _active_cells(session: Session, street_codes: tuple[str, ...]) -> _Cells:
    rows = session.execute(
        select(GridCell.id, GridCell.code, GridPlan.street_code, GridCell.worker_id, GridCell.geom)
        .join(GridPlan, GridPlan.id == GridCell.plan_id)
        .where(GridPlan.status == "active", GridPlan.street_code.in_(street_codes))
        .order_by(GridCell.id)
    ).all()
    found = {r.street_code for r in rows}
    missing = sorted(set(street_codes) - found)
    if missing:
        raise InvalidInputError(f"no active grid plan with cells for street(s) {missing}")
    return _Cells(
        ids=np.array([r.id for r in rows], dtype=np.int64),
        codes=np.array([r.code for r in rows], dtype=object),
        streets=np.array([r.street_code for r in rows], dtype=object),
        workers=np.array([r.worker_id for r in rows], dtype=object),
        geoms=np.array([to_shape(r.geom) for r in rows], dtype=object),
    )


def _points_in(
    geoms: npt.NDArray[np.object_], per_cell: npt.NDArray[np.int64], rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Uniform points: ``per_cell[i]`` in cell ``i`` (rejection sampling, vectorised per cell)."""
    xs: list[npt.NDArray[np.float64]] = []
    ys: list[npt.NDArray[np.float64]] = []
    owner: list[npt.NDArray[np.int64]] = []
    for i in np.flatnonzero(per_cell):  # one pass per cell, not per point
        geom, need = geoms[i], int(per_cell[i])
        minx, miny, maxx, maxy = geom.bounds
        fill = max(float(shapely.area(geom)) / max((maxx - minx) * (maxy - miny), 1e-12), 0.05)
        got_x: list[npt.NDArray[np.float64]] = []
        have = 0
        while have < need:
            n = int((need - have) / fill * 1.3) + 8
            cx = rng.uniform(minx, maxx, n)
            cy = rng.uniform(miny, maxy, n)
            keep = shapely.contains_xy(geom, cx, cy)
            got_x.append(np.column_stack([cx[keep], cy[keep]]))
            have += int(keep.sum())
        pts = np.concatenate(got_x)[:need]
        xs.append(pts[:, 0])
        ys.append(pts[:, 1])
        owner.append(np.full(need, i, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(owner)


def _class_table() -> tuple[list[CaseClass], npt.NDArray[np.float64]]:
    classes = sorted(default_classes().events.values(), key=lambda c: c.code)
    weights = np.array([CLASS_WEIGHTS.get(c.code, DEFAULT_CLASS_WEIGHT) for c in classes])
    return classes, weights / weights.sum()


def _path_states(path: tuple[Action, ...]) -> list[tuple[State | None, State]]:
    """(from, to) of each step; checked by the real state machine once per path."""
    steps: list[tuple[State | None, State]] = [(None, State.REPORTED)]
    for action in path[1:]:
        before = steps[-1][1]
        steps.append((before, next_state(before, action)))
    return steps


def _walk(
    path: tuple[Action, ...],
    start: pd.DatetimeIndex,
    limit_s: npt.NDArray[np.float64],
    calendar: WorkCalendar,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Return event times (ns since epoch, UTC) of ``len(start)`` cases, one column per step."""
    times = np.empty((len(start), len(path)), dtype=np.int64)
    times[:, 0] = start.as_unit("ns").asi8
    for k, action in enumerate(path[1:], start=1):
        prev = pd.DatetimeIndex(times[:, k - 1].astype("datetime64[ns]")).tz_localize(UTC)
        if action is Action.HANDLE:
            # Mostly inside the limit; a lognormal tail makes about one in six late.
            share = rng.lognormal(mean=np.log(0.55), sigma=0.6, size=len(start))
            done = calendar.add_working_seconds(prev, share * limit_s)
            times[:, k] = done.tz_convert(UTC).as_unit("ns").asi8
        else:
            minutes = rng.exponential(MEAN_STEP_MIN[action], size=len(start)) + 1.0
            times[:, k] = times[:, k - 1] + (minutes * 60e9).astype(np.int64)
        # Whole seconds: exact in float64 nanoseconds and in PostgreSQL's microseconds.
        times[:, k] = times[:, k] // _NS * _NS
    return times


@dataclass
class _Cases:
    """Columns of the generated cases (originals first, then duplicates)."""

    frame: pd.DataFrame
    events: list[pd.DataFrame]


def _events_of(
    ids: npt.NDArray[np.int64],
    path: tuple[Action, ...],
    times: npt.NDArray[np.int64],
    kept: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """Explode one path group's kept steps into event rows."""
    states = _path_states(path)
    rows, cols = np.nonzero(kept)
    return pd.DataFrame(
        {
            "incident_id": ids[rows],
            "action": np.array([a.value for a in path], dtype=object)[cols],
            "from_state": np.array([f and f.value for f, _ in states], dtype=object)[cols],
            "to_state": np.array([t.value for _, t in states], dtype=object)[cols],
            "at": times[rows, cols],
            "detail": "{}",
        }
    )


def _step_time(
    path: tuple[Action, ...], action: Action, times: npt.NDArray[np.int64], kept: Any
) -> npt.NDArray[np.float64]:
    """Time (ns) of the last kept ``action`` of each case, NaN when it has none."""
    out = np.full(times.shape[0], np.nan)
    for k, step in enumerate(path):
        if step is action:
            out = np.where(kept[:, k], times[:, k].astype(np.float64), out)
    return out


def _originals(
    options: SynthIncidentOptions,
    cells: _Cells,
    ids: npt.NDArray[np.int64],
    end_ns: int,
    calendar: WorkCalendar,
    rng: np.random.Generator,
) -> _Cases:
    n = ids.size
    areas = shapely.area(cells.geoms)
    per_cell = rng.multinomial(n, areas / areas.sum())
    lon, lat, owner = _points_in(cells.geoms, per_cell, rng)
    order = rng.permutation(n)  # cells were filled in turn; mix them before timing
    lon, lat, owner = lon[order], lat[order], owner[order]
    classes, weights = _class_table()
    pick = rng.choice(len(classes), size=n, p=weights)
    urgent = rng.random(n) < options.urgent_share
    normal_min = np.array([c.time_limit_min(urgent=False, calendar=calendar) for c in classes])
    urgent_min = np.array([c.time_limit_min(urgent=True, calendar=calendar) for c in classes])
    limit_min = np.where(urgent, urgent_min[pick], normal_min[pick]).astype(np.int64)
    ago = rng.uniform(0, options.days * 86_400e9, n).astype(np.int64)
    reported = np.sort((end_ns - ago) // _NS * _NS)
    names = list(PATHS)
    shares = np.array([PATHS[p][1] for p in names])
    which = rng.choice(len(names), size=n, p=shares / shares.sum())
    frame = pd.DataFrame(
        {
            "id": ids,
            "cls": pick,
            "urgent": urgent,
            "time_limit_min": limit_min,
            "reported_at": reported,
            "lon": lon,
            "lat": lat,
            "cell": owner,
            "status": "",
            "dispatched_at": np.nan,
            "closed_at": np.nan,
            "paused_at": np.nan,
            "resume_status": None,
            "rework_count": 0,
            "updated_at": np.nan,
            "duplicate_of": pd.array([None] * n, dtype="Int64"),
        }
    )
    events: list[pd.DataFrame] = []
    for p, name in enumerate(names):
        rows = np.flatnonzero(which == p)
        if rows.size == 0:
            continue
        path = PATHS[name][0]
        start = pd.DatetimeIndex(reported[rows].astype("datetime64[ns]")).tz_localize(UTC)
        times = _walk(path, start, (limit_min[rows] * 60.0).astype(np.float64), calendar, rng)
        kept = times <= end_ns  # steps after `end` have not happened yet
        last = kept.sum(axis=1) - 1
        states = _path_states(path)
        frame.loc[rows, "status"] = np.array([t.value for _, t in states], dtype=object)[last]
        frame.loc[rows, "updated_at"] = times[np.arange(rows.size), last]
        frame.loc[rows, "dispatched_at"] = _first(path, Action.DISPATCH, times, kept)
        frame.loc[rows, "closed_at"] = _step_time(path, Action.CLOSE, times, kept)
        reworks = np.array([a is Action.REWORK for a in path])
        frame.loc[rows, "rework_count"] = (kept & reworks[None, :]).sum(axis=1)
        paused = np.isin([t.value for _, t in states], [State.POSTPONED, State.SUSPENDED])[last]
        frame.loc[rows[paused], "paused_at"] = times[np.arange(rows.size), last][paused]
        frame.loc[rows[paused], "resume_status"] = np.array(
            [f and f.value for f, _ in states], dtype=object
        )[last][paused]
        events.append(_events_of(ids[rows], path, times, kept))
    return _Cases(frame, events)


def _first(
    path: tuple[Action, ...], action: Action, times: npt.NDArray[np.int64], kept: Any
) -> npt.NDArray[np.float64]:
    """Time (ns) of the first kept ``action`` of each case (the clock starts there)."""
    out = np.full(times.shape[0], np.nan)
    for k in reversed(range(len(path))):
        if path[k] is action:
            out = np.where(kept[:, k], times[:, k].astype(np.float64), out)
    return out


def _duplicates(
    cases: _Cases,
    ids: npt.NDArray[np.int64],
    end_ns: int,
    rng: np.random.Generator,
    geoms: npt.NDArray[np.object_],
) -> _Cases:
    """Re-reports of open originals nearby and soon after: linked and cancelled at intake.

    A re-report lies a few metres from its original, inside the original's cell (``geoms``
    by cell): one that would land across the cell's edge is put on the original's spot.
    """
    frame = cases.frame
    n = ids.size
    if n == 0:
        return _Cases(frame.iloc[0:0].copy(), [])
    source = rng.integers(0, len(frame), n)
    orig = frame.iloc[source].reset_index(drop=True)
    later = rng.uniform(5 * 60e9, 6 * 3600e9, n).astype(np.int64) // _NS * _NS
    at = orig["reported_at"].to_numpy().astype(np.int64) + later
    closed = orig["closed_at"].fillna(np.inf).to_numpy()
    open_then = (orig["status"] != State.CANCELLED.value).to_numpy() & (at < closed)
    ok = open_then & (at <= end_ns)
    orig, at, ids = orig[ok].reset_index(drop=True), at[ok], ids[: int(ok.sum())]
    lon = orig["lon"].to_numpy() + rng.normal(0, 8e-5, len(orig))
    lat = orig["lat"].to_numpy() + rng.normal(0, 6e-5, len(orig))
    inside = shapely.contains_xy(geoms[orig["cell"].to_numpy()], lon, lat)
    dup = orig.assign(
        id=ids,
        urgent=False,
        reported_at=at,
        lon=np.where(inside, lon, orig["lon"].to_numpy()),
        lat=np.where(inside, lat, orig["lat"].to_numpy()),
        status=State.CANCELLED.value,
        dispatched_at=np.nan,
        closed_at=np.nan,
        paused_at=np.nan,
        resume_status=None,
        rework_count=0,
        updated_at=at,
        duplicate_of=pd.array(orig["id"].to_numpy(), dtype="Int64"),
    )
    detail = [json.dumps({"reason": "duplicate", "duplicate_of": int(o)}) for o in orig["id"]]
    report = pd.DataFrame(
        {
            "incident_id": ids,
            "action": Action.REPORT.value,
            "from_state": None,
            "to_state": State.REPORTED.value,
            "at": at,
            "detail": "{}",
        }
    )
    cancel = report.assign(
        action=Action.CANCEL.value,
        from_state=State.REPORTED.value,
        to_state=State.CANCELLED.value,
        detail=detail,
    )
    return _Cases(dup, [report, cancel])


def _utc(ns: Any) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.float64), unit="ns", utc=True))


_INCIDENT_COLUMNS: Final = [
    "id", "kind", "major_code", "minor_code", "status", "urgent", "description", "channel",
    "reporter", "worker_id", "department", "duplicate_of", "rework_count", "reported_at",
    "dispatched_at", "deadline_at", "closed_at", "time_limit_min", "paused_at", "resume_status",
    "source", "source_id", "synthetic", "updated_at", "geom",
]  # fmt: skip
_MEMBERSHIP_COLUMNS: Final = ["id", "street_code", "grid_code", "grid_cell_id"]
_EVENT_COLUMNS: Final = ["incident_id", "action", "from_state", "to_state", "actor", "at", "note",
                         "detail"]  # fmt: skip


def _incident_rows(
    frame: pd.DataFrame, cells: _Cells, calendar: WorkCalendar, rng: np.random.Generator
) -> pd.DataFrame:
    classes, _ = _class_table()
    cls = [classes[i] for i in frame["cls"]]
    cell = frame["cell"].to_numpy()
    dispatched = _utc(frame["dispatched_at"])
    has_clock = dispatched.notna().to_numpy()
    deadline = pd.Series(pd.NaT, index=dispatched.index, dtype="datetime64[ns, UTC]")
    if has_clock.any():
        due = calendar.add_working_seconds(
            pd.DatetimeIndex(dispatched[has_clock]),
            frame["time_limit_min"].to_numpy()[has_clock] * 60.0,
        )
        deadline[has_clock] = due.tz_convert(UTC)
    channel_names = [c for c, _ in CHANNELS]
    channel_p = np.array([p for _, p in CHANNELS])
    return pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "kind": [c.kind.value for c in cls],
            "major_code": [c.major_code for c in cls],
            "minor_code": [c.minor_code for c in cls],
            "status": frame["status"].to_numpy(),
            "urgent": frame["urgent"].to_numpy(),
            "description": [f"{c.name} (synthetic)" for c in cls],
            "channel": rng.choice(channel_names, size=len(frame), p=channel_p),
            "reporter": SOURCE,
            "worker_id": pd.array(cells.workers[cell], dtype="Int64"),
            "department": [c.department for c in cls],
            "duplicate_of": frame["duplicate_of"].astype("Int64"),
            "rework_count": frame["rework_count"].astype(int).to_numpy(),
            "reported_at": _utc(frame["reported_at"]),
            "dispatched_at": dispatched,
            "deadline_at": deadline,
            "closed_at": _utc(frame["closed_at"]),
            "time_limit_min": frame["time_limit_min"].to_numpy(),
            "paused_at": _utc(frame["paused_at"]),
            "resume_status": frame["resume_status"].to_numpy(),
            "street_code": cells.streets[cell],
            "grid_code": cells.codes[cell],
            "grid_cell_id": cells.ids[cell],
            "source": SOURCE,
            "source_id": frame["id"].astype(str).to_numpy(),
            "synthetic": True,
            "updated_at": _utc(frame["updated_at"]),
            "geom": hex_ewkb(shapely.points(frame["lon"].to_numpy(), frame["lat"].to_numpy())),
        }
    )


def clear_synthetic_incidents(session: Session, street_codes: tuple[str, ...]) -> int:
    """Delete the synthetic incidents of these streets and their logs; return how many.

    The event log is append-only; this deliberate purge says so with the session setting the
    log's trigger checks (migration 0004).
    """
    session.execute(text("SET LOCAL gridgis.allow_incident_event_delete = 'on'"))
    result = session.execute(
        text(
            "DELETE FROM incident i USING incident_membership m WHERE m.id = i.id"
            " AND i.synthetic AND i.source = :source AND m.street_code = ANY(:streets)"
        ),
        {"source": SOURCE, "streets": list(street_codes)},
    )
    session.execute(text("SET LOCAL gridgis.allow_incident_event_delete = 'off'"))
    return int(getattr(result, "rowcount", 0) or 0)


def synth_incidents(
    session: Session, options: SynthIncidentOptions, *, calendar: WorkCalendar | None = None
) -> SynthIncidentReport:
    """Generate and store synthetic incidents with their event logs (see the module docs).

    Parameters
    ----------
    session : Session
        The caller's transaction; everything is written with COPY inside it.
    options : SynthIncidentOptions
        Streets (each needs an active grid plan), how many, over how many days, seed.
    calendar : WorkCalendar, optional
        Working hours for handling times and deadlines; default the packaged calendar.

    Returns
    -------
    SynthIncidentReport
        Counts written; ``duplicates`` may fall short of the share asked for, because only
        originals still open at the duplicate's report time can be duplicated.
    """
    if options.count < 1:
        raise InvalidInputError(f"count must be at least 1, got {options.count}")
    if not 0 <= options.duplicate_share < 0.5:
        raise InvalidInputError("duplicate_share must be in [0, 0.5)")
    if not options.street_codes:
        raise InvalidInputError("give at least one street code")
    end = options.end or datetime.now(UTC)
    if end.tzinfo is None:
        raise InvalidInputError("end must be timezone-aware")
    cal = calendar or default_calendar()
    rng = np.random.default_rng(options.seed)
    cells = _active_cells(session, options.street_codes)
    ids = np.array(
        session.execute(
            select(func.nextval(func.pg_get_serial_sequence("incident", "id"))).select_from(
                func.generate_series(1, options.count)
            )
        )
        .scalars()
        .all(),
        dtype=np.int64,
    )
    n_dup = round(options.count * options.duplicate_share)
    end_ns = pd.Timestamp(end).as_unit("ns").value
    originals = _originals(options, cells, ids[: ids.size - n_dup], end_ns, cal, rng)
    dups = _duplicates(originals, ids[ids.size - n_dup :], end_ns, rng, cells.geoms)
    frame = pd.concat([originals.frame, dups.frame], ignore_index=True)
    rows = _incident_rows(frame, cells, cal, rng)
    copy_rows(session, "incident", rows, _INCIDENT_COLUMNS)
    copy_rows(session, "incident_membership", rows, _MEMBERSHIP_COLUMNS)
    events = pd.concat([*originals.events, *dups.events], ignore_index=True)
    events = events.assign(at=_utc(events["at"]), actor=SOURCE, note=None)
    events = events.sort_values(["at", "incident_id"], kind="stable")
    copy_rows(session, "incident_event", events, _EVENT_COLUMNS)
    counts = rows["status"].value_counts().sort_index()
    return SynthIncidentReport(
        incidents=len(rows),
        events=len(events),
        duplicates=len(dups.frame),
        by_status={str(k): int(v) for k, v in counts.items()},
    )


# ------------------------------------------------------------------------------------ CLI
def _run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.cli_context import cli_session

    streets = tuple(args.street)
    options = SynthIncidentOptions(
        street_codes=streets,
        count=args.count,
        days=args.days,
        seed=args.seed,
        duplicate_share=args.duplicates,
    )
    with cli_session(settings) as session:
        removed = clear_synthetic_incidents(session, streets) if args.replace else 0
        report = synth_incidents(session, options)
    print(
        f"removed {removed}, wrote {report.incidents} synthetic incidents "
        f"({report.duplicates} duplicates) and {report.events} events: {report.by_status}"
    )
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``gridgis synth incidents`` to the ``synth`` subparsers."""
    cmd = subparsers.add_parser(
        "incidents", help="synthetic incident cases with workflow histories (flagged)"
    )
    cmd.add_argument(
        "--street", action="append", required=True, help="9-digit street code (repeatable)"
    )
    cmd.add_argument("--count", type=int, default=3000, help="number of cases (default 3000)")
    cmd.add_argument("--days", type=float, default=120.0, help="report period, days to now")
    cmd.add_argument("--seed", type=int, default=20260105, help="random seed (reproducible)")
    cmd.add_argument("--duplicates", type=float, default=0.03, help="share of duplicate reports")
    cmd.add_argument(
        "--replace", action="store_true", help="first delete these streets' synthetic incidents"
    )
    cmd.set_defaults(func=_run)
