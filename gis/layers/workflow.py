"""The incident case workflow (数字城管 案卷流程) as a pure state machine, and its KPIs.

States follow standards.md §4.2 and issue 4 item 6::

    reported ──file──▶ filed ──dispatch──▶ dispatched ──start──▶ in_progress ──handle──▶ handled
       │                                    ▲   │  ▲                 │                    │
       └─cancel─▶ cancelled                 │   │  └──── resume ─────┤ postpone/suspend   │
                                            │   └─ postpone/suspend ─▶ postponed|suspended
                                            └──────────── rework (verification fails) ───┤
                                                            close (verification passes) ─▶ closed

- ``handle`` is also allowed straight from ``dispatched``: a unit that fixes the problem on
  arrival reports it handled without first reporting "started" (处理反馈 without 开始处理).
- ``postpone`` (缓办/延期) and ``suspend`` (挂账) pause a case that is ``dispatched`` or
  ``in_progress``; ``resume`` returns it to the state it was paused from, which the caller
  keeps (`next_state` ``resume_to``).
- ``cancelled`` (不予立案) and ``closed`` (结案) are terminal.
- ``verify_pass`` and ``verify_fail`` are accepted as the names of ``close`` and ``rework``.

KPIs (standards.md §4.4, Jinhua scoring rules) are computed from the event log by
`case_kpis`; the definitions and the choices made where the source is silent are in its
docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Literal

import numpy as np
import pandas as pd

from gis.errors import IllegalTransitionError, InvalidInputError

if TYPE_CHECKING:
    from gis.layers.worktime import WorkCalendar


class State(StrEnum):
    """Where a case is in its workflow."""

    REPORTED = "reported"  # 信息收集: received, not yet checked
    FILED = "filed"  # 案卷建立: meets the filing criterion (立案)
    CANCELLED = "cancelled"  # 不予立案 / 作废
    DISPATCHED = "dispatched"  # 任务派遣: sent to the responsible unit; the clock runs
    IN_PROGRESS = "in_progress"  # 任务处理: the unit is on it
    HANDLED = "handled"  # 处理反馈: the unit reports it done; awaits verification
    CLOSED = "closed"  # 核查结案: verified on site
    POSTPONED = "postponed"  # 缓办/延期: approved delay
    SUSPENDED = "suspended"  # 挂账: cannot be solved now, kept on the problem register


class Action(StrEnum):
    """What someone does to a case. ``report`` creates it; the others move it."""

    REPORT = "report"
    FILE = "file"
    CANCEL = "cancel"
    DISPATCH = "dispatch"
    START = "start"
    HANDLE = "handle"
    CLOSE = "close"  # verification passed
    REWORK = "rework"  # verification failed (返工)
    POSTPONE = "postpone"
    SUSPEND = "suspend"
    RESUME = "resume"

    @classmethod
    def _missing_(cls, value: object) -> Action | None:
        return _ACTION_ALIASES.get(str(value))


_ACTION_ALIASES: Final = {"verify_pass": Action.CLOSE, "verify_fail": Action.REWORK}

INITIAL_STATE: Final = State.REPORTED
TERMINAL_STATES: Final = frozenset({State.CANCELLED, State.CLOSED})
PAUSED_STATES: Final = frozenset({State.POSTPONED, State.SUSPENDED})
STATES: Final = frozenset(State)
OPEN_STATES: Final = tuple(s for s in State if s not in TERMINAL_STATES)
CLOCK_RUNNING_STATES: Final = (State.DISPATCHED, State.IN_PROGRESS)
"""The responsible unit's deadline runs here; ``handled`` waits for the supervisor."""
RESUMABLE_STATES: Final = frozenset(CLOCK_RUNNING_STATES)
"""States a paused case can have been paused from, and so resume into."""

TRANSITIONS: Final[dict[tuple[State, Action], State | None]] = {
    (State.REPORTED, Action.FILE): State.FILED,
    (State.REPORTED, Action.CANCEL): State.CANCELLED,
    (State.FILED, Action.DISPATCH): State.DISPATCHED,
    (State.DISPATCHED, Action.START): State.IN_PROGRESS,
    (State.DISPATCHED, Action.HANDLE): State.HANDLED,
    (State.IN_PROGRESS, Action.HANDLE): State.HANDLED,
    (State.HANDLED, Action.CLOSE): State.CLOSED,
    (State.HANDLED, Action.REWORK): State.DISPATCHED,
    **{(s, Action.POSTPONE): State.POSTPONED for s in RESUMABLE_STATES},
    **{(s, Action.SUSPEND): State.SUSPENDED for s in RESUMABLE_STATES},
    # None: back to the state the case was paused from (`next_state`'s ``resume_to``).
    (State.POSTPONED, Action.RESUME): None,
    (State.SUSPENDED, Action.RESUME): None,
}
"""(state, action) -> next state; a pair not listed is an illegal transition."""

DISPATCHER_ACTIONS: Final = frozenset(
    {
        Action.FILE,
        Action.CANCEL,
        Action.DISPATCH,
        Action.CLOSE,
        Action.REWORK,
        Action.POSTPONE,
        Action.SUSPEND,
        Action.RESUME,
    }
)
"""Actions of the supervision and command centres; ``start`` and ``handle`` are the unit's."""


def allowed_actions(state: State | str) -> tuple[Action, ...]:
    """Return the actions allowed in ``state``, in declaration order.

    Examples
    --------
    >>> [str(a) for a in allowed_actions("handled")]
    ['close', 'rework']
    """
    current = _state(state)
    return tuple(a for a in Action if (current, a) in TRANSITIONS)


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        raise InvalidInputError(
            f"unknown incident state {value!r}; states are {[str(s) for s in State]}"
        ) from None


def next_state(
    state: State | str, action: Action | str, *, resume_to: State | str | None = None
) -> State:
    """Return the state after ``action``, or refuse it naming what is allowed instead.

    Parameters
    ----------
    state
        The case's current state.
    action
        The action to apply (``verify_pass``/``verify_fail`` are aliases of close/rework).
    resume_to
        For ``resume`` only: the state the case was paused from (dispatched or in_progress).

    Raises
    ------
    IllegalTransitionError
        The action is unknown or not allowed in ``state``; ``allowed`` lists what is.

    Examples
    --------
    >>> next_state("handled", "verify_fail")
    <State.DISPATCHED: 'dispatched'>
    """
    current = _state(state)
    allowed = tuple(str(a) for a in allowed_actions(current))
    try:
        act = Action(action)
    except ValueError:
        raise IllegalTransitionError(
            f"unknown action {action!r}; a {current} incident allows: "
            f"{', '.join(allowed) or 'nothing (terminal state)'}",
            state=current,
            action=str(action),
            allowed=allowed,
        ) from None
    if (current, act) not in TRANSITIONS:
        raise IllegalTransitionError(
            f"cannot {act} an incident that is {current}; allowed: "
            f"{', '.join(allowed) or 'nothing (terminal state)'}",
            state=current,
            action=act,
            allowed=allowed,
        )
    target = TRANSITIONS[(current, act)]
    if target is not None:
        return target
    back = None if resume_to is None else _state(resume_to)
    if back not in RESUMABLE_STATES:
        raise IllegalTransitionError(
            f"cannot resume a {current} incident into {resume_to!r}; it must go back to "
            f"the state it was paused from ({', '.join(sorted(RESUMABLE_STATES))})",
            state=current,
            action=act,
            allowed=allowed,
        )
    assert back is not None  # for mypy: RESUMABLE_STATES holds no None
    return back


# ------------------------------------------------------------------------------------- KPIs
EVENT_COLUMNS: Final = ("incident_id", "from_state", "to_state", "at")
OnTimeBy = Literal["handled", "closed"]


def _aware_times(values: pd.Series, what: str) -> pd.Series:
    """Return ``values`` as UTC datetimes, refusing naive ones (an all-missing column is fine)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        if values.dt.tz is None:
            if values.notna().any():
                raise InvalidInputError(f"{what} must be timezone-aware")
            localised: pd.Series = values.dt.tz_localize("UTC")
            return localised
        converted: pd.Series = values.dt.tz_convert("UTC")
        return converted
    present = values.dropna()
    if present.map(lambda v: getattr(v, "tzinfo", None) is None).any():
        raise InvalidInputError(f"{what} must be timezone-aware")
    return pd.to_datetime(values, utc=True)


def _prepare_events(events: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise InvalidInputError(f"event log lacks column(s) {missing}; needs {list(EVENT_COLUMNS)}")
    ev = events.loc[:, list(EVENT_COLUMNS)].copy()
    ev["at"] = _aware_times(ev["at"], "event times (column 'at')")
    unknown = sorted(set(ev["to_state"].dropna().unique()) - set(STATES))
    if unknown:
        raise InvalidInputError(f"event log has unknown state(s) {unknown}")
    if as_of is not None:
        ev = ev[ev["at"] <= as_of]
    # A stable sort keeps the log's order for events logged within the same instant.
    return ev.sort_values(["incident_id", "at"], kind="stable").reset_index(drop=True)


def _per_incident(ev: pd.DataFrame, on_time_by: OnTimeBy) -> pd.DataFrame:
    """One row per incident: dispatched?, final state, rework count, on-time reference time."""
    to = ev["to_state"]
    g = ev.groupby("incident_id", sort=True)
    per = pd.DataFrame(
        {
            "dispatched": (to == State.DISPATCHED).groupby(ev["incident_id"]).any(),
            "final_state": g["to_state"].last(),
            "rework": ((ev["from_state"] == State.HANDLED) & (to == State.DISPATCHED))
            .groupby(ev["incident_id"])
            .sum(),
        }
    )
    # `closed` is terminal, so the last arrival in `handled` is the one that was accepted.
    ref_state = State.HANDLED if on_time_by == "handled" else State.CLOSED
    per["finished_at"] = ev["at"].where(to == ref_state).groupby(ev["incident_id"]).max()
    return per


def _step_hours(
    ev: pd.DataFrame, keys: pd.DataFrame, by: list[str], calendar: WorkCalendar | None
) -> pd.DataFrame:
    """Mean hours spent in each state per group, over stays that have ended."""
    nxt = ev.groupby("incident_id")["at"].shift(-1)
    done = nxt.notna().to_numpy()
    stays = ev.loc[done, ["incident_id", "to_state"]].rename(columns={"to_state": "state"})
    if calendar is None:
        seconds = (nxt[done] - ev.loc[done, "at"]).dt.total_seconds().to_numpy()
    else:
        seconds = calendar.working_seconds(nxt[done]) - calendar.working_seconds(ev.loc[done, "at"])
    stays["hours"] = seconds / 3600.0
    stays = stays.join(keys, on="incident_id")
    wide = stays.pivot_table(
        index=by, columns="state", values="hours", aggfunc="mean", dropna=False, observed=True
    )
    wide.columns = [f"hours_{s}" for s in wide.columns]
    return wide


def case_kpis(
    events: pd.DataFrame,
    cases: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    as_of: datetime | None = None,
    on_time_by: OnTimeBy = "handled",
    calendar: WorkCalendar | None = None,
) -> pd.DataFrame:
    """Compute the §4.4 evaluation indicators per group from an incident event log.

    Parameters
    ----------
    events
        One row per transition: ``incident_id``, ``from_state``, ``to_state``, ``at``
        (timezone-aware). Other columns are ignored. The ``report`` event has no from_state.
    cases
        One row per incident: ``incident_id``, ``deadline_at`` (aware, NaT when the class has
        no time limit) and the grouping columns (e.g. ``grid_code``, ``street_code``,
        ``department``, ``urgent``). Every incident in ``events`` must be here.
    by
        Column(s) of ``cases`` to group by; None gives one row for everything.
    as_of
        Evaluate as at this instant (events after it are ignored; deadlines are compared
        with it). Default: the last event time in the log.
    on_time_by
        Which time must meet the deadline: ``"handled"`` (default; the unit's feedback, which
        is what the unit controls, since verification is the supervisor's) or ``"closed"``.
    calendar
        If given, ``hours_*`` are working hours on this calendar; otherwise clock hours.

    Returns
    -------
    pandas.DataFrame
        Indexed by the group key(s), with columns:

        - ``reported``: incidents in the log;
        - ``due`` (应结案数): dispatched cases that should be closed by ``as_of``: closed ones,
          and open ones whose deadline has passed or that have no deadline. A case still
          inside its time limit is not yet due, so it counts neither for nor against anyone;
        - ``postponed`` (缓办数): due cases that are postponed at ``as_of``. A case that was
          postponed, resumed and closed counts as closed, not as postponed, which keeps both
          rates at or below 100 %;
        - ``closed`` (结案数) and ``closed_on_time`` (按期结案数: the ``on_time_by`` time is at
          or before ``deadline_at``, which already includes approved postponements; a case
          with no deadline is on time);
        - ``closure_rate`` = closed / (due − postponed) and ``on_time_rate`` = closed_on_time /
          (due − postponed), the Jinhua formulas; NaN when the denominator is 0. Suspended
          cases (挂账) stay in the denominator: the source subtracts only 缓办;
        - ``rework``: verification failures (handled → dispatched), and ``rework_3plus``:
          cases that failed verification three or more times (a separate Jinhua penalty);
        - ``hours_<state>``: mean time a stay in that state lasted, over stays that ended by
          ``as_of`` (terminal states have none).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.Timestamp("2026-01-05 09:00", tz="Asia/Shanghai")
    >>> ev = pd.DataFrame({"incident_id": [1, 1, 1, 1, 1],
    ...     "from_state": [None, "reported", "filed", "dispatched", "handled"],
    ...     "to_state": ["reported", "filed", "dispatched", "handled", "closed"],
    ...     "at": [t + pd.Timedelta(hours=h) for h in (0, 1, 2, 3, 4)]})
    >>> cases = pd.DataFrame({"incident_id": [1], "deadline_at": [t + pd.Timedelta(hours=5)]})
    >>> case_kpis(ev, cases)[["due", "closed", "on_time_rate"]].to_dict("records")
    [{'due': 1, 'closed': 1, 'on_time_rate': 1.0}]
    """
    keys_by = [by] if isinstance(by, str) else list(by or [])
    needed = ["incident_id", "deadline_at", *keys_by]
    missing = [c for c in needed if c not in cases.columns]
    if missing:
        raise InvalidInputError(f"case table lacks column(s) {missing}")
    if cases["incident_id"].duplicated().any():
        dupes = sorted(cases.loc[cases["incident_id"].duplicated(), "incident_id"].unique())
        raise InvalidInputError(f"case table lists incident(s) {dupes[:10]} more than once")
    at_limit = None if as_of is None else pd.Timestamp(as_of)
    if at_limit is not None and at_limit.tz is None:
        raise InvalidInputError("as_of must be timezone-aware")
    ev = _prepare_events(events, at_limit)
    now = at_limit if at_limit is not None else ev["at"].max()
    table = cases.loc[:, needed].set_index("incident_id")
    table["deadline_at"] = _aware_times(table["deadline_at"], "deadline_at")
    unknown = np.setdiff1d(ev["incident_id"].unique(), table.index.to_numpy())
    if unknown.size:
        raise InvalidInputError(
            f"events name incident(s) missing from the case table: {unknown[:10].tolist()}"
        )
    by_cols = keys_by or ["group"]
    keys = table[keys_by] if keys_by else pd.DataFrame({"group": "all"}, index=table.index)

    per = _per_incident(ev, on_time_by).join(table["deadline_at"])
    deadline = per["deadline_at"]
    final = per["final_state"]
    closed = final == State.CLOSED
    no_deadline = deadline.isna()
    due = per["dispatched"] & (closed | no_deadline | (deadline <= now))
    per["reported"] = 1
    per["due"] = due
    per["postponed"] = due & (final == State.POSTPONED)
    per["closed"] = closed & due
    per["closed_on_time"] = per["closed"] & (no_deadline | (per["finished_at"] <= deadline))
    per["rework_3plus"] = per["rework"] >= 3
    counts = ["reported", "due", "postponed", "closed", "closed_on_time", "rework", "rework_3plus"]
    per = per[counts].join(keys)
    out = per.groupby(by_cols, dropna=False, observed=True)[counts].sum().astype("int64")
    base = (out["due"] - out["postponed"]).where(lambda b: b > 0)
    out["closure_rate"] = out["closed"] / base
    out["on_time_rate"] = out["closed_on_time"] / base
    hours = _step_hours(ev, keys, by_cols, calendar)
    out = out.join(hours, how="left")
    return out if keys_by else out.reset_index(drop=True)
