"""The demo cases of `make run`: every stage of the loop, some clocks already late, loaded once."""

from io import StringIO

from django.core.management import call_command

from cases import deadlines
from cases.demo import seed_demo_cases, working_hours_ago
from cases.models import Case, CaseEvent, StepDeadline
from cases.workflow import State
from grids.models import User


def test_seed_demo_loads_cases_at_every_stage_once(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "12 demo cases" in out.getvalue()
    states = sorted(Case.objects.values_list("state", flat=True))
    assert {State.REPORTED, State.CALLED, State.ACCEPTED, State.DISPATCHED, State.PENDING_VERIFICATION} <= set(states)
    assert State.CLOSED in states
    # Every case went through the services: each has a timeline that starts with its report.
    assert CaseEvent.objects.filter(transition="report").count() == len(states)
    lights = {d.light for d in StepDeadline.objects.filter(closed_at__isnull=True)}
    assert {"red", "yellow", "green"} <= lights
    # Only 白鹭区's grid worker reported in 白鹭区; 青石区's people never see it.
    far = Case.objects.get(region__code__startswith="519903")
    assert far.reporter == User.objects.get(username="gridworker2")
    # Every department has an active member: no work order waits for nobody.
    from grids.models import Department

    assert not Department.objects.filter(is_active=True).exclude(members__is_active=True).exists()
    members = User.objects.filter(departments__isnull=False).count()
    # Loading again adds nothing.
    call_command("seed_demo", stdout=StringIO())
    assert seed_demo_cases() == 0
    assert User.objects.filter(departments__isnull=False).count() == members
    assert Case.objects.count() == len(states)


def test_the_first_sweep_acts_on_the_late_demo_steps(db):
    call_command("seed_demo", stdout=StringIO())
    done = deadlines.sweep()
    assert done["urged"] >= 2 and done["reminded"] >= 1
    from grids.models import User
    from notifications.selectors import visible

    dispatcher, handler = User.objects.get(username="dispatcher"), User.objects.get(username="handler")
    assert visible(user=dispatcher).filter(kind__in=["urge", "reminder"]).exists()  # his street's notices
    assert visible(user=handler).filter(kind="urge").exists()  # his department's


def test_working_hours_ago_lands_on_the_calendar(db):
    from django.utils import timezone

    from cases import calendar

    now = timezone.now()
    moment = working_hours_ago(5, now)
    assert 5 <= calendar.working_hours_between(moment, now) < 5 + 1 / 60 + 1e-9
