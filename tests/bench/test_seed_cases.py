from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from bench.management.commands.seed_cases import day_counts
from bench.management.commands.seed_scale import user_prefix
from cases import services
from cases.models import Case, CaseEvent, CaseSequence, Category, StepDeadline, WorkOrder
from cases.workflow import OPEN_STATES, TRANSITIONS, State, WorkOrderState, after_work_orders
from grids.models import Department, Grant, Region

CITY = "529600"
CASES = 300
DISPATCHED_OR_LATER = {State.DISPATCHED, State.IN_PROGRESS}


@pytest.fixture
def seeded(db):
    call_command("seed_scale", grids=40, staff=60, city_code=CITY, stdout=StringIO())
    call_command("seed_cases", cases=CASES, city_code=CITY, days=30, stdout=StringIO())
    return Region.objects.get(code=CITY)


def city_cases(city):
    return Case.objects.filter(region__path__startswith=city.path)


def test_day_counts_add_up_and_favour_weekdays():
    from datetime import date, timedelta

    days = [date(2026, 11, 2) + timedelta(days=i) for i in range(14)]  # two weeks from a Monday
    counts = day_counts(10_000, days, today_fraction=0.5)
    assert sum(counts) == 10_000
    assert counts[5] < counts[4] and counts[6] < counts[7]  # Saturday and Sunday
    assert counts[-1] < counts[-2]  # today is half over


def test_counts_grids_and_state_mix(seeded):
    cases = city_cases(seeded)
    assert cases.count() == CASES
    assert cases.values("region").distinct().count() > 20
    assert set(cases.values_list("region__depth", flat=True)) == {5}
    mix = Counter(cases.values_list("state", flat=True))
    assert set(OPEN_STATES) | {State.CLOSED, State.CANCELLED} == set(mix)  # every state at least once
    assert mix[State.CLOSED] > CASES / 2  # most cases are closed
    assert all(c.category.parent_id for c in cases.select_related("category")[:50])  # leaf categories only
    assert not cases.filter(reporter__isnull=True).exists()
    assert set(cases.filter(state=State.CALLED).values_list("level", flat=True)) == {3}
    assert set(cases.filter(state=State.ESCALATED).values_list("level", flat=True)) == {2}
    assert not cases.filter(state=State.CLOSED, closed_at__isnull=True).exists()


def test_every_case_has_a_timeline_that_follows_the_workflow(seeded):
    cases = list(city_cases(seeded))
    events: dict[int, list[CaseEvent]] = {}
    for e in CaseEvent.objects.filter(case__in=cases).order_by("at", "id"):
        events.setdefault(e.case_id, []).append(e)
    for case in cases:
        timeline = events[case.pk]
        assert timeline[0].transition == "report" and timeline[0].at == case.created_at
        assert len(timeline) == case.version
        assert timeline[-1].to_state == case.state and timeline[-1].at == case.updated_at
        for before, after in zip(timeline, timeline[1:], strict=False):
            assert after.from_state == before.to_state
            if after.transition in TRANSITIONS:
                assert after.from_state in TRANSITIONS[after.transition].sources
        if case.state != State.REPORTED:
            assert len(timeline) > 1


def test_dispatched_cases_have_work_orders_that_agree_with_the_state(seeded):
    cases = city_cases(seeded)
    dispatched = cases.filter(events__transition="dispatch").distinct()
    assert dispatched.filter(state__in=DISPATCHED_OR_LATER).exists()
    assert not dispatched.filter(work_orders__isnull=True).exists()
    assert not cases.filter(state__in=DISPATCHED_OR_LATER, work_orders__isnull=True).exists()
    assert not cases.exclude(events__transition="dispatch").filter(work_orders__isnull=False).exists()
    for case in dispatched.prefetch_related("work_orders__department"):
        orders = list(case.work_orders.all())
        assert sum(o.is_lead for o in orders) == 1
        assert {o.department.region.path for o in orders} <= {case.region.path[:8], case.region.path[:12]}
        if case.state in DISPATCHED_OR_LATER:
            assert after_work_orders([o.state for o in orders]) in (None, case.state)
        if case.state in (State.PENDING_VERIFICATION, State.VERIFIED, State.CLOSED):
            assert {o.state for o in orders} == {WorkOrderState.DONE}
    signed = WorkOrder.objects.filter(case__in=cases, state=WorkOrderState.DONE).first()
    assert signed.signed_at <= signed.done_at and signed.assignee.departments.filter(pk=signed.department_id).exists()


def test_open_cases_carry_the_step_deadlines_the_services_would_have_opened(seeded):
    cases = city_cases(seeded)
    expected = {
        State.CALLED: {"accept"},
        State.ESCALATED: {"accept"},
        State.ACCEPTED: {"dispatch"},
        State.PENDING_VERIFICATION: {"verify"},
        State.REPORTED: set(),
        State.VERIFIED: set(),
    }
    now = timezone.now()
    for case in cases.exclude(state__in=[State.CLOSED, State.CANCELLED]).prefetch_related("deadlines", "work_orders"):
        open_steps = [d for d in case.deadlines.all() if d.closed_at is None]
        steps = {d.step for d in open_steps}
        if case.state in expected:
            assert steps == expected[case.state], (case.number, case.state, steps)
        else:  # dispatched / in progress: one clock per live work order, sign or complete by its state
            live = {o.pk: o.state for o in case.work_orders.all() if o.state in ("assigned", "signed")}
            assert {d.work_order_id: d.step for d in open_steps} == {
                pk: "sign" if state == "assigned" else "complete" for pk, state in live.items()
            }
        for d in open_steps:
            assert d.started_at < d.yellow_at < d.due_at <= d.escalate_at
            assert (d.urged_at is not None) == (d.due_at <= now)  # the backlog is not news to the first sweep
        first = min((d.due_at for d in open_steps), default=None)
        assert case.due_at == first
    assert StepDeadline.objects.filter(case__in=cases, closed_at__isnull=True, due_at__gt=now).exists()
    assert StepDeadline.objects.filter(case__in=cases, step="complete", closed_at__isnull=False).exists()


def test_departments_per_district_and_street_with_members(seeded):
    depts = Department.objects.filter(code__startswith=user_prefix(CITY))
    assert depts.filter(region__depth=2).count() == 2 * 6
    assert depts.filter(region__depth=3).count() == 4 * 2
    assert set(depts.values_list("kind", flat=True)) == {"cgzf", "zj", "scjg", "sw", "sthj", "xf", "pcs", "sq"}
    assert not depts.annotate(n=Count("members")).filter(n=0).exists()
    assert set(depts.values_list("members__username", flat=True)) <= set(
        Grant.objects.filter(region__path__startswith=seeded.path).values_list("user__username", flat=True)
    )


def test_numbers_are_unique_and_later_reports_do_not_collide(seeded):
    call_command("seed_cases", cases=20, city_code=CITY, days=1, seed=5, stdout=StringIO())  # all of them today
    numbers = list(city_cases(seeded).values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == CASES + 20
    last = Counter()
    for number in numbers:
        prefix, day, seq = number.rsplit("-", 2)
        last[(prefix, day)] = max(last[(prefix, day)], int(seq))
    for (prefix, day), seq in last.items():
        assert CaseSequence.objects.get(prefix=prefix, day=f"{day[:4]}-{day[4:6]}-{day[6:]}").last == seq

    today = f"{timezone.localdate():%Y%m%d}"
    newest = city_cases(seeded).filter(number__contains=f"-{today}-").order_by("-created_at").first()
    case = services.case_report(
        reporter=newest.reporter, category=Category.objects.get(code="csgl-zdjy"), title="新上报", region=newest.region
    )
    prefix = newest.number.rsplit("-", 2)[0]
    assert case.number not in numbers
    assert case.number == f"{prefix}-{today}-{last[(prefix, today)] + 1:04d}"


def test_a_second_run_adds_cases_and_reset_replaces_them(seeded):
    call_command("seed_cases", cases=50, city_code=CITY, days=5, seed=3, stdout=StringIO())
    assert city_cases(seeded).count() == CASES + 50
    assert city_cases(seeded).values("number").distinct().count() == CASES + 50
    if connection.vendor != "postgresql":
        with pytest.raises(CommandError, match="PostgreSQL"):
            call_command("seed_cases", cases=10, city_code=CITY, reset=True, stdout=StringIO())
        return
    before = CaseSequence.objects.aggregate(m=Max("last"))["m"]
    call_command("seed_cases", cases=40, city_code=CITY, days=5, reset=True, stdout=StringIO())
    assert city_cases(seeded).count() == 40
    assert CaseEvent.objects.filter(case__region__path__startswith=seeded.path).count() >= 40
    assert CaseSequence.objects.aggregate(m=Max("last"))["m"] >= before  # numbers are never handed out twice
    # The timeline is immutable again after the reset.
    event = CaseEvent.objects.filter(case__region__path__startswith=seeded.path).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseEvent.objects.filter(pk=event.pk).delete()


def test_refuses_a_city_that_does_not_exist(db):
    with pytest.raises(CommandError, match="seed_scale"):
        call_command("seed_cases", cases=10, city_code="529500", stdout=StringIO())


def test_the_roll_up_is_filled_and_agrees_with_the_cases(seeded):
    from django.db.models import Sum

    from cases.models import CaseDaily, OpenCount

    cases = city_cases(seeded)
    states = Counter(cases.values_list("state", flat=True))
    totals = CaseDaily.objects.filter(region=seeded).aggregate(
        new=Sum("new"), closed=Sum("cohort_closed"), cancelled=Sum("cohort_cancelled")
    )
    assert totals == {"new": CASES, "closed": states[State.CLOSED], "cancelled": states[State.CANCELLED]}
    opened = dict(OpenCount.objects.filter(region=seeded, n__gt=0).values_list("state", "n"))
    assert opened == {s: n for s, n in states.items() if s in OPEN_STATES}
