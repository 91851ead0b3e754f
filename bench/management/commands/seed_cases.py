"""Fill the city of seed_scale with cases at city scale: a year of reports with their timelines and work orders.

Each case is played through the workflow table (``cases.workflow``) in memory, so its events, work orders and
state agree with what the services would have written; the rows then go in by batches of whole days, with
``COPY`` on PostgreSQL (about eight times the speed of ``bulk_create`` for the nine million rows of a million
cases) and ``executemany`` inserts elsewhere. Case numbers are reserved in ``CaseSequence`` exactly as
``cases.services`` reserves them, so the numbers the app gives out later never collide with generated ones.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from bench.management.commands.bench_access import write_seed_section
from bench.management.commands.seed_scale import phase, user_prefix
from cases import deadlines, rollup
from cases.models import (
    Case,
    CaseDaily,
    CaseEvent,
    CaseSequence,
    Category,
    DepartmentDaily,
    Source,
    StepDeadline,
    Urgency,
    WorkOrder,
)
from cases.workflow import TRANSITIONS, State, WorkOrderState, after_work_orders
from grids import access
from grids import services as grid_services
from grids.codes import Level
from grids.models import Department, Grant, Region

BATCH = 20_000  # cases per transaction (whole days, so a batch may run over by up to a day)
ID_CHUNK = 20_000
EVENT_TRIGGER = "cases_caseevent_immutable"  # cases/migrations/0002: refuses UPDATE and DELETE of events
DISTRICT_KINDS = {
    "cgzf": "城管执法局",
    "zj": "住建局",
    "scjg": "市场监管局",
    "sw": "水务局",
    "sthj": "生态环境分局",
    "xf": "消防救援大队",
}
STREET_KINDS = {"pcs": "派出所", "sq": "综治中心"}
MEMBERS_PER_DEPARTMENT = 3
NO_DATA = json.dumps({"work_orders": []})  # what cases.services records for a transition without details
EMPTY: dict = {}
# Share of open cases by age: nearly all of today's cases are open, a small backlog stays open for months.
OPEN_NOW, OPEN_BACKLOG, OPEN_DECAY_DAYS = 0.9, 0.03, 3.0
OPEN_MIX = {
    State.REPORTED: 14,
    State.CALLED: 14,
    State.ACCEPTED: 14,
    State.ESCALATED: 6,
    State.DISPATCHED: 14,
    State.IN_PROGRESS: 18,
    State.PENDING_VERIFICATION: 12,
    State.VERIFIED: 8,
}
CANCELLED_SHARE = 0.03  # of the cases that are no longer open
SETTLED_SHARE = 0.35  # settled by the community without the street
ESCALATED_SHARE = 0.04  # escalated to the district before being accepted
REWORK_SHARE = 0.06  # verification failed once
EVALUATED_SHARE = 0.4  # residents called back after closing
SOURCES = {Source.PATROL: 60, Source.HOTLINE: 20, Source.VISIT: 8, Source.WALK_IN: 7, Source.OPEN311: 5}
RECENT_DAYS = 31  # closed `complete` clocks are written for work orders of these last days (on-time rates)
EVALUATE_OPEN_DAYS = 2  # a closed case's 回访 stays open this long
SATISFACTION = {"satisfied": 80, "basically": 15, "unsatisfied": 5}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 14, 8, 10, 14, 16, 14, 12, 8, 6, 4, 3, 2, 1]
# Delay before each step, in hours (uniform between the bounds).
DELAY = {
    "settle": (0.5, 24),
    "call_street": (0.2, 8),
    "return": (0.5, 8),
    "accept": (0.1, 4),
    "escalate": (4, 24),
    "dispatch": (0.1, 4),
    "sign": (0.2, 8),
    "complete": (2, 72),
    "verify_ok": (1, 24),
    "verify_failed": (1, 24),
    "close": (0.2, 24),
    "evaluate": (4, 72),
    "cancel": (0.5, 24),
}
COMMENTS = {
    "settle": "经社区网格员现场协调，双方已达成一致。",
    "call_street": "社区已多次协调未果，需街道协调相关部门处置。",
    "return": "事件信息不完整，请补充现场照片和具体地址后重新上报。",
    "escalate": "涉及多个街道，需区指挥中心协调。",
    "dispatch": "请于时限内到场处置，并上传处置前后照片。",
    "verify_failed": "现场复核问题仍存在，请返工处置。",
    "cancel": "经核实，该事件不属实。",
}
DESCRIPTIONS = [
    "网格员巡查发现，现场拍照取证。",
    "居民反映情况，已到现场核实。",
    "12345热线转来，需现场处置。",
    "走访中群众反映，问题持续一周以上。",
    "周边商户多次反映，影响居民出行。",
]


def require_migrated() -> None:
    """Refuse a database that lags behind the code: the rows (and the pages) would not fit its tables."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _backwards in plan[:5])
        raise CommandError(f"The database lacks migrations ({names}): run migrate first.")


def weighted(rng: random.Random, cumulative: Sequence[float], items: Sequence[Any]) -> Any:
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def table(mapping: dict[Any, float]) -> tuple[list[float], list[Any]]:
    return list(itertools.accumulate(mapping.values())), list(mapping.keys())


@dataclass
class Dept:
    id: int
    name: str
    kind: str
    members: list[int]


@dataclass
class Place:
    """A grid, the people who act on its cases, and the departments that serve it."""

    region_id: int
    code: str
    name: str
    prefix: str  # case numbers begin with the district's abbreviation or code, as in cases.services
    box: tuple[float, float, float, float]  # min_lat, max_lat, min_lng, max_lng
    workers: list[int]
    community: list[int]
    dispatchers: list[int]
    supervisors: list[int]
    street_depts: dict[str, Dept]
    district_depts: dict[str, Dept]


@dataclass
class Order:
    id: int
    dept: Dept
    is_lead: bool
    created: float
    due: float
    state: str = WorkOrderState.ASSIGNED
    signed: float | None = None
    done: float | None = None
    assignee: int | None = None
    result: str = ""


class Rows:
    """Rows of one model in database order: the columns we fill, then every other column at its default.

    Filling the rest from the model keeps the generator working when a column with a default is added.
    """

    def __init__(self, model: type[models.Model], attnames: Sequence[str]) -> None:
        self.model = model
        self.table = model._meta.db_table
        fields = {f.attname: f for f in model._meta.concrete_fields}
        rest = [f for name, f in fields.items() if name not in attnames and not f.primary_key]
        self.columns = [fields[name].column for name in attnames] + [f.column for f in rest]
        self.tail = tuple(self._default(f) for f in rest)
        self.rows: list[tuple] = []

    @staticmethod
    def _default(f: models.Field) -> Any:
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            value: Any = timezone.now()
        else:
            value = f.get_default()
        if isinstance(f, models.JSONField):
            return json.dumps(value)
        return f.get_db_prep_save(value, connection)

    def add(self, *values: Any) -> None:
        self.rows.append(values + self.tail)

    def take(self) -> list[tuple]:
        rows, self.rows = self.rows, []
        return rows

    def write(self, cursor: Any, rows: list[tuple]) -> int:
        if not rows:
            return 0
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            rows = [tuple(adapt(v) if isinstance(v, datetime) else v for v in row) for row in rows]
            marks = ", ".join(["%s"] * len(self.columns))
            sql = f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({marks})"  # noqa: S608 - our names
            for start in range(0, len(rows), 2000):
                cursor.executemany(sql, rows[start : start + 2000])
        return len(rows)


class Ids:
    """Primary keys taken ahead from the table's sequence, so rows can refer to each other before they exist."""

    def __init__(self, model: type[models.Model]) -> None:
        self.table = model._meta.db_table
        self.pool: Iterator[int] = iter(())
        self.next_local: int | None = None

    def __call__(self) -> int:
        value = next(self.pool, None)
        if value is None:
            self.pool = iter(self._reserve(ID_CHUNK))
            value = next(self.pool)
        return value

    def _reserve(self, n: int) -> list[int]:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [self.table, n]
                )
                return [r[0] for r in cursor.fetchall()]
            if self.next_local is None:  # SQLite: one writer at a time, so counting on from the maximum is safe
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.table}")  # noqa: S608 - our table
                self.next_local = cursor.fetchone()[0] + 1
            start, self.next_local = self.next_local, self.next_local + n
            return list(range(start, start + n))


def reserve_numbers(cursor: Any, counts: dict[tuple[str, date], int]) -> dict[tuple[str, date], int]:
    """First sequence number of a block of ``n`` per (prefix, day), taken with the services' own upsert.

    ``last`` ends at the highest number handed out, so ``cases.services`` continues after it.
    """
    seq = CaseSequence._meta.db_table
    first: dict[tuple[str, date], int] = {}
    keys = sorted(counts)
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        values = ", ".join(["(%s, %s, %s)"] * len(chunk))
        params = [v for key in chunk for v in (key[0], key[1], counts[key])]
        cursor.execute(
            f"INSERT INTO {seq} (prefix, day, last) VALUES {values} "  # noqa: S608 - table name is ours
            f"ON CONFLICT (prefix, day) DO UPDATE SET last = {seq}.last + excluded.last RETURNING prefix, day, last",
            params,
        )
        for prefix, day, last in cursor.fetchall():
            day = day if isinstance(day, date) else date.fromisoformat(day)
            first[(prefix, day)] = last - counts[(prefix, day)] + 1
    return first


@dataclass
class Tally:
    cases: int = 0
    events: int = 0
    work_orders: int = 0
    states: Counter = field(default_factory=Counter)


class Clocks:
    """The step deadlines of one generated case, opened and closed as ``cases.services`` would.

    Written: every step still open (with the markers the sweep would have set for what already fell due, so the
    first real sweep does not act on a year of backlog at once), and the ``complete`` step of work orders of the
    last ``RECENT_DAYS`` days (the supervision board's on-time rate reads them). Older closed steps are left out:
    their clocks would not change any page.
    """

    def __init__(self, generator: Generator, category: Category, urgency: str) -> None:
        self.g, self.category, self.urgency = generator, category, urgency
        self.limits = category.time_limits.get(urgency) or {}
        self.grace = 3600 * float(category.escalation_grace_hours or 0)
        self.open_: dict[tuple[str, int | None], tuple[float, int, float | None]] = {}
        self.closed: list[tuple[str, int | None, float, int, float | None, float]] = []

    def open(self, step: str, at: float, level: int, order: Order | None = None, due: float | None = None) -> None:
        self.open_[(step, order.id if order else None)] = (at, level, due)

    def close(self, step: str, at: float, order: Order | None = None) -> None:
        key = (step, order.id if order else None)
        if key in self.open_:
            start, level, due = self.open_.pop(key)
            if step == "complete" and self.g.now - at < RECENT_DAYS * 86400:
                self.closed.append((step, key[1], start, level, due, at))

    def after(self, step: str, at: float, level: int, orders: list[Order], redo: list | None) -> None:
        """What a case transition does to the clocks (``cases.services._clocks_after_transition``)."""
        if step in ("return", "cancel") or (step == "verify_failed" and not redo):
            self.open_.clear()  # returned or cancelled: every clock stops
        elif step == "escalate":
            for s in ("accept", "dispatch", "verify"):
                self.close(s, at)
            self.open("accept", at, level)
        elif step in ("call_street", "accept", "settle", "close", "dispatch", "evaluate", "verify_ok"):
            closes = {"accept": "accept", "dispatch": "dispatch", "verify_ok": "verify", "evaluate": "evaluate"}
            if step in closes:
                self.close(closes[step], at)
            opens = {"call_street": "accept", "accept": "dispatch", "settle": "verify", "close": "evaluate"}
            if step in opens:
                self.open(opens[step], at, level)
            if step == "dispatch":
                for o in orders:
                    self.open("sign", at, level, o)
        elif step == "verify_failed":
            self.close("verify", at)
            for o in orders:
                if o.state == WorkOrderState.SIGNED:
                    self.open("complete", at, level, o)

    def write(self, case_id: int, *, open_case: bool) -> tuple[datetime | None, datetime | None]:
        """Add the rows; return the case's (due_at, yellow_at): its earliest open deadline."""
        now = self.g.now
        first: tuple[datetime, datetime] | None = None
        for (step, order_id), (start, level, due) in self.open_.items():
            if not open_case and (step != "evaluate" or now - start > EVALUATE_OPEN_DAYS * 86400):
                continue  # a closed case's 回访 of long ago: taken as done without a record
            row = self._row(case_id, order_id, step, level, start, due, None)
            if first is None or row[0] < first[0]:
                first = row
        for step, order_id, start, level, due, closed in self.closed:
            self._row(case_id, order_id, step, level, start, due, closed)
        return first if first else (None, None)

    def _row(self, case_id, order_id, step, level, start, due, closed) -> tuple[datetime, datetime]:
        started = datetime.fromtimestamp(start, UTC)
        hours = float(self.limits.get(step) or 8)
        due_at, yellow_at = deadlines.compute_due(start=started, hours=hours, urgency=self.urgency)
        if due is not None:  # a deadline the dispatcher set (a work order's 办结时限)
            due_at = datetime.fromtimestamp(due, UTC)
            yellow_at = started + (due_at - started) * deadlines.YELLOW_FRACTION
        escalate_at = due_at + timedelta(seconds=self.grace)
        now = datetime.fromtimestamp(self.g.now, UTC)
        passed = lambda t: t if closed is None and t <= now else None  # noqa: E731 - the sweep has seen it
        urged = passed(due_at)
        self.g.deadlines.add(
            case_id,
            order_id,
            step,
            level,
            hours,
            started,
            yellow_at,
            due_at,
            escalate_at,
            datetime.fromtimestamp(closed, UTC) if closed is not None else None,
            passed(yellow_at),
            urged,
            urged,
            passed(escalate_at) if order_id is None else None,
        )
        return due_at, yellow_at


class Generator:
    """Plays cases through the workflow in memory and collects their rows."""

    def __init__(self, places: list[Place], categories: list[Category], rng: random.Random, now: float) -> None:
        self.places, self.rng, self.now = places, rng, now
        # Some grids and categories see far more cases than others (a lognormal spread and a Zipf-like one).
        self.place_cum = list(itertools.accumulate(rng.lognormvariate(0, 0.8) for _ in places))
        order = list(categories)
        rng.shuffle(order)
        self.categories = order
        self.category_cum = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(order))))
        self.open_cum, self.open_states = table(OPEN_MIX)
        self.source_cum, self.sources = table(SOURCES)
        self.satisfaction_cum, self.satisfactions = table(SATISFACTION)
        self.case_ids, self.order_ids = Ids(Case), Ids(WorkOrder)
        self.cases = Rows(
            Case,
            [
                "id",
                "number",
                "title",
                "description",
                "category_id",
                "urgency",
                "source",
                "region_id",
                "address",
                "lat",
                "lng",
                "reporter_id",
                "reporter_contact",
                "parties",
                "state",
                "level",
                "version",
                "satisfaction",
                "rework_count",
                "created_at",
                "updated_at",
                "closed_at",
                "due_at",
                "yellow_at",
                "departments",
            ],
        )
        self.orders = Rows(
            WorkOrder,
            [
                "id",
                "case_id",
                "department_id",
                "is_lead",
                "state",
                "round",
                "assignee_id",
                "note",
                "result",
                "due_at",
                "created_at",
                "signed_at",
                "done_at",
            ],
        )
        self.deadlines = Rows(
            StepDeadline,
            [
                "case_id",
                "work_order_id",
                "step",
                "level",
                "hours",
                "started_at",
                "yellow_at",
                "due_at",
                "escalate_at",
                "closed_at",
                "reminded_at",
                "urged_at",
                "supervised_at",
                "escalated_at",
            ],
        )
        self.events = Rows(
            CaseEvent,
            ["case_id", "work_order_id", "actor_id", "at", "transition", "from_state", "to_state", "comment", "data"],
        )
        self.tally = Tally()

    # --- what happens to a case -------------------------------------------------------------------------------

    def target_state(self, age_days: float) -> str:
        p_open = OPEN_BACKLOG + OPEN_NOW * math.exp(-age_days / OPEN_DECAY_DAYS)
        if self.rng.random() < p_open:
            return weighted(self.rng, self.open_cum, self.open_states)
        return State.CANCELLED if self.rng.random() < CANCELLED_SHARE else State.CLOSED

    def story(self, target: str, orders: int) -> list[str]:
        """The steps that bring a new case to ``target``; "sign"/"complete" act on the next work order."""
        rng, S = self.rng, State
        if target == S.REPORTED:
            return ["report"] if rng.random() < 0.9 else ["report", "call_street", "return"]
        if target == S.CALLED:
            return ["report", "call_street"]
        if target == S.ESCALATED:
            return ["report", "call_street", "escalate"]
        if target == S.CANCELLED:
            return ["report", "cancel"] if rng.random() < 0.5 else ["report", "call_street", "accept", "cancel"]
        accepted = ["report", "call_street", *(["escalate"] if rng.random() < ESCALATED_SHARE else []), "accept"]
        if target == S.ACCEPTED:
            return accepted
        if target == S.PENDING_VERIFICATION or target in (S.VERIFIED, S.CLOSED):
            if rng.random() < SETTLED_SHARE:
                steps = ["report", "settle"]
            else:
                steps = [*accepted, "dispatch", *["sign"] * orders, *["complete"] * orders]
                if rng.random() < REWORK_SHARE:
                    steps += ["verify_failed", *["complete"] * orders]
            if target != S.PENDING_VERIFICATION:
                steps.append("verify_ok")
            if target == S.CLOSED:
                steps.append("close")
                if rng.random() < EVALUATED_SHARE:
                    steps.append("evaluate")
            return steps
        dispatched = [*accepted, "dispatch"]
        if target == S.DISPATCHED:  # not every department has signed yet
            return dispatched + ["sign"] * rng.randrange(orders)
        # In progress: every department signed, not all done (or a failed verification sent them back).
        if rng.random() < 0.15:
            return dispatched + ["sign"] * orders + ["complete"] * orders + ["verify_failed"]
        return dispatched + ["sign"] * orders + ["complete"] * rng.randrange(orders)

    def departments(self, place: Place, category: Category, level: int, n: int) -> list[Dept]:
        kinds = category.lead_department_kinds or {}
        kind = kinds.get(str(level)) or kinds.get(str(Level.STREET)) or kinds.get(str(Level.DISTRICT)) or "cgzf"
        serving = {**place.district_depts, **place.street_depts}  # the nearest department of a kind leads
        lead = serving.get(kind) or next(iter(serving.values()), None)
        if lead is None:
            return []
        others = [d for d in serving.values() if d is not lead]
        return [lead, *self.rng.sample(others, min(n - 1, len(others)))]

    # --- one case ---------------------------------------------------------------------------------------------

    def case(self, place: Place, t0: float, number: str, forced: str | None) -> None:
        rng = self.rng
        category: Category = weighted(rng, self.category_cum, self.categories)
        urgency = category.default_urgency
        if urgency == Urgency.NORMAL and rng.random() < 0.05:
            urgency = Urgency.URGENT
        target = forced or self.target_state((self.now - t0) / 86400)
        n_orders = 1 + (rng.random() < 0.25) + (rng.random() < 0.05)
        steps = self.story(target, n_orders)
        delays = [rng.uniform(*DELAY[s]) * 3600 for s in steps[1:]]
        # Squeeze the story into the time there was (a case reported an hour ago cannot be a week old).
        squeeze = min(1.0, 0.95 * (self.now - t0) / sum(delays)) if delays else 1.0
        times = list(itertools.accumulate([t0, *(d * squeeze for d in delays)]))
        case_id = self.case_ids()
        description = rng.choice(DESCRIPTIONS)
        limits = category.time_limits.get(urgency) or {}
        pick = rng.choice
        worker = pick(place.workers) if place.workers else None
        community = pick(place.community) if place.community else None
        dispatcher = pick(place.dispatchers) if place.dispatchers else None
        supervisor = pick(place.supervisors) if place.supervisors else dispatcher
        state, level, rework, satisfaction, closed = "", Level.COMMUNITY, 0, "", None
        orders: list[Order] = []
        events = self.events
        clocks = Clocks(self, category, urgency)

        def event(at: float, transition: str, before: str, actor: int | None, comment: str, data: dict | None, wo=None):
            events.add(
                case_id,
                wo,
                actor,
                datetime.fromtimestamp(at, UTC),
                transition,
                before,
                state,
                comment,
                NO_DATA if data is None else json.dumps(data),
            )

        for step, at in zip(steps, times, strict=True):
            holder = supervisor if level <= Level.DISTRICT else dispatcher
            if step == "report":
                state = State.REPORTED
                event(at, "report", "", worker, description, EMPTY)
                continue
            if step in ("sign", "complete"):
                wanted = WorkOrderState.ASSIGNED if step == "sign" else WorkOrderState.SIGNED
                order = next(o for o in orders if o.state == wanted)
                before_wo, before = order.state, state
                if step == "sign":
                    order.state, order.signed = WorkOrderState.SIGNED, at
                    order.assignee = pick(order.dept.members) if order.dept.members else None
                    clocks.close("sign", at, order)
                    clocks.open("complete", at, level, order, due=order.due)
                else:
                    order.state, order.done, order.result = WorkOrderState.DONE, at, "已到现场处置完毕，附处置后照片。"
                    clocks.close("complete", at, order)
                state = after_work_orders([o.state for o in orders]) or state
                if state == State.PENDING_VERIFICATION and before != state:
                    clocks.open("verify", at, level)
                data = {"department": order.dept.name, "wo_from": before_wo, "wo_to": order.state}
                event(at, f"wo_{step}", before, order.assignee, "", data, order.id)
                continue
            t = TRANSITIONS[step]
            if state not in t.sources:  # the story contradicts the workflow table: a bug here, not in the data
                raise CommandError(f"Generated story {steps} fires {step} from {state}.")
            before, extra, ids, comment = state, {}, [], COMMENTS.get(step, "")
            actor = holder
            if step in ("settle", "call_street"):
                actor = community
            elif step in ("verify_ok", "verify_failed"):
                actor = worker
            elif step == "cancel" and level == Level.COMMUNITY:
                actor = community
            if t.target:
                state = t.target
            if step == "call_street":
                level = Level.STREET
            elif step == "return":
                level = Level.COMMUNITY
            elif step == "escalate":
                level -= 1
                extra["level"] = level
            elif step == "dispatch":
                depts = self.departments(place, category, level, n_orders)
                due = at + 3600 * (limits.get("sign", 8) + limits.get("complete", 40)) * 3
                orders = [Order(self.order_ids(), d, i == 0, at, due) for i, d in enumerate(depts)]
                ids = [o.id for o in orders]
                extra["departments"] = [d.name for d in depts]
                if not orders:
                    raise CommandError(f"No department serves {place.code}: departments were not created.")
            elif step == "verify_failed":
                redo = [o for o in orders if o.state == WorkOrderState.DONE]
                for o in redo:
                    o.state, o.done = WorkOrderState.SIGNED, None
                if redo:
                    extra["rework"] = [o.dept.name for o in redo]
                else:
                    state, level = State.REPORTED, Level.COMMUNITY
                rework += 1
            elif step == "close":
                closed = at
            elif step == "evaluate":
                satisfaction = weighted(rng, self.satisfaction_cum, self.satisfactions)
                extra["satisfaction"] = satisfaction
            elif step == "cancel":
                for o in orders:
                    if o.state in (WorkOrderState.ASSIGNED, WorkOrderState.SIGNED):
                        o.state = WorkOrderState.CANCELLED
            clocks.after(step, at, level, orders, redo=extra.get("rework"))
            event(at, step, before, actor, comment, {**extra, "work_orders": ids} if extra or ids else None)
        if state != target:
            raise CommandError(f"Generated story {steps} ends in {state}, not {target}.")

        lat0, lat1, lng0, lng1 = place.box
        source = weighted(rng, self.source_cum, self.sources)
        contact = f"1{rng.randrange(30, 99)}{rng.randrange(10**8):08d}" if source != Source.PATROL else ""
        when = lambda ts: datetime.fromtimestamp(ts, UTC) if ts is not None else None  # noqa: E731
        self.cases.add(
            case_id,
            number,
            f"{category.name} · {place.name}"[:120],
            description,
            category.pk,
            urgency,
            source,
            place.region_id,
            f"{place.name} {rng.randint(1, 300)}号",
            round(rng.uniform(lat0, lat1), 6),
            round(rng.uniform(lng0, lng1), 6),
            worker,
            contact,
            "",
            state,
            level,
            len(steps),  # every service call adds one to the version and writes one event
            satisfaction,
            rework,
            when(t0),
            when(times[-1]),
            when(closed),
            *clocks.write(case_id, open_case=state not in (State.CLOSED, State.CANCELLED)),
            json.dumps(sorted({o.dept.id for o in orders})),
        )
        for o in orders:
            self.orders.add(
                o.id,
                case_id,
                o.dept.id,
                o.is_lead,
                o.state,
                1,
                o.assignee,
                COMMENTS["dispatch"],
                o.result,
                when(o.due),
                when(o.created),
                when(o.signed),
                when(o.done),
            )
        self.tally.cases += 1
        self.tally.events += len(steps)
        self.tally.work_orders += len(orders)
        self.tally.states[state] += 1

    def batch(self, planned: list[tuple[float, date, Place]], forced: dict[int, str], offset: int) -> Batch:
        """Number and play the cases of whole days (``planned`` sorted by time); return their rows."""
        counts = Counter((p.prefix, day) for _, day, p in planned)
        with connection.cursor() as cursor:
            next_seq = reserve_numbers(cursor, counts)
        for i, (t0, day, place) in enumerate(planned):
            key = (place.prefix, day)
            seq, next_seq[key] = next_seq[key], next_seq[key] + 1
            self.case(place, t0, f"{place.prefix}-{day:%Y%m%d}-{seq:04d}", forced.get(offset + i))
        # Cases first, then work orders, then events: each refers only to rows already written.
        return [(rows, rows.take()) for rows in (self.cases, self.orders, self.deadlines, self.events)]


Batch = list[tuple[Rows, list[tuple]]]


class Writer:
    """Writes each batch in a transaction of its own.

    On PostgreSQL outside a transaction it writes on a thread with its own database connection, so that the
    database stores one batch (COPY, index upkeep, foreign-key checks) while Python plays the next: both cores
    busy. Inside a transaction (a test) it writes in place, where the rows the batch refers to are visible; on
    SQLite too (one writer at a time).
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.thread: threading.Thread | None = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._run, name="seed_cases-writer", daemon=True)
            self.thread.start()

    def put(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self._write(batch)
        else:
            self.queue.put(batch)

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    @staticmethod
    def _write(batch: Batch) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for rows, data in batch:
                rows.write(cursor, data)

    def _run(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                if self.error is None:  # after a failure, keep taking batches so the producer never blocks
                    try:
                        self._write(batch)
                    except BaseException as exc:
                        self.error = exc
        finally:
            connection.close()


class BulkLoad:
    """Load into empty case tables without their secondary indexes and foreign keys, then build them once.

    Keeping ten indexes and six foreign-key checks up to date row by row costs the database most of its time during
    the load; building an index over the finished table is a sort, with parallel workers, and a foreign key added
    ``NOT VALID`` then validated is one join per key. The statements that rebuild them are kept in a table first,
    so ``--restore-indexes`` finishes the job if a load is interrupted. PostgreSQL only.
    """

    TABLES = (Case, WorkOrder, CaseEvent, StepDeadline)
    STORE = "seed_cases_saved_ddl"  # written literally in the statements below

    def __init__(self, out: Any) -> None:
        self.out = out

    def tables(self) -> list[str]:
        return [model._meta.db_table for model in self.TABLES]

    def drop(self) -> int:
        tables = self.tables()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS seed_cases_saved_ddl (n serial PRIMARY KEY, kind text, ddl text)"
            )
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
                [tables],
            )
            foreign = cursor.fetchall()
            cursor.execute(
                "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) AND i.indexname NOT IN ("
                "  SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))",
                [tables],
            )
            indexes = cursor.fetchall()
            for table, name, definition in foreign:
                cursor.execute(
                    "INSERT INTO seed_cases_saved_ddl (kind, ddl) VALUES ('fk', %s)",
                    [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID'],
                )
                cursor.execute(
                    "INSERT INTO seed_cases_saved_ddl (kind, ddl) VALUES ('validate', %s)",
                    [f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"'],
                )
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for _table, name, definition in indexes:
                cursor.execute("INSERT INTO seed_cases_saved_ddl (kind, ddl) VALUES ('index', %s)", [definition])
                cursor.execute(f'DROP INDEX "{name}"')
        return len(indexes) + len(foreign)

    def restore(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [self.STORE])
            if cursor.fetchone()[0] is None:
                return 0
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            cursor.execute("SELECT n, kind, ddl FROM seed_cases_saved_ddl ORDER BY kind = 'validate', kind = 'fk', n")
            steps = cursor.fetchall()
            for n, _kind, ddl in steps:
                started = time.perf_counter()
                cursor.execute(ddl)  # statements PostgreSQL itself wrote (pg_indexes, pg_get_constraintdef)
                cursor.execute("DELETE FROM seed_cases_saved_ddl WHERE n = %s", [n])
                self.out.write(f"    {ddl[:110]} ({time.perf_counter() - started:.1f} s)")
            cursor.execute("DROP TABLE seed_cases_saved_ddl")
        return len(steps)


def day_counts(total: int, days: list[date], today_fraction: float) -> list[int]:
    """Spread ``total`` over the days: fewer at weekends, a slow growth over the year, today only so far."""
    weights = []
    for i, day in enumerate(days):
        w = (0.7 if day.weekday() >= 5 else 1.0) * (0.85 + 0.3 * i / max(1, len(days) - 1))
        weights.append(w * (today_fraction if i == len(days) - 1 else 1.0))
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(days)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


class Command(BaseCommand):
    help = "Generate --cases cases (with events and work orders) over the last --days days in a seed_scale city."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=1_000_000)
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--reset", action="store_true", help="first delete the city's cases and generated departments"
        )
        parser.add_argument("--output", help="also record the timings in this Markdown file (seed_cases markers)")
        parser.add_argument(
            "--restore-indexes",
            action="store_true",
            help="only rebuild the indexes and foreign keys an interrupted bulk load left out",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        total, days = opts["cases"], opts["days"]
        if total < 0 or days < 1:
            raise CommandError("Give --cases ≥ 0 and --days ≥ 1.")
        require_migrated()
        if opts["restore_indexes"]:
            n = BulkLoad(self.stdout).restore()
            self.stdout.write(f"Rebuilt {n} indexes and foreign keys.")
            return
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale first.")
        if opts["reset"] and connection.vendor != "postgresql":
            raise CommandError("--reset needs PostgreSQL (it lifts the trigger that keeps case events immutable).")
        categories = list(Category.objects.filter(parent__isnull=False, is_active=True).order_by("sort_order", "code"))
        if not categories:
            raise CommandError("There are no active categories: run migrate (it loads the taxonomy).")
        rng = random.Random(opts["seed"])
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if opts["reset"]:
            with phase(self.stdout, timings, "reset"):
                deleted = self.reset(city)
            self.stdout.write(f"  deleted {deleted} cases of city {city.code}")
        with phase(self.stdout, timings, "guardian rows (services)"):
            self.sync_grants(city)
        with phase(self.stdout, timings, "departments and members"):
            places = self.places(city)
        if not places:
            raise CommandError(f"City {city.code} has no active grid.")
        # Into empty tables on PostgreSQL: load first, build the indexes and foreign keys after.
        bulk = connection.vendor == "postgresql" and not connection.in_atomic_block and not Case.objects.exists()
        if bulk:
            with phase(self.stdout, timings, "drop indexes and foreign keys (empty tables)"):
                dropped = BulkLoad(self.stdout).drop()
            self.stdout.write(f"  {dropped} indexes and foreign keys are built after the load")
        with phase(self.stdout, timings, "cases, work orders, events"):
            tally = self.generate(places, categories, rng, total, days)
        if bulk:
            with phase(self.stdout, timings, "build indexes and foreign keys"):
                BulkLoad(self.stdout).restore()
        with phase(self.stdout, timings, "daily roll-up (rebuild_rollup)"):
            rebuilt = rollup.rebuild()
        self.stdout.write(f"  {rebuilt['events']} events into {rebuilt['rows']} roll-up rows")
        if connection.vendor == "postgresql":
            with phase(self.stdout, timings, "analyze"), connection.cursor() as cursor:
                for model in (Case, WorkOrder, CaseEvent, CaseSequence, Department, CaseDaily, DepartmentDaily):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
        timings["total"] = time.perf_counter() - started
        mix = ", ".join(f"{state} {n}" for state, n in sorted(tally.states.items(), key=lambda kv: -kv[1]))
        summary = (
            f"City {city.code}: {tally.cases} cases over {days} days in {len(places)} grids, {tally.events} events, "
            f"{tally.work_orders} work orders ({mix}); {timings['total']:.1f} s."
        )
        self.stdout.write(self.style.SUCCESS(summary))
        if opts["output"]:
            self.record(Path(opts["output"]), opts, timings, summary)

    # --- reset ------------------------------------------------------------------------------------------------

    def reset(self, city: Region) -> int:
        """Delete the city's cases, everything that refers to them, and the departments generated here."""
        core = (Case, WorkOrder, CaseEvent)
        case_t, event_t = Case._meta.db_table, CaseEvent._meta.db_table
        doomed = "SELECT id FROM seed_cases_doomed"
        where = {Case: f"id IN ({doomed})", WorkOrder: f"case_id IN ({doomed})", CaseEvent: f"case_id IN ({doomed})"}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE seed_cases_doomed ON COMMIT DROP AS SELECT c.id FROM {case_t} c "  # noqa: S608
                f"JOIN {Region._meta.db_table} r ON r.id = c.region_id WHERE r.path LIKE %s",
                [city.path + "%"],
            )
            deleted = cursor.rowcount
            # The timeline is immutable for the app; a benchmark reset is the one sanctioned exception. The
            # ALTER is part of this transaction: it rolls back with it, and the lock keeps writers out meanwhile.
            # ALTER TABLE refuses while foreign-key checks are still queued for the end of the transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {event_t} DISABLE TRIGGER {EVENT_TRIGGER}")
            # Rows of other tables (attachments, and whatever refers to cases later) go first.
            for model in core:
                for rel in model._meta.get_fields(include_hidden=True):
                    if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
                        continue
                    if rel.related_model in core:
                        continue
                    child, column = rel.related_model._meta.db_table, rel.field.column
                    condition = f"{column} IN (SELECT id FROM {model._meta.db_table} WHERE {where[model]})"  # noqa: S608
                    if rel.on_delete is models.SET_NULL:
                        cursor.execute(f"UPDATE {child} SET {column} = NULL WHERE {condition}")  # noqa: S608
                    else:
                        cursor.execute(f"DELETE FROM {child} WHERE {condition}")  # noqa: S608
            for model in (CaseEvent, WorkOrder, Case):
                cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE {where[model]}")  # noqa: S608
            cursor.execute(f"ALTER TABLE {event_t} ENABLE TRIGGER {EVENT_TRIGGER}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys are initially deferred
            Department.objects.filter(code__startswith=user_prefix(city.code)).delete()
        return deleted

    # --- the city ---------------------------------------------------------------------------------------------

    def sync_grants(self, city: Region) -> None:
        """Bring the guardian rows of the city's grants up to their roles' current permissions.

        A city seeded before the cases app was migrated has grants whose rows lack the ``cases.*`` permissions the
        roles gained at that migrate (grids.roles.ensure_roles adds them to the roles, not to existing grants).
        """
        grants = Grant.objects.filter(region__path__startswith=city.path)
        with transaction.atomic():
            grid_services.sync_object_permissions(
                user_keys=grants.filter(user__isnull=False).values_list("user_id", "region_id"),
                group_keys=grants.filter(group__isnull=False).values_list("group_id", "region_id"),
            )

    def places(self, city: Region) -> list[Place]:
        """Every active grid with its people (from the role grants of seed_scale) and its departments."""
        regions = list(
            Region.objects.filter(path__startswith=city.path, depth__lte=Level.GRID)
            .only("id", "path", "depth", "code", "name", "abbr", "min_lat", "max_lat", "min_lng", "max_lng")
            .order_by("path")
        )
        by_path = {r.path: r for r in regions}
        people: dict[tuple[str, str], list[int]] = {}
        grants = Grant.objects.filter(region__path__startswith=city.path, user__isnull=False, role__isnull=False)
        for user_id, path, role in grants.values_list("user_id", "region__path", "role__code").order_by("user_id"):
            people.setdefault((path, role), []).append(user_id)
        with transaction.atomic():
            depts = self.departments(city, regions, people)
        steplen = Region.steplen
        places = []
        for grid in regions:
            if grid.depth != Level.GRID or grid.min_lat is None:
                continue
            district, street, community = (grid.path[: lvl * steplen] for lvl in (2, 3, 4))
            workers = people.get((grid.path, "grid_worker"), [])
            staff = people.get((community, "grid_leader"), []) + people.get((community, "community_staff"), [])
            dispatchers = people.get((street, "street_dispatcher"), [])
            supervisors = people.get((district, "supervisor"), [])
            places.append(
                Place(
                    region_id=grid.pk,
                    code=grid.code,
                    name=grid.name,
                    prefix=by_path[district].abbr or by_path[district].code,
                    box=(grid.min_lat, grid.max_lat, grid.min_lng, grid.max_lng),
                    workers=workers or staff,
                    community=staff or workers,
                    dispatchers=dispatchers or supervisors,
                    supervisors=supervisors or dispatchers,
                    street_depts=depts.get(street, {}),
                    district_depts=depts.get(district, {}),
                )
            )
        return places

    def departments(
        self, city: Region, regions: list[Region], people: dict[tuple[str, str], list[int]]
    ) -> dict[str, dict[str, Dept]]:
        """The departments of each district and street (created when missing), with a few members each.

        Members are district supervisors for district departments and community staff of the street for street
        ones: seed_scale creates no department handlers, and these accounts are not the ones bench_cases uses.
        """
        prefix = user_prefix(city.code)
        wanted: list[tuple[Region, str, str]] = []
        for r in regions:
            if r.depth == Level.DISTRICT:
                wanted += [(r, kind, name) for kind, name in DISTRICT_KINDS.items()]
            elif r.depth == Level.STREET:
                wanted += [(r, kind, name) for kind, name in STREET_KINDS.items()]
        existing = set(Department.objects.filter(code__startswith=prefix).values_list("code", flat=True))
        Department.objects.bulk_create(
            [
                Department(name=f"{r.name} {name}", code=f"{prefix}{r.code}-{kind}", kind=kind, region=r)
                for r, kind, name in wanted
                if f"{prefix}{r.code}-{kind}" not in existing
            ],
            batch_size=2000,
        )
        region_path = {r.pk: r.path for r in regions}
        street_len = Level.STREET * Region.steplen
        community_staff: dict[str, list[int]] = {}
        for (path, role), ids in people.items():
            if role == "community_staff":
                community_staff.setdefault(path[:street_len], []).extend(ids)
        through = Department.members.through
        found = list(Department.objects.filter(code__startswith=prefix, is_active=True).order_by("code"))
        members: dict[int, list[int]] = {}
        for dept_id, user_id in through.objects.filter(department__in=found).values_list("department_id", "user_id"):
            members.setdefault(dept_id, []).append(user_id)
        new_links = []
        result: dict[str, dict[str, Dept]] = {}
        for i, d in enumerate(found):
            path = region_path.get(d.region_id)
            if path is None:
                continue
            if d.pk not in members:
                if len(path) == Level.DISTRICT * Region.steplen:
                    pool = people.get((path, "supervisor"), [])
                else:
                    pool = community_staff.get(path, [])
                chosen = [pool[(i * MEMBERS_PER_DEPARTMENT + k) % len(pool)] for k in range(MEMBERS_PER_DEPARTMENT)]
                members[d.pk] = sorted(set(chosen)) if pool else []
                new_links += [through(department_id=d.pk, user_id=u) for u in members[d.pk]]
            result.setdefault(path, {})[d.kind] = Dept(d.pk, d.name, d.kind, members[d.pk])
        through.objects.bulk_create(new_links, batch_size=2000, ignore_conflicts=True)
        if new_links:
            access.forget_all_grants()  # cached department lists of the new members
        return result

    # --- the cases --------------------------------------------------------------------------------------------

    def generate(
        self, places: list[Place], categories: list[Category], rng: random.Random, total: int, n_days: int
    ) -> Tally:
        tz = timezone.get_current_timezone()
        now_dt = timezone.localtime()
        now = now_dt.timestamp()
        today = now_dt.date()
        days = [today - timedelta(days=n_days - 1 - i) for i in range(n_days)]
        midnight = datetime(today.year, today.month, today.day, tzinfo=tz).timestamp()
        counts = day_counts(total, days, max(0.01, (now - midnight) / 86400))
        gen = Generator(places, categories, rng, now)
        # The newest cases take every state in turn, so even a tiny run has each state at least once.
        every_state = [*OPEN_MIX, State.CLOSED, State.CANCELLED]
        forced = {
            total - len(every_state) + k: s for k, s in enumerate(every_state) if total - len(every_state) + k >= 0
        }
        writer = Writer()
        try:
            self.play(gen, writer, days, counts, forced, now, today)
        finally:
            writer.close()
        return gen.tally

    def play(
        self,
        gen: Generator,
        writer: Writer,
        days: list[date],
        counts: list[int],
        forced: dict[int, str],
        now: float,
        today: date,
    ) -> None:
        """Draw each day's report times and grids, and hand whole days to the writer by batches."""
        tz = timezone.get_current_timezone()
        rng = gen.rng
        hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
        planned: list[tuple[float, date, Place]] = []
        done = 0
        last_report = time.perf_counter()
        for day, count in zip(days, counts, strict=True):
            start = datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
            times = []
            for _ in range(count):
                if day == today:
                    times.append(start + rng.random() * (now - start))
                else:
                    hour = bisect.bisect(hour_cum, rng.random() * hour_cum[-1])
                    times.append(start + 3600 * (hour + rng.random()))
            times.sort()
            planned += [(t, day, weighted(rng, gen.place_cum, gen.places)) for t in times]
            if len(planned) >= BATCH or day == today:
                writer.put(gen.batch(planned, forced, done))
                done += len(planned)
                planned = []
                if time.perf_counter() - last_report > 15 or day == today:
                    last_report = time.perf_counter()
                    self.stdout.write(f"    {done} cases up to {day:%Y-%m-%d} ({gen.tally.events} events)")

    def record(self, path: Path, opts: dict[str, Any], timings: dict[str, float], summary: str) -> None:
        command = (
            f"python manage.py seed_cases --cases {opts['cases']} --city-code {opts['city_code']} --days {opts['days']}"
        )
        if opts["reset"]:
            command += " --reset"
        write_seed_section(path, "seed_cases", command, timings, summary)
        self.stdout.write(f"Wrote the seed_cases section of {path}.")
