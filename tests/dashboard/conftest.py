"""The known cases the dashboard's and the monthly reports' tests count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases import services
from cases.models import Case, StepDeadline
from tests.cases.conftest import cast, category  # noqa: F401 - the people and category of the case tests


def report(people, kind, title):
    return services.case_report(reporter=people.worker, category=kind, title=title, region=people.city.g1111)


def fire(case, action, actor, **data):
    return services.case_transition(case=Case.objects.get(pk=case.pk), action=action, actor=actor, comment="好", **data)


def step(case, kind, action, actor):
    order = case.work_orders.get(department__kind=kind, state__in=["assigned", "signed"])
    services.work_order_step(work_order=order, action=action, actor=actor, result="已处置")


@pytest.fixture
def known(cast, category):  # noqa: F811 - the fixtures imported above
    """Four cases of today in grid g1111 (street s11): one settled and closed (satisfied), one dispatched late,
    reworked once, closed and re-handled after an unsatisfied call-back, one cancelled, one waiting and overdue."""
    a = report(cast, category, "甲")
    fire(a, "settle", cast.community)
    fire(a, "verify_ok", cast.worker)
    fire(a, "close", cast.dispatcher)
    fire(a, "evaluate", cast.hotline, satisfaction="satisfied")
    b = report(cast, category, "乙")
    fire(b, "call_street", cast.community)
    fire(b, "accept", cast.dispatcher)
    StepDeadline.objects.filter(case=b, step="dispatch").update(due_at=timezone.now() - timedelta(hours=1))
    fire(b, "dispatch", cast.dispatcher, departments=[cast.d["cgzf"]])
    b = Case.objects.get(pk=b.pk)
    step(b, "cgzf", "sign", cast.cg)
    step(b, "cgzf", "complete", cast.cg)
    fire(b, "verify_failed", cast.worker)
    step(b, "cgzf", "complete", cast.cg)
    fire(b, "verify_ok", cast.worker)
    fire(b, "close", cast.dispatcher)
    fire(b, "evaluate", cast.hotline, satisfaction="unsatisfied")  # 重办 at once: back to accepted
    c = report(cast, category, "丙")
    fire(c, "call_street", cast.community)
    fire(c, "cancel", cast.dispatcher)
    d = report(cast, category, "丁")
    Case.objects.filter(pk=d.pk).update(due_at=timezone.now() - timedelta(hours=2))
    return a, b, c, d
