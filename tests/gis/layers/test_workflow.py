from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from gis.errors import ConflictError, IllegalTransitionError, InvalidInputError
from gis.layers.workflow import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    State,
    allowed_actions,
    case_kpis,
    next_state,
)
from gis.layers.worktime import WorkCalendar

BJ = ZoneInfo("Asia/Shanghai")


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)  # type: ignore[misc]


def test_one_incident_through_every_transition() -> None:
    steps = [
        (Action.FILE, State.FILED),
        (Action.DISPATCH, State.DISPATCHED),
        (Action.POSTPONE, State.POSTPONED),
        (Action.RESUME, State.DISPATCHED),
        (Action.START, State.IN_PROGRESS),
        (Action.SUSPEND, State.SUSPENDED),
        (Action.RESUME, State.IN_PROGRESS),
        (Action.POSTPONE, State.POSTPONED),
        (Action.RESUME, State.IN_PROGRESS),
        (Action.HANDLE, State.HANDLED),
        ("verify_fail", State.DISPATCHED),  # rework
        (Action.SUSPEND, State.SUSPENDED),
        (Action.RESUME, State.DISPATCHED),
        (Action.HANDLE, State.HANDLED),  # straight from dispatched
        ("verify_pass", State.CLOSED),
    ]
    state, paused_from = State.REPORTED, None
    seen = set()
    for action, expected in steps:
        before = state
        state = next_state(state, action, resume_to=paused_from)
        assert state is expected, (before, action)
        seen.add((before, Action(action)))
        paused_from = before if state in (State.POSTPONED, State.SUSPENDED) else None
    # Every transition except the cancel branch was used.
    assert set(TRANSITIONS) - seen == {(State.REPORTED, Action.CANCEL)}
    assert next_state(State.REPORTED, "cancel") is State.CANCELLED
    with pytest.raises(IllegalTransitionError) as err:
        next_state(state, Action.REWORK)
    assert "cannot rework an incident that is closed" in str(err.value)
    assert "nothing (terminal state)" in str(err.value)


def test_illegal_transition_names_state_action_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransitionError) as err:
        next_state("filed", "close")
    exc = err.value
    assert isinstance(exc, ConflictError)
    assert (exc.state, exc.action, exc.allowed) == ("filed", "close", ("dispatch",))
    assert str(exc) == "cannot close an incident that is filed; allowed: dispatch"


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("reported", "dispatch"),  # must be filed first
        ("filed", "cancel"),  # only a report can be refused
        ("handled", "postpone"),  # the unit's clock has stopped
        ("postponed", "suspend"),
        ("cancelled", "file"),
        ("in_progress", "start"),
    ],
)
def test_illegal_transitions(state: str, action: str) -> None:
    with pytest.raises(
        IllegalTransitionError, match=f"cannot {action} an incident that is {state}"
    ):
        next_state(state, action)


def test_unknown_action_and_state() -> None:
    with pytest.raises(
        IllegalTransitionError,
        match="unknown action 'fly'; a handled incident allows: close, rework",
    ):
        next_state("handled", "fly")
    with pytest.raises(InvalidInputError, match="unknown incident state 'lost'"):
        next_state("lost", "file")


def test_resume_needs_the_paused_from_state() -> None:
    assert next_state("postponed", "resume", resume_to="in_progress") is State.IN_PROGRESS
    for bad in (None, "handled", "postponed"):
        with pytest.raises(IllegalTransitionError, match="cannot resume"):
            next_state("suspended", "resume", resume_to=bad)


def test_terminal_states_allow_nothing() -> None:
    for state in TERMINAL_STATES:
        assert allowed_actions(state) == ()
    assert allowed_actions("dispatched") == (
        Action.START,
        Action.HANDLE,
        Action.POSTPONE,
        Action.SUSPEND,
    )


# ------------------------------------------------------------------------------------ KPIs
def _log(paths: dict[int, list[tuple[str, datetime]]]) -> pd.DataFrame:
    rows = []
    for incident, path in paths.items():
        before = None
        for state, at in path:
            rows.append(
                {"incident_id": incident, "from_state": before, "to_state": state, "at": at}
            )
            before = state
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter


R, F, D, P, H, C = "reported", "filed", "dispatched", "in_progress", "handled", "closed"
PATHS = {
    # grid A
    1: [
        (R, bj(2026, 1, 5, 8)),
        (F, bj(2026, 1, 5, 8, 30)),
        (D, bj(2026, 1, 5, 9)),
        (P, bj(2026, 1, 5, 10)),
        (H, bj(2026, 1, 5, 11)),
        (C, bj(2026, 1, 5, 11, 30)),
    ],
    2: [
        (R, bj(2026, 1, 5, 8)),
        (F, bj(2026, 1, 5, 8, 30)),
        (D, bj(2026, 1, 5, 9)),
        (P, bj(2026, 1, 5, 10)),
        (H, bj(2026, 1, 6, 10)),
        (D, bj(2026, 1, 6, 11)),
        (H, bj(2026, 1, 7, 10)),
        (C, bj(2026, 1, 7, 11)),
    ],
    3: [
        (R, bj(2026, 1, 5, 8)),
        (F, bj(2026, 1, 5, 8, 30)),
        (D, bj(2026, 1, 5, 9)),
        ("postponed", bj(2026, 1, 5, 15)),
    ],
    # grid B
    4: [
        (R, bj(2026, 1, 9, 8)),
        (F, bj(2026, 1, 9, 8, 30)),
        (D, bj(2026, 1, 9, 9)),
        (P, bj(2026, 1, 9, 10)),
    ],
    5: [
        (R, bj(2026, 1, 5, 8)),
        (F, bj(2026, 1, 5, 8, 30)),
        (D, bj(2026, 1, 5, 9)),
        (P, bj(2026, 1, 5, 10)),
    ],
    6: [(R, bj(2026, 1, 5, 8)), ("cancelled", bj(2026, 1, 5, 8, 10))],
    7: [
        (R, bj(2026, 1, 5, 8)),
        (F, bj(2026, 1, 5, 8, 30)),
        (D, bj(2026, 1, 5, 9)),
        (H, bj(2026, 1, 5, 10)),
        (D, bj(2026, 1, 5, 11)),
        (H, bj(2026, 1, 5, 12)),
        (D, bj(2026, 1, 5, 13)),
        (H, bj(2026, 1, 5, 14)),
        (D, bj(2026, 1, 5, 15)),
        (H, bj(2026, 1, 5, 16)),
        (C, bj(2026, 1, 5, 17)),
    ],
}
CASES = pd.DataFrame(
    {
        "incident_id": [1, 2, 3, 4, 5, 6, 7],
        "grid": ["A", "A", "A", "B", "B", "B", "B"],
        "deadline_at": [
            bj(2026, 1, 5, 13),
            bj(2026, 1, 6, 9),
            bj(2026, 1, 6, 9),
            bj(2026, 1, 12, 9),
            bj(2026, 1, 6, 9),
            pd.NaT,
            pd.NaT,
        ],
    }
)
AS_OF = bj(2026, 1, 10, 12)


def test_kpis_on_a_hand_computed_log() -> None:
    kpis = case_kpis(_log(PATHS), CASES, by="grid", as_of=AS_OF)
    a, b = kpis.loc["A"], kpis.loc["B"]
    # A: 1 closed on time, 2 closed late (handled 7 Jan > deadline 6 Jan 09:00) after one
    # rework, 3 still postponed. 应结案 3, 缓办 1 -> base 2: 结案率 2/2, 按期结案率 1/2.
    assert (a.reported, a.due, a.postponed, a.closed, a.closed_on_time) == (3, 3, 1, 2, 1)
    assert (a.closure_rate, a.on_time_rate, a.rework, a.rework_3plus) == (1.0, 0.5, 1, 0)
    # B: 4 is inside its limit (not yet due), 5 overdue and open, 6 cancelled (never due),
    # 7 closed with no deadline after 3 reworks. 应结案 2 -> 结案率 1/2, 按期 1/2.
    assert (b.reported, b.due, b.postponed, b.closed, b.closed_on_time) == (4, 2, 0, 1, 1)
    assert (b.closure_rate, b.on_time_rate, b.rework, b.rework_3plus) == (0.5, 0.5, 3, 1)
    # Mean stay in "handled", grid A: 0.5 h (case 1), 1 h and 1 h (case 2) -> 2.5 / 3 h.
    assert a.hours_handled == pytest.approx(2.5 / 3)
    # Grid B "handled": case 7's four stays of 1 h each.
    assert b.hours_handled == pytest.approx(1.0)
    # "reported": 0.5 h everywhere except case 6 (10 min): B = (0.5 + 0.5 + 1/6 + 0.5) / 4.
    assert b.hours_reported == pytest.approx((1.5 + 1 / 6) / 4)


def test_overall_kpis_and_as_of() -> None:
    total = case_kpis(_log(PATHS), CASES, as_of=AS_OF).iloc[0]
    assert (total.due, total.postponed, total.closed, total.closed_on_time) == (5, 1, 3, 2)
    assert (total.closure_rate, total.on_time_rate) == (0.75, 0.5)
    # On 5 January at noon only cases past their deadline or closed are due: 1 (closed),
    # 7 is still open then but has no deadline -> due; 2, 3 and 5 fall due on 6 January.
    # Case 7 has failed verification once by then (handled 10:00 -> dispatched 11:00).
    early = case_kpis(_log(PATHS), CASES, as_of=bj(2026, 1, 5, 12)).iloc[0]
    assert (early.due, early.closed, early.closed_on_time, early.rework) == (2, 1, 1, 1)


def test_on_time_by_closing_time() -> None:
    cases = CASES.assign(
        deadline_at=CASES["deadline_at"].where(CASES.incident_id != 1, bj(2026, 1, 5, 11, 15))
    )
    by_handled = case_kpis(_log(PATHS), cases, by="grid", as_of=AS_OF).loc["A"]
    by_closed = case_kpis(_log(PATHS), cases, by="grid", as_of=AS_OF, on_time_by="closed").loc["A"]
    assert (by_handled.closed_on_time, by_closed.closed_on_time) == (1, 0)


def test_step_hours_on_a_working_calendar() -> None:
    calendar = WorkCalendar()  # 09:00-12:00, 13:30-18:00
    kpis = case_kpis(_log(PATHS), CASES, by="grid", as_of=AS_OF, calendar=calendar)
    # Case 2 stayed in_progress from Mon 10:00 to Tue 10:00: 7.5 working hours.
    assert kpis.loc["A", "hours_in_progress"] == pytest.approx((1 + 7.5) / 2)


def test_kpi_input_errors() -> None:
    log = _log(PATHS)
    with pytest.raises(InvalidInputError, match="missing from the case table: \\[7\\]"):
        case_kpis(log, CASES[CASES.incident_id != 7])
    with pytest.raises(InvalidInputError, match="lacks column"):
        case_kpis(log.drop(columns="at"), CASES)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        case_kpis(log.assign(at=log["at"].dt.tz_localize(None)), CASES)
    with pytest.raises(InvalidInputError, match="more than once"):
        case_kpis(log, pd.concat([CASES, CASES.iloc[:1]]))
    naive = CASES.assign(deadline_at=pd.Timestamp("2026-01-06 09:00"))
    with pytest.raises(InvalidInputError, match="deadline_at must be timezone-aware"):
        case_kpis(log, naive)
    with pytest.raises(InvalidInputError, match="unknown state"):
        case_kpis(log.assign(to_state="lost"), CASES)


def test_cases_without_any_deadline() -> None:
    # A column of NaT only has no timezone; it must still work (every case is due once
    # dispatched and on time when closed).
    kpis = case_kpis(_log(PATHS), CASES.assign(deadline_at=pd.NaT), as_of=AS_OF).iloc[0]
    assert (kpis.due, kpis.closed, kpis.closed_on_time) == (6, 3, 3)


def test_empty_group_rates_are_nan() -> None:
    log = _log({6: PATHS[6]})
    kpis = case_kpis(log, CASES, as_of=AS_OF).iloc[0]
    assert kpis.due == 0 and pd.isna(kpis.closure_rate) and pd.isna(kpis.on_time_rate)


def test_kpis_scale_vectorised() -> None:
    # 20k incidents x 6 events: one groupby pass, well under a second.
    n = 20_000
    base = pd.Timestamp("2026-01-05 09:00", tz="Asia/Shanghai")
    states = [R, F, D, P, H, C]
    log = pd.DataFrame(
        {
            "incident_id": np.repeat(np.arange(n), len(states)),
            "from_state": [None, R, F, D, P, H] * n,
            "to_state": states * n,
            "at": base + pd.to_timedelta(np.tile(np.arange(len(states)), n), unit="h"),
        }
    )
    cases = pd.DataFrame(
        {
            "incident_id": np.arange(n),
            "grid": np.arange(n) % 50,
            "deadline_at": base + pd.Timedelta(hours=4),
        }
    )
    kpis = case_kpis(log, cases, by="grid")
    assert len(kpis) == 50 and (kpis["on_time_rate"] == 1.0).all()
    assert kpis["due"].sum() == n


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("gis.layers.workflow"))
    assert result.attempted > 0 and result.failed == 0
