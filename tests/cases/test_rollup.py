"""The daily roll-up agrees with a brute-force recount of the cases and their events, after a random mix of
transitions fired through the services (on a clock that moves by hours, so days and deadlines vary), and again
after ``rebuild_rollup``."""

import contextlib
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from cases import calendar, rollup, services
from cases.models import (
    CASE_DAILY_COUNTERS,
    DEPARTMENT_DAILY_COUNTERS,
    Case,
    CaseDaily,
    CaseEvent,
    Category,
    DepartmentDaily,
    OpenCount,
    StepDeadline,
)
from cases.services import StaleCase, TransitionNotAllowed
from cases.workflow import TRANSITIONS, State, WorkOrderState
from grids.models import Region

OPEN = [s for s in State.values if s not in (State.CLOSED, State.CANCELLED)]


@pytest.fixture
def clock(monkeypatch):
    """A clock that the test moves forward (every ``timezone.now()`` of the services and of auto_now reads it)."""
    now = [timezone.now() - timedelta(days=6)]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


def _fire(cast, case, rng, categories):
    case = Case.objects.select_related("region", "category").get(pk=case.pk)
    if case.state in (State.DISPATCHED, State.IN_PROGRESS) and rng.random() < 0.7:
        orders = [o for o in case.work_orders.all() if o.state in (WorkOrderState.ASSIGNED, WorkOrderState.SIGNED)]
        if orders:
            order = rng.choice(orders)
            who = {"cgzf": cast.cg, "zj": cast.zj, "scjg": cast.scjg}[order.department.kind]
            if order.state == WorkOrderState.ASSIGNED:
                action = rng.choice(["sign", "sign", "sign", "refuse"])
            else:
                action = "complete"
            return services.work_order_step(
                work_order=order, action=action, actor=who, result="已处置", refusal_reason="not_duty"
            )
    actions = [a for a, t in TRANSITIONS.items() if case.state in t.sources and a not in ("report_again", "assign")]
    if not actions:
        return None
    weights = {"cancel": 0.2, "mark_duplicate": 0.1, "escalate": 0.2, "reopen": 0.3, "supervise": 0.2, "return": 0.3}
    weights.update(accept=4, dispatch=4, verify_ok=3, close=4, evaluate=3, call_street=2)
    action = rng.choices(actions, [weights.get(a, 1.0) for a in actions])[0]
    actor = {
        "settle": cast.community,
        "call_street": cast.community,
        "verify_ok": cast.worker,
        "verify_failed": cast.worker,
        "evaluate": cast.hotline,
        "escalate": cast.dispatcher,
        "supervise": cast.supervisor,
    }.get(action, cast.dispatcher)
    if action == "accept" and case.level < 3:
        actor = cast.city.actor
    data = {}
    if action in ("dispatch", "redispatch"):
        data["departments"] = [cast.d[k] for k in rng.sample(["cgzf", "zj", "scjg"], rng.randint(1, 2))]
    if action == "evaluate":
        data["satisfaction"] = rng.choice(["satisfied", "satisfied", "basically", "unsatisfied"])
    if action == "mark_duplicate":
        data["duplicate_of"] = Case.objects.exclude(pk=case.pk).exclude(state=State.CANCELLED).first()
    return services.case_transition(case=case, action=action, actor=actor, comment="测试", **data)


def _late(steps, t, *, step=None, any_step=False):
    """The in-time rule written out in Python, over StepDeadline rows."""
    if any_step:
        return any(
            d.step != "evaluate"
            and d.started_at <= t
            and d.due_at < t
            and (d.closed_at is None or d.due_at < d.closed_at)
            for d in steps
        )
    mine = sorted((d for d in steps if d.step == step and d.started_at <= t), key=lambda d: (d.started_at, d.id))
    return bool(mine) and mine[-1].due_at < t


def recount():
    """Every roll-up row, recounted from the cases, their events and their clocks (no shared code)."""
    regions = dict(Region.objects.values_list("path", "id"))

    def ids(path):
        return [regions[path[:i]] for i in range(4, len(path) + 1, 4)]

    daily = defaultdict(Counter)
    departments = defaultdict(Counter)
    opened = Counter()
    clocks = defaultdict(list)
    for d in StepDeadline.objects.all():
        clocks[("case", d.case_id)].append(d)
        if d.work_order_id:
            clocks[("wo", d.work_order_id)].append(d)
    for case in Case.objects.select_related("region"):
        rids = ids(case.region.path)
        made = timezone.localtime(case.created_at)
        for rid in rids:
            key = (rid, made.date(), case.category_id)
            daily[key]["new"] += 1
            daily[key][f"new_{case.source}"] += 1
            daily[key][f"h{made.hour:02d}"] += 1
            daily[key]["cohort_closed"] += case.state == State.CLOSED
            daily[key]["cohort_cancelled"] += case.state == State.CANCELLED
            if case.state in OPEN:
                opened[(rid, case.state)] += 1
    names = {
        "settle": "settled",
        "call_street": "called",
        "verify_ok": "verified",
        "verify_failed": "verify_failed",
        "rehandle": "rehandled",
        "cancel": "cancelled",
        "mark_duplicate": "cancelled",
    }
    for e in CaseEvent.objects.select_related("case__region", "work_order"):
        case, day = e.case, timezone.localdate(e.at)
        for rid in ids(case.region.path):
            row = daily[(rid, day, case.category_id)]
            if e.transition in names:
                row[names[e.transition]] += 1
            if e.transition == "dispatch":
                row["dispatched"] += 1
                row["dispatched_on_time"] += not _late(clocks[("case", case.pk)], e.at, step="dispatch")
            if e.transition == "close":
                hours = max(0.0, calendar.working_hours_between(case.created_at, e.at))
                row["closed"] += 1
                row["closed_on_time"] += not _late(clocks[("case", case.pk)], e.at, any_step=True)
                row["close_hours"] += round(hours, 4)
                row[f"b{rollup.hour_bucket(hours)}"] += 1
            if e.transition == "evaluate":
                row["evaluated"] += 1
                row[e.data["satisfaction"]] += 1
            if e.work_order_id and e.transition in ("wo_sign", "wo_complete", "wo_refuse"):
                drow = departments[(rid, day, e.work_order.department_id)]
                if e.transition == "wo_sign":
                    drow["signed"] += 1
                    drow["signed_on_time"] += not _late(clocks[("wo", e.work_order_id)], e.at, step="sign")
                elif e.transition == "wo_complete":
                    drow["done"] += 1
                    drow["done_on_time"] += not _late(clocks[("wo", e.work_order_id)], e.at, step="complete")
                else:
                    drow["refused"] += 1
    return (
        {k: {n: round(v, 3) for n, v in c.items() if v} for k, c in daily.items() if any(c.values())},
        {k: {n: v for n, v in c.items() if v} for k, c in departments.items() if any(c.values())},
        {k: v for k, v in opened.items() if v},
    )


def stored():
    daily = {}
    for row in CaseDaily.objects.values():
        counters = {n: row[n] for n in ("close_hours", *CASE_DAILY_COUNTERS) if row[n]}
        counters = {n: round(v, 3) for n, v in counters.items()}
        if counters:
            daily[(row["region_id"], row["day"], row["category_id"])] = counters
    departments = {}
    for row in DepartmentDaily.objects.values():
        counters = {n: row[n] for n in DEPARTMENT_DAILY_COUNTERS if row[n]}
        if counters:
            departments[(row["region_id"], row["day"], row["department_id"])] = counters
    opened = {(r, s): n for r, s, n in OpenCount.objects.values_list("region_id", "state", "n") if n}
    return daily, departments, opened


def _random_history(cast, category, clock, *, steps, seed):
    """Reports and a random mix of transitions and work-order steps through the services, on a clock that moves
    by minutes to hours, with some clocks run out."""
    rng = random.Random(seed)
    categories = [category, Category.objects.get(code="aqyh-xftd")]
    grids = [cast.city.g1111, cast.city.g1112]
    cases = []
    for step in range(steps):
        clock[0] += timedelta(minutes=rng.randint(5, 600))
        if not cases or rng.random() < 0.15:
            grid = grids[0] if rng.random() < 0.6 else grids[1]
            cases.append(
                services.case_report(
                    reporter=cast.worker if grid == grids[0] else cast.worker2,
                    category=rng.choice(categories),
                    title=f"第{step}件",
                    region=grid,
                    source=rng.choice(["patrol", "hotline", "visit", "open311"]),
                )
            )
            continue
        if rng.random() < 0.1:  # some clocks run out: the in-time counters see both outcomes
            StepDeadline.objects.filter(closed_at__isnull=True, case=rng.choice(cases)).update(
                due_at=clock[0] - timedelta(minutes=1)
            )
        with contextlib.suppress(TransitionNotAllowed, StaleCase, PermissionDenied, ValidationError):
            _fire(cast, rng.choice(cases), rng, categories)


def test_the_roll_up_equals_a_recount_after_random_transitions_and_after_the_rebuild(cast, category, clock):
    _random_history(cast, category, clock, steps=300, seed=13)
    transitions = Counter(CaseEvent.objects.values_list("transition", flat=True))
    for t in (
        "report",
        "settle",
        "call_street",
        "dispatch",
        "close",
        "evaluate",
        "wo_sign",
        "wo_complete",
        "verify_ok",
    ):
        assert transitions[t] > 0, transitions  # the mix covers the counted transitions
    assert len({timezone.localdate(at) for at in CaseEvent.objects.values_list("at", flat=True)}) > 3
    expected = recount()
    city = expected[0]
    total = Counter()
    for (rid, _day, _cat), counters in city.items():
        if rid == cast.city.city.pk:
            total.update(counters)
    assert total["dispatched_on_time"] < total["dispatched"] or total["closed_on_time"] < total["closed"], total
    assert total["cohort_closed"] and total["evaluated"] and expected[1] and expected[2]
    assert stored() == expected
    call_command("rebuild_rollup", verbosity=0)
    assert stored() == expected


def every_row():
    """The three tables in full, zero counters and rows included, by key (the hours to the thousandth)."""
    daily = {}
    for row in CaseDaily.objects.values():
        key = (row.pop("region_id"), row.pop("day"), row.pop("category_id"))
        row.pop("id")
        row["close_hours"] = round(row["close_hours"], 3)
        daily[key] = row
    departments = {}
    for row in DepartmentDaily.objects.values():
        departments[(row.pop("region_id"), row.pop("day"), row.pop("department_id"))] = row
        row.pop("id")
    opened = {(r, s): n for r, s, n in OpenCount.objects.values_list("region_id", "state", "n")}
    return daily, departments, opened


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed, as in production: the rebuild's ranges run on two connections
def test_the_rebuild_equals_the_live_roll_up_row_for_row(request, clock):
    cast, category = request.getfixturevalue("cast"), request.getfixturevalue("category")
    _random_history(cast, category, clock, steps=250, seed=29)
    live = every_row()
    assert len(live[0]) > 20 and live[1] and live[2]
    assert any(n == 0 for n in live[2].values())  # a state every case left: its row stays, at zero
    # Ranges of 3 case ids: most keys of the street, district and city are computed in several ranges and added up.
    call_command("rebuild_rollup", batch=3, workers=2, verbosity=0)
    assert every_row() == live
    rollup.rebuild(batch=3, workers=1)  # the same ranges on this connection, one after the other
    assert every_row() == live
    rollup._rebuild_in_python(batch=3)  # what the embedded SQLite runs
    assert every_row() == live
