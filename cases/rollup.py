"""The daily roll-up of case figures (事件日汇总) that the dashboard reads: see docs/dashboard.md.

Three tables, each with one row per region of the case's branch of the tree (its grid, community, street, district
and city), so that any region's figures are a few of its own rows and a breakdown by sub-region reads the children's
rows, never the cases:

- ``CaseDaily`` (region, day, category): counts of the day's events and the working hours report → close;
- ``DepartmentDaily`` (region, day, department): the departments' signs, completions and refusals, and how many of
  them were in time;
- ``OpenCount`` (region, state): live, how many cases are open in each state now.

``record`` is called by the case service for every event it writes (``services._event``), in the same transaction:
one SQL statement on PostgreSQL (the upserts of the three tables as data-modifying CTEs), whatever the event, so the
write path stays within its statement budget. Whether a step was in time is read in that statement from the step
deadlines (``cases.StepDeadline``) with the same rule that ``rebuild`` applies to the whole history.

``contributions`` is the one rule that says what an event adds where; ``rebuild`` (management command
``rebuild_rollup``) replays every event through it.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils import timezone

from grids.models import Region

from . import calendar
from .models import (
    CASE_DAILY_COUNTERS,
    CLOSE_HOUR_BUCKETS,
    DEPARTMENT_DAILY_COUNTERS,
    ROLLUP_SOURCES,
    Case,
    CaseDaily,
    CaseEvent,
    DepartmentDaily,
    OpenCount,
)
from .workflow import State

CLOSED_STATES = (State.CLOSED, State.CANCELLED)

# The in-time rule of each counted step, as SQL over cases_stepdeadline (%s: the case or work order id, then the
# event's moment T, given twice). A step without a clock counts as in time: no deadline was missed.
_LATEST_STEP_LATE = (
    "EXISTS (SELECT 1 FROM (SELECT d.due_at FROM cases_stepdeadline d WHERE d.{owner} = %s AND d.step = '{step}'"
    " AND d.started_at <= %s ORDER BY d.started_at DESC, d.id DESC LIMIT 1) s WHERE s.due_at < %s)"
)
_ANY_STEP_LATE = (
    "EXISTS (SELECT 1 FROM cases_stepdeadline d WHERE d.case_id = %s AND d.step <> 'evaluate'"
    " AND d.started_at <= %s AND d.due_at < %s AND (d.closed_at IS NULL OR d.due_at < d.closed_at))"
)
LATE_RULES = {
    "dispatched_on_time": (_LATEST_STEP_LATE.format(owner="case_id", step="dispatch"), "case"),
    "closed_on_time": (_ANY_STEP_LATE, "case"),
    "signed_on_time": (_LATEST_STEP_LATE.format(owner="work_order_id", step="sign"), "work_order"),
    "done_on_time": (_LATEST_STEP_LATE.format(owner="work_order_id", step="complete"), "work_order"),
}


@lru_cache(maxsize=1)
def _zone():
    return timezone.get_default_timezone()


def local_day(moment: datetime) -> date:
    """The calendar day of ``moment`` in settings.TIME_ZONE (the rebuild calls it millions of times)."""
    return moment.astimezone(_zone()).date()


def hour_bucket(hours: float) -> int:
    """The working-hour bucket (b0…b9) of a report → close time."""
    for i, bound in enumerate(CLOSE_HOUR_BUCKETS):
        if hours <= bound:
            return i
    return len(CLOSE_HOUR_BUCKETS)


def ancestor_paths(path: str) -> list[str]:
    step = Region.steplen
    return [path[:i] for i in range(step, len(path) + 1, step)]


@dataclass
class Fact:
    """What the roll-up needs of one event and its case."""

    transition: str
    from_state: str
    to_state: str
    at: datetime
    case_id: int
    category_id: int
    region_path: str
    created_at: datetime
    source: str
    data: dict = field(default_factory=dict)
    work_order_id: int | None = None
    department_id: int | None = None


class OnTime:
    """Placeholder of an in-time flag: computed by the database in ``record``, given by ``rebuild``."""


ON_TIME = OnTime()


@dataclass
class Contribution:
    daily: dict[date, dict[str, Any]] = field(default_factory=dict)
    department: dict[str, Any] = field(default_factory=dict)  # on the event's day
    open: dict[str, int] = field(default_factory=dict)

    def add(self, day: date, name: str, value: Any = 1) -> None:
        row = self.daily.setdefault(day, {})
        row[name] = value if isinstance(value, OnTime) else row.get(name, 0) + value


def contributions(f: Fact, *, on_time: int | None = None, close_hours: float | None = None) -> Contribution:
    """What one event adds to the roll-up: the one rule, shared by the live path and the rebuild.

    ``on_time`` (0/1) and ``close_hours`` are given by the rebuild; the live path leaves the flag to the database
    and computes the hours itself.
    """
    flag: Any = ON_TIME if on_time is None else on_time
    c = Contribution()
    day = local_day(f.at)
    cohort = local_day(f.created_at)
    t = f.transition
    if t == "report":
        local = f.created_at.astimezone(_zone())
        c.add(day, "new")
        c.add(day, f"new_{f.source if f.source in ROLLUP_SOURCES else 'other'}")
        c.add(day, f"h{local.hour:02d}")
    elif t == "settle":
        c.add(day, "settled")
    elif t == "call_street":
        c.add(day, "called")
    elif t == "dispatch":
        c.add(day, "dispatched")
        c.add(day, "dispatched_on_time", flag)
    elif t == "verify_ok":
        c.add(day, "verified")
    elif t == "verify_failed":
        c.add(day, "verify_failed")
    elif t == "close":
        if close_hours is None:
            close_hours = max(0.0, calendar.working_hours_between(f.created_at, f.at))
        c.add(day, "closed")
        c.add(day, "closed_on_time", flag)
        c.add(day, "close_hours", round(close_hours, 4))
        c.add(day, f"b{hour_bucket(close_hours)}")
        c.add(cohort, "cohort_closed")
    elif t == "evaluate":
        c.add(day, "evaluated")
        satisfaction = (f.data or {}).get("satisfaction")
        if satisfaction in ("satisfied", "basically", "unsatisfied"):
            c.add(day, satisfaction)
    elif t == "rehandle":
        c.add(day, "rehandled")
    elif t in ("cancel", "mark_duplicate"):
        c.add(day, "cancelled")
        c.add(cohort, "cohort_cancelled")
    if t in ("reopen", "rehandle") and f.from_state == State.CLOSED:
        c.add(cohort, "cohort_closed", -1)
    if f.department_id is not None:
        if t == "wo_sign":
            c.department = {"signed": 1, "signed_on_time": flag}
        elif t == "wo_complete":
            c.department = {"done": 1, "done_on_time": flag}
        elif t == "wo_refuse":
            c.department = {"refused": 1}
    if f.from_state != f.to_state:
        if f.from_state and f.from_state not in CLOSED_STATES:
            c.open[f.from_state] = c.open.get(f.from_state, 0) - 1
        if f.to_state and f.to_state not in CLOSED_STATES:
            c.open[f.to_state] = c.open.get(f.to_state, 0) + 1
    for row in c.daily.values():  # drop what cancelled out (a close and a reopen of one day's case)
        for name in [n for n, v in row.items() if not isinstance(v, OnTime) and v == 0]:
            del row[name]
    c.daily = {d: row for d, row in c.daily.items() if row}
    c.open = {s: n for s, n in c.open.items() if n}
    return c


# --- writing ------------------------------------------------------------------------------------------------------


def _table(model) -> str:
    return model._meta.db_table


def _upsert(model, key: tuple[str, ...], rows: list[tuple[tuple, dict[str, Any]]], paths: list[str], fact=None):
    """``INSERT … SELECT`` of ``rows`` (key values, counters) for every region of ``paths``, adding to what is
    there. An in-time placeholder becomes the SQL rule of ``LATE_RULES`` for ``fact``."""
    table = _table(model)
    names = sorted({n for _k, counters in rows for n in counters})
    params: list[Any] = []
    selects = []
    in_paths = ", ".join(["%s"] * len(paths))
    for key_values, counters in rows:
        cols = ["r.id"] + ["%s"] * len(key_values)
        params += list(key_values)
        for n in names:
            value = counters.get(n, 0)
            if isinstance(value, OnTime):
                rule, owner = LATE_RULES[n]
                cols.append(f"CASE WHEN {rule} THEN 0 ELSE 1 END")
                params += [fact.case_id if owner == "case" else fact.work_order_id, fact.at, fact.at]
            else:
                cols.append("%s")
                params.append(value)
        selects.append(f"SELECT {', '.join(cols)} FROM grids_region r WHERE r.path IN ({in_paths})")  # noqa: S608
        params += paths
    columns = ", ".join(["region_id", *(f"{k}_id" if k in ("category", "department") else k for k in key), *names])
    conflict = ", ".join(["region_id", *(f"{k}_id" if k in ("category", "department") else k for k in key)])
    updates = ", ".join(f"{n} = {table}.{n} + EXCLUDED.{n}" for n in names)
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT * FROM ({' UNION ALL '.join(selects)}) AS v WHERE true "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )
    return sql, params


def _statements(f: Fact, c: Contribution) -> list[tuple[str, list[Any]]]:
    paths = ancestor_paths(f.region_path)
    out = []
    if c.daily:
        rows = [((day, f.category_id), counters) for day, counters in sorted(c.daily.items())]
        out.append(_upsert(CaseDaily, ("day", "category"), rows, paths, f))
    if c.department:
        rows = [((local_day(f.at), f.department_id), c.department)]
        out.append(_upsert(DepartmentDaily, ("day", "department"), rows, paths, f))
    if c.open:
        rows = [((state,), {"n": n}) for state, n in sorted(c.open.items())]
        out.append(_upsert(OpenCount, ("state",), rows, paths, f))
    return out


def save_event(event, *, case, work_order=None) -> None:
    """Insert the timeline event (unsaved, ``at`` set) and add it to the roll-up, inside the caller's transaction.

    On PostgreSQL it is one statement: the event's ``INSERT … RETURNING id`` and the roll-up's upserts as
    data-modifying CTEs. Elsewhere the event is saved, then ``record`` runs its statements.
    """
    if connection.vendor != "postgresql":
        event.save(force_insert=True)
        record(case=case, event=event, work_order=work_order)
        return
    fields = [f for f in event._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    insert = f"INSERT INTO {_table(type(event))} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id"  # noqa: S608
    fact = _fact(case, event, work_order)
    statements = _statements(fact, contributions(fact))
    ctes = ", ".join([f"e AS ({insert})", *(f"u{i} AS ({sql})" for i, (sql, _p) in enumerate(statements))])
    with connection.cursor() as cursor:
        params = [*values, *(p for _s, ps in statements for p in ps)]
        cursor.execute(f"WITH {ctes} SELECT id FROM e", params)  # noqa: S608 - our tables and placeholders
        (event.pk,) = cursor.fetchone()
    event._state.adding, event._state.db = False, connection.alias


def _fact(case, event, work_order) -> Fact:
    return Fact(
        transition=event.transition,
        from_state=event.from_state,
        to_state=event.to_state,
        at=event.at,
        case_id=case.pk,
        category_id=case.category_id,
        region_path=case.region.path,
        created_at=case.created_at,
        source=case.source,
        data=event.data,
        work_order_id=getattr(work_order, "pk", None),
        department_id=getattr(work_order, "department_id", None),
    )


def record(*, case, event, work_order=None) -> None:
    """Add one saved timeline event to the roll-up, inside the caller's transaction."""
    fact = _fact(case, event, work_order)
    statements = _statements(fact, contributions(fact))
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            # Data-modifying CTEs: the upserts of the three tables in one statement (one round trip).
            ctes = ", ".join(f"u{i} AS ({sql})" for i, (sql, _p) in enumerate(statements))
            cursor.execute(f"WITH {ctes} SELECT 1", [p for _s, params in statements for p in params])
        else:
            for sql, params in statements:
                cursor.execute(sql, params)


# --- rebuilding ---------------------------------------------------------------------------------------------------

_REBUILD_SELECT = """
SELECT e.transition, e.from_state, e.to_state, e.at, e.case_id, c.category_id, r.path, c.created_at, c.source,
       CASE WHEN e.transition = 'evaluate' THEN e.data ELSE NULL END,
       e.work_order_id, w.department_id,
       CASE WHEN e.transition = 'dispatch' THEN ({dispatch})
            WHEN e.transition = 'close' THEN ({close})
            WHEN e.transition = 'wo_sign' THEN ({sign})
            WHEN e.transition = 'wo_complete' THEN ({complete}) END
FROM cases_caseevent e
JOIN cases_case c ON c.id = e.case_id
JOIN grids_region r ON r.id = c.region_id
LEFT JOIN cases_workorder w ON w.id = e.work_order_id
WHERE e.case_id >= %s AND e.case_id < %s
ORDER BY e.case_id, e.at, e.id
"""


def _rebuild_sql() -> str:
    def late(name: str) -> str:
        rule, owner = LATE_RULES[name]
        ref = "e.case_id" if owner == "case" else "e.work_order_id"
        return f"CASE WHEN {rule % (ref, 'e.at', 'e.at')} THEN 0 ELSE 1 END"

    return _REBUILD_SELECT.format(
        dispatch=late("dispatched_on_time"),
        close=late("closed_on_time"),
        sign=late("signed_on_time"),
        complete=late("done_on_time"),
    )


class _Sums:
    """Roll-up rows summed in memory for a batch of cases, then added to the tables."""

    def __init__(self) -> None:
        self.daily: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(int))
        self.department: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.open: dict[tuple, int] = defaultdict(int)
        self._ids: dict[str, int] = {}

    def add(self, f: Fact, c: Contribution, region_ids: list[int]) -> None:
        for rid in region_ids:
            for day, counters in c.daily.items():
                row = self.daily[(rid, day, f.category_id)]
                for n, v in counters.items():
                    row[n] += v
            if c.department:
                row = self.department[(rid, local_day(f.at), f.department_id)]
                for n, v in c.department.items():
                    row[n] += v
            for state, n in c.open.items():
                self.open[(rid, state)] += n

    def flush(self) -> int:
        written = 0
        written += _add_rows(
            CaseDaily, ("region", "day", "category"), ("close_hours", *CASE_DAILY_COUNTERS), self.daily
        )
        written += _add_rows(
            DepartmentDaily, ("region", "day", "department"), DEPARTMENT_DAILY_COUNTERS, self.department
        )
        written += _add_rows(OpenCount, ("region", "state"), ("n",), {k: {"n": v} for k, v in self.open.items()})
        self.daily.clear()
        self.department.clear()
        self.open.clear()
        return written


def _add_rows(model, key: tuple[str, ...], names: Iterable[str], rows: dict, page: int = 2000) -> int:
    if not rows:
        return 0
    table = _table(model)
    key_cols = [f"{k}_id" if k in ("region", "category", "department") else k for k in key]
    names = list(names)
    updates = ", ".join(f"{n} = {table}.{n} + EXCLUDED.{n}" for n in names)
    items = list(rows.items())
    with connection.cursor() as cursor:
        for i in range(0, len(items), page):
            chunk = items[i : i + page]
            width = len(key_cols) + len(names)
            values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(chunk))
            params: list[Any] = []
            for k, counters in chunk:
                params += list(k)
                params += [counters.get(n, 0) for n in names]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(key_cols + names)}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {updates}",
                params,
            )
    return len(items)


def _facts(lo: int, hi: int) -> Iterator[tuple[Fact, int | None]]:
    with connection.cursor() as cursor:
        cursor.execute(_rebuild_sql(), [lo, hi])
        for row in cursor.fetchall():
            data = row[9]
            if isinstance(data, str):
                import json

                data = json.loads(data)
            yield (
                Fact(
                    transition=row[0],
                    from_state=row[1],
                    to_state=row[2],
                    at=_aware(row[3]),
                    case_id=row[4],
                    category_id=row[5],
                    region_path=row[6],
                    created_at=_aware(row[7]),
                    source=row[8],
                    data=data or {},
                    work_order_id=row[10],
                    department_id=row[11],
                ),
                row[12],
            )


def _aware(moment: datetime) -> datetime:
    if isinstance(moment, str):  # SQLite
        moment = datetime.fromisoformat(moment)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.UTC)


def _rebuild_in_python(*, batch: int, progress=None) -> dict[str, int]:
    """The rebuild on databases other than PostgreSQL (the embedded SQLite): every event through ``contributions``,
    summed in memory for each id range of ``batch`` cases, then added to the tables."""
    done = {"events": 0, "rows": 0}
    paths: dict[str, int] = dict(Region.objects.values_list("path", "id"))
    with transaction.atomic():
        for model in (CaseDaily, DepartmentDaily, OpenCount):
            model.objects.all().delete()
        top = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        sums = _Sums()
        for lo in range(0, top + 1, batch):
            for fact, flag in _facts(lo, lo + batch):
                region_ids = [paths[p] for p in ancestor_paths(fact.region_path) if p in paths]
                sums.add(fact, contributions(fact, on_time=flag if flag is not None else 1), region_ids)
                done["events"] += 1
            done["rows"] += sums.flush()
            if progress:
                progress(lo + batch, top)
    return done


def rebuild(*, batch: int = 20000, workers: int = 2, progress=None) -> dict[str, int]:
    """Recompute the three tables from every case event (``rebuild_rollup``), in one transaction: readers see the
    old figures until it commits, live writers wait for it.

    On PostgreSQL the rows are computed in the database, set-based (``_rebuild_in_postgresql``), by id ranges of
    ``batch`` cases over ``workers`` connections; elsewhere in Python. ``progress(done, top)`` is told the highest
    case id done so far.
    """
    if connection.vendor == "postgresql":
        return _rebuild_in_postgresql(batch=batch, workers=workers, progress=progress)
    return _rebuild_in_python(batch=batch, progress=progress)


# --- rebuilding in PostgreSQL -------------------------------------------------------------------------------------
#
# The same rule as ``contributions``, written as SQL over the events of a range of cases: each counter is a filtered
# count (or sum) over the events of its key; the in-time flags are the ``LATE_RULES`` themselves, with the event's
# columns for the placeholders; the working hours report → close are read from a table of the business calendar's
# working periods (``calendar.working_periods_between``). tests/cases/test_rollup.py holds both to a recount and
# to each other, row for row.

_STAGE = "rollup_rebuild_"  # scratch tables (unlogged), dropped in the rebuild's own transaction
_DAY_TRANSITIONS = (
    "report",
    "settle",
    "call_street",
    "dispatch",
    "verify_ok",
    "verify_failed",
    "close",
    "evaluate",
    "rehandle",
    "cancel",
    "mark_duplicate",
)
_WORK_ORDER_TRANSITIONS = ("wo_sign", "wo_complete", "wo_refuse")


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own constant codes


def _daily_counters() -> dict[str, str]:
    """Each CaseDaily counter as an aggregate over the ``ev`` rows of one key, on the event's day."""
    out = {"close_hours": "coalesce(sum(round(hours, 4)::float8) FILTER (WHERE t = 'close'), 0)"}
    simple = {
        "new": "report",
        "settled": "settle",
        "called": "call_street",
        "dispatched": "dispatch",
        "verified": "verify_ok",
        "verify_failed": "verify_failed",
        "closed": "close",
        "evaluated": "evaluate",
        "rehandled": "rehandle",
    }
    for name in ("close_hours", *CASE_DAILY_COUNTERS):
        if name in simple:
            out[name] = f"count(*) FILTER (WHERE t = '{simple[name]}')"
        elif name.startswith("new_"):
            out[name] = f"count(*) FILTER (WHERE t = 'report' AND src = '{name[4:]}')"
        elif len(name) == 3 and name[0] == "h" and name[1:].isdigit():
            out[name] = f"count(*) FILTER (WHERE t = 'report' AND hour = {int(name[1:])})"
        elif len(name) == 2 and name[0] == "b" and name[1:].isdigit():
            out[name] = f"count(*) FILTER (WHERE t = 'close' AND bucket = {int(name[1:])})"
        elif name in ("dispatched_on_time", "closed_on_time"):
            step = "dispatch" if name == "dispatched_on_time" else "close"
            out[name] = f"coalesce(sum(on_time) FILTER (WHERE t = '{step}'), 0)"
        elif name in ("satisfied", "basically", "unsatisfied"):
            out[name] = f"count(*) FILTER (WHERE t = 'evaluate' AND sat = '{name}')"
        elif name == "cancelled":
            out[name] = "count(*) FILTER (WHERE t IN ('cancel', 'mark_duplicate'))"
        elif name in ("cohort_closed", "cohort_cancelled"):
            out[name] = "0"  # on the day of the report: the second branch below
        elif name != "close_hours":
            raise NotImplementedError(f"CaseDaily.{name} has no rule in the rebuild")
    return out


def _int(name: str) -> str:
    """Counts as int, so that their sums over the ancestors stay in bigint arithmetic (a bigint's sum is numeric)."""
    return "" if name == "close_hours" else "::int"


def _working_time(moment: str) -> str:
    """Working seconds from the start of the periods table to ``moment`` (an SQL expression)."""
    return (
        f"coalesce((SELECT p.before + extract(epoch FROM least({moment}, p.ends) - p.starts) "  # noqa: S608
        f"FROM {_STAGE}periods p WHERE p.starts <= {moment} ORDER BY p.starts DESC LIMIT 1), 0)"
    )


def _late_sql(name: str) -> str:
    rule, owner = LATE_RULES[name]
    ref = "e.case_id" if owner == "case" else "e.work_order_id"
    return f"CASE WHEN {rule % (ref, 'e.at', 'e.at')} THEN 0 ELSE 1 END"


@lru_cache(maxsize=1)
def _range_sql() -> str:
    """One statement for the cases with ids in [%(lo)s, %(hi)s): their events' rows of the three tables, at
    every ancestor of the case's region, added to the scratch tables; answers the number of events read."""
    daily = _daily_counters()
    names = list(daily)
    buckets = " ".join(f"WHEN hours <= {bound} THEN {i}" for i, bound in enumerate(CLOSE_HOUR_BUCKETS))
    cohort = dict.fromkeys(names, "0")
    cohort["cohort_closed"] = (
        "count(*) FILTER (WHERE t = 'close') - count(*) FILTER (WHERE t IN ('reopen', 'rehandle'))"
    )
    cohort["cohort_cancelled"] = "count(*) FILTER (WHERE t IN ('cancel', 'mark_duplicate'))"
    sources = _quoted(s for s in ROLLUP_SOURCES if s != "other")
    closed = _quoted(CLOSED_STATES)
    department = ", ".join(DEPARTMENT_DAILY_COUNTERS)
    return f"""
WITH ev AS MATERIALIZED (
    SELECT c.region_id, c.category_id, e.transition AS t, e.from_state AS f, e.to_state AS s, w.department_id,
           (e.at AT TIME ZONE %(tz)s)::date AS day, (c.created_at AT TIME ZONE %(tz)s)::date AS cohort,
           CASE WHEN c.source IN ({sources}) THEN c.source ELSE 'other' END AS src,
           extract(hour FROM c.created_at AT TIME ZONE %(tz)s)::int AS hour,
           CASE WHEN e.transition = 'evaluate' THEN e.data ->> 'satisfaction' END AS sat,
           CASE e.transition WHEN 'dispatch' THEN {_late_sql("dispatched_on_time")}
                             WHEN 'close' THEN {_late_sql("closed_on_time")}
                             WHEN 'wo_sign' THEN {_late_sql("signed_on_time")}
                             WHEN 'wo_complete' THEN {_late_sql("done_on_time")} END AS on_time,
           CASE WHEN e.transition = 'close' THEN
               greatest(0, ({_working_time("e.at")} - {_working_time("c.created_at")}) / 3600) END AS hours
    FROM cases_caseevent e
    JOIN cases_case c ON c.id = e.case_id AND c.id >= %(lo)s AND c.id < %(hi)s
    LEFT JOIN cases_workorder w ON w.id = e.work_order_id AND w.case_id >= %(lo)s AND w.case_id < %(hi)s
    WHERE e.case_id >= %(lo)s AND e.case_id < %(hi)s
), own AS (
    SELECT region_id, day, category_id, {", ".join(f"({daily[n]}){_int(n)} AS {n}" for n in names)}
    FROM (SELECT *, CASE {buckets} ELSE {len(CLOSE_HOUR_BUCKETS)} END AS bucket FROM ev) x
    WHERE t IN ({_quoted(_DAY_TRANSITIONS)})
    GROUP BY region_id, day, category_id
    UNION ALL
    SELECT region_id, cohort, category_id, {", ".join(f"({cohort[n]}){_int(n)} AS {n}" for n in names)}
    FROM ev
    WHERE t IN ('close', 'cancel', 'mark_duplicate') OR (t IN ('reopen', 'rehandle') AND f = '{State.CLOSED}')
    GROUP BY region_id, cohort, category_id
), daily AS (
    INSERT INTO {_STAGE}daily (region_id, day, category_id, {", ".join(names)})
    SELECT a.ancestor_id, o.day, o.category_id, {", ".join(f"sum(o.{n})" for n in names)}
    FROM own o JOIN {_STAGE}ancestors a ON a.region_id = o.region_id
    GROUP BY a.ancestor_id, o.day, o.category_id
), department AS (
    INSERT INTO {_STAGE}department (region_id, day, department_id, {department})
    SELECT a.ancestor_id, o.day, o.department_id, {", ".join(f"sum(o.{n})" for n in DEPARTMENT_DAILY_COUNTERS)}
    FROM (
        SELECT region_id, day, department_id,
               count(*) FILTER (WHERE t = 'wo_sign')::int AS signed,
               coalesce(sum(on_time) FILTER (WHERE t = 'wo_sign'), 0)::int AS signed_on_time,
               count(*) FILTER (WHERE t = 'wo_complete')::int AS done,
               coalesce(sum(on_time) FILTER (WHERE t = 'wo_complete'), 0)::int AS done_on_time,
               count(*) FILTER (WHERE t = 'wo_refuse')::int AS refused
        FROM ev
        WHERE t IN ({_quoted(_WORK_ORDER_TRANSITIONS)}) AND department_id IS NOT NULL
        GROUP BY region_id, day, department_id
    ) o JOIN {_STAGE}ancestors a ON a.region_id = o.region_id
    GROUP BY a.ancestor_id, o.day, o.department_id
), open AS (
    INSERT INTO {_STAGE}open (region_id, state, n)
    SELECT a.ancestor_id, o.state, sum(o.n)
    FROM (
        SELECT region_id, x.state, sum(x.n)::int AS n
        FROM ev CROSS JOIN LATERAL (VALUES (ev.f, -1), (ev.s, 1)) AS x (state, n)
        WHERE ev.f <> ev.s AND x.state <> '' AND x.state NOT IN ({closed})
        GROUP BY region_id, x.state
    ) o JOIN {_STAGE}ancestors a ON a.region_id = o.region_id
    GROUP BY a.ancestor_id, o.state
)
SELECT count(*) FROM ev
"""  # noqa: S608 - our tables, columns and constant codes; the values are parameters


def _stage(cursor, periods: list[tuple[datetime, datetime]]) -> None:
    """(Re)create the scratch tables: the three tables' columns without keys, the working periods with the working
    seconds before each, and every region's ancestors (itself included) from the path prefixes."""
    for name in ("daily", "department", "open", "periods", "ancestors"):
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}{name}")
    daily = ", ".join(["region_id", "day", "category_id", "close_hours", *CASE_DAILY_COUNTERS])
    department = ", ".join(["region_id", "day", "department_id", *DEPARTMENT_DAILY_COUNTERS])
    for name, columns, model in (
        ("daily", daily, CaseDaily),
        ("department", department, DepartmentDaily),
        ("open", "region_id, state, n", OpenCount),
    ):
        cursor.execute(
            f"CREATE UNLOGGED TABLE {_STAGE}{name} AS SELECT {columns} FROM {_table(model)} WITH NO DATA"  # noqa: S608
        )
    cursor.execute(
        f"CREATE UNLOGGED TABLE {_STAGE}periods (starts timestamptz PRIMARY KEY, ends timestamptz, before bigint)"
    )
    rows, before = [], 0
    for starts, ends in periods:
        rows.append((starts, ends, before))
        before += int((ends - starts).total_seconds())
    if rows:
        cursor.executemany(f"INSERT INTO {_STAGE}periods VALUES (%s, %s, %s)", rows)  # noqa: S608
    cursor.execute(
        f"CREATE UNLOGGED TABLE {_STAGE}ancestors AS "  # noqa: S608
        f"SELECT r.id AS region_id, a.id AS ancestor_id FROM {_table(Region)} r "
        "CROSS JOIN LATERAL generate_series(%s, length(r.path), %s) AS k (n) "
        f"JOIN {_table(Region)} a ON a.path = left(r.path, k.n)",
        [Region.steplen, Region.steplen],
    )
    cursor.execute(f"ANALYZE {_STAGE}periods")
    cursor.execute(f"ANALYZE {_STAGE}ancestors")


def _merge(cursor) -> int:
    """Replace the three tables' rows by the scratch tables' sums (a key computed in two ranges is added up)."""
    rows = 0
    for model, key, names in (
        (CaseDaily, ("region_id", "day", "category_id"), ("close_hours", *CASE_DAILY_COUNTERS)),
        (DepartmentDaily, ("region_id", "day", "department_id"), DEPARTMENT_DAILY_COUNTERS),
        (OpenCount, ("region_id", "state"), ("n",)),
    ):
        stage = {CaseDaily: "daily", DepartmentDaily: "department", OpenCount: "open"}[model]
        keys, columns = ", ".join(key), ", ".join(key + tuple(names))
        cursor.execute(f"DELETE FROM {_table(model)}")  # noqa: S608 - not TRUNCATE: readers keep the old rows
        # In key order, the unique index grows at its end: twice as fast as in the hash order of the sums.
        cursor.execute(
            f"INSERT INTO {_table(model)} ({columns}) "  # noqa: S608
            f"SELECT {keys}, {', '.join(f'sum({n})' for n in names)} FROM {_STAGE}{stage} GROUP BY {keys} "
            f"ORDER BY {keys}"
        )
        rows += cursor.rowcount
    for name in ("daily", "department", "open", "periods", "ancestors"):
        cursor.execute(f"DROP TABLE {_STAGE}{name}")
    for model in (CaseDaily, DepartmentDaily, OpenCount):  # every row is new: the planner's statistics too
        cursor.execute(f"ANALYZE {_table(model)}")
    return rows


def _span(cursor) -> tuple[int, int, date | None, date | None]:
    """The lowest and highest case ids, and the first and last local days of any report or event."""
    cursor.execute(f"SELECT min(id), max(id), min(created_at), max(created_at) FROM {_table(Case)}")  # noqa: S608
    lo, hi, first, last = cursor.fetchone()
    if lo is None:
        return 0, 0, None, None
    cursor.execute(f"SELECT min(at), max(at) FROM {_table(CaseEvent)}")  # noqa: S608
    at_first, at_last = cursor.fetchone()
    moments = [m for m in (first, last, at_first, at_last) if m is not None]
    return lo, hi, local_day(min(moments)), local_day(max(moments))


def _on_own_connection(work, *args) -> Any:
    """Run ``work(cursor, *args)`` in a thread of its own, on a connection of its own (autocommit), and close it."""
    from django.db import connections

    out: dict[str, Any] = {}

    def run() -> None:
        try:
            with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                out["value"] = work(cursor, *args)
        except BaseException as exc:  # re-raised in the caller's thread
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _ranges_in_parallel(ranges: list[tuple[int, int]], workers: int, progress=None, top: int = 0) -> int:
    """The range statement over ``ranges``, by ``workers`` threads with a connection each; the events read."""
    from django.db import connections

    todo: queue.SimpleQueue = queue.SimpleQueue()
    for r in ranges:
        todo.put(r)
    done: queue.SimpleQueue = queue.SimpleQueue()
    failed: list[BaseException] = []
    sql, tz = _range_sql(), settings.TIME_ZONE

    def run() -> None:
        try:
            with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                cursor.execute("SET work_mem = '256MB'")
                cursor.execute("SET jit = off")  # compiling takes longer than running each range
                while not failed:
                    try:
                        lo, hi = todo.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(sql, {"tz": tz, "lo": lo, "hi": hi})
                    done.put((hi, cursor.fetchone()[0]))
        except BaseException as exc:
            failed.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    events, finished, highest = 0, 0, 0
    while finished < len(ranges) and not failed:
        try:
            hi, n = done.get(timeout=0.5)
        except queue.Empty:
            if not any(t.is_alive() for t in threads):
                break
            continue
        events, finished, highest = events + n, finished + 1, max(highest, hi)
        if progress:
            progress(min(highest, top), top)
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]
    return events


def _rebuild_in_postgresql(*, batch: int, workers: int, progress=None) -> dict[str, int]:
    """The three tables recomputed by SQL, set-based: for each range of ``batch`` case ids, one statement groups
    the range's events by key and by every ancestor of the case's region into scratch tables; at the end their sums
    replace the tables' rows, in the transaction that locked the tables first (live writers wait; readers read the
    old rows until the commit). The ranges run on ``workers`` connections of their own (the transaction's lock is
    taken before they start, so they see every event committed so far and no writer adds one meanwhile); inside
    an outer transaction (tests) they run on this connection, whose uncommitted rows other connections cannot see.
    """
    parallel = workers > 1 and not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        # One rebuild at a time, and live writers wait for it (readers do not).
        tables = ", ".join(_table(m) for m in (CaseDaily, DepartmentDaily, OpenCount))
        cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        cursor.execute("SET LOCAL work_mem = '512MB'")
        cursor.execute("SET LOCAL jit = off")
        lo, hi, first, last = _span(cursor)
        periods = calendar.working_periods_between(first, last) if first and last else []
        ranges = [(start, min(start + batch, hi + 1)) for start in range(lo, hi + 1, batch)] if hi else []
        if parallel:
            _on_own_connection(_stage, periods)
            events = _ranges_in_parallel(ranges, workers, progress, hi)
        else:
            _stage(cursor, periods)
            events = 0
            for start, end in ranges:
                cursor.execute(_range_sql(), {"tz": settings.TIME_ZONE, "lo": start, "hi": end})
                events += cursor.fetchone()[0]
                if progress:
                    progress(end - 1, hi)
        rows = _merge(cursor)
    return {"events": events, "rows": rows}
