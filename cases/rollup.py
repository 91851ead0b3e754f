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

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from grids.models import Region

from . import calendar
from .models import (
    CASE_DAILY_COUNTERS,
    CLOSE_HOUR_BUCKETS,
    DEPARTMENT_DAILY_COUNTERS,
    ROLLUP_SOURCES,
    CaseDaily,
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
    statements = _statements(_fact(case, event, work_order), contributions(_fact(case, event, work_order)))
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
    columns = ", ".join(key_cols + names)
    if connection.vendor == "postgresql":
        # COPY into a scratch table, then one upsert: a hundred times faster than VALUES pages of this width.
        scratch = f"{table}_load"
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS "  # noqa: S608
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {scratch}")
            with cursor.cursor.copy(f"COPY {scratch} ({columns}) FROM STDIN") as copy:
                for k, counters in items:
                    copy.write_row([*k, *(counters.get(n, 0) for n in names)])
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {scratch} "  # noqa: S608
                f"ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {updates}"
            )
        return len(items)
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


def rebuild(*, batch: int = 20000, progress=None) -> dict[str, int]:
    """Recompute the three tables from every case event (``rebuild_rollup``), in one transaction: readers see the
    old figures until it commits. Cases are read by id ranges of ``batch``; each range's rows are added at once."""
    from .models import Case

    done = {"events": 0, "rows": 0}
    paths: dict[str, int] = dict(Region.objects.values_list("path", "id"))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # one rebuild at a time, and live writers wait for it
                cursor.execute(
                    f"LOCK TABLE {_table(CaseDaily)}, {_table(DepartmentDaily)}, {_table(OpenCount)} IN EXCLUSIVE MODE"
                )
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
