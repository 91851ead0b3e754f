"""The supervision board's work orders: live work orders whose open step is overdue or due soon, on cases under
the supervisor's regions, by department, in a bounded number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import selectors, services
from cases.models import Case, StepDeadline, WorkOrder
from grids import access
from grids import services as grid_services

pytestmark = pytest.mark.postgres


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


def dispatched(cast, category, departments, *, grid=None, reporter=None, actor=None, title="占道经营") -> Case:
    """A case of ``grid`` dispatched to ``departments`` (by the street dispatcher, or ``actor``)."""
    case = services.case_report(
        reporter=reporter or cast.worker, category=category, title=title, region=grid or cast.city.g1111
    )
    case = services.case_transition(
        case=case, action="call_street", actor=actor or cast.community, comment="需街道协调"
    )
    case = services.case_transition(case=case, action="accept", actor=actor or cast.dispatcher)
    return services.case_transition(
        case=case, action="dispatch", actor=actor or cast.dispatcher, departments=list(departments)
    )


def order_of(case: Case, department) -> WorkOrder:
    return WorkOrder.objects.get(case=case, department=department)


def make_late(order: WorkOrder, *, overdue: bool, minutes: int = 60) -> StepDeadline:
    """Move the work order's open step deadline: overdue by ``minutes``, or due in ``minutes`` (yellow)."""
    now = timezone.now()
    deadline = StepDeadline.objects.get(work_order=order, closed_at__isnull=True)
    if overdue:
        deadline.due_at, deadline.yellow_at = now - timedelta(minutes=minutes), now - timedelta(hours=5)
    else:
        deadline.due_at, deadline.yellow_at = now + timedelta(minutes=minutes), now - timedelta(minutes=1)
    deadline.save()
    return deadline


@pytest.fixture
def district2(cast):
    """A department of district 2 and a case of district 2 late with it and with a district-1 department."""
    actor = cast.city.actor
    dept = grid_services.department_save(
        actor=actor, name="区2城管局", code="d2-cgzf", region=cast.city.d2, kind="cgzf"
    )
    category = cast.category
    case = dispatched(
        cast,
        category,
        [dept, cast.d["cgzf"]],
        grid=cast.city.g2111,
        reporter=cast.outsider,
        actor=actor,
        title="区2占道",
    )
    make_late(order_of(case, dept), overdue=True)
    make_late(order_of(case, cast.d["cgzf"]), overdue=True)
    return type("District2", (), {"department": dept, "case": case})


@pytest.fixture
def late(cast, category):
    """District 1: 城管 has two overdue work orders (one signed) and one due soon, one in time; 住建 one due soon
    (its refused one does not count); 市场监管's overdue one is paused."""
    cast.category = category
    cg, zj, scjg = cast.d["cgzf"], cast.d["zj"], cast.d["scjg"]
    a = dispatched(cast, category, [cg, zj], title="甲")
    b = dispatched(cast, category, [cg], title="乙")
    services.work_order_step(work_order=order_of(b, cg), action="sign", actor=cast.cg)
    c = dispatched(cast, category, [cg], title="丙")
    f = dispatched(cast, category, [cg], title="丁")
    d = dispatched(cast, category, [scjg], title="戊")
    e = dispatched(cast, category, [zj], title="己")
    make_late(order_of(a, cg), overdue=True, minutes=30)
    make_late(order_of(b, cg), overdue=True, minutes=90)  # the signed one: its complete step
    make_late(order_of(f, cg), overdue=False)
    make_late(order_of(a, zj), overdue=False)
    make_late(order_of(d, scjg), overdue=True)
    services.case_transition(case=Case.objects.get(pk=d.pk), action="suspend", actor=cast.dispatcher, comment="等待")
    refused = make_late(order_of(e, zj), overdue=True)
    services.work_order_step(work_order=order_of(e, zj), action="refuse", actor=cast.zj, refusal_reason="not_our_duty")
    assert StepDeadline.objects.get(pk=refused.pk).closed_at is not None
    return type("Late", (), {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f})


def test_supervisor_sees_their_districts_work_orders_by_department(cast, late, district2):
    board = selectors.supervision_board(user=cast.supervisor)
    departments = board["work_orders"]
    assert [(d.name, d.overdue, d.soon) for d in departments] == [("城管执法局", 2, 1), ("住建局", 0, 1)]
    cg = departments[0]
    assert [(w.case.number, w.step, w.light) for w in cg.urgent] == [
        (late.b.number, "complete", "red"),
        (late.a.number, "sign", "red"),
        (late.f.number, "sign", "yellow"),
    ]
    numbers = {w.case.number for d in departments for w in d.urgent}
    assert late.c.number not in numbers  # in time
    assert late.d.number not in numbers  # paused
    assert late.e.number not in numbers  # refused
    assert district2.case.number not in numbers  # another district, even with a district-1 department


def test_city_supervisor_sees_every_district(cast, late, district2):
    departments = {d.name: d for d in selectors.supervision_board(user=cast.city_supervisor)["work_orders"]}
    assert (departments["城管执法局"].overdue, departments["城管执法局"].soon) == (3, 1)
    assert departments["区2城管局"].overdue == 1
    assert [w.case.number for w in departments["区2城管局"].urgent] == [district2.case.number]


def test_only_regions_granted_supervise(cast, late, district2):
    # The dispatcher views cases of the street but may not supervise: nothing; a street supervisor sees the street.
    assert selectors.late_work_orders(regions=access.regions_with(cast.dispatcher, "cases.supervise_case")) == []
    assert selectors.late_work_orders(regions=access.regions_with(cast.outsider, "cases.supervise_case")) == []
    everywhere = selectors.late_work_orders(regions=None)
    assert sum(d.overdue for d in everywhere) == 4


def test_most_urgent_first_and_limited_per_department(cast, late):
    regions = access.regions_with(cast.supervisor, "cases.supervise_case")
    cg = selectors.late_work_orders(regions=regions, per_department=1)[0]
    assert (cg.overdue, cg.soon) == (2, 1)
    assert [w.case.number for w in cg.urgent] == [late.b.number]


def test_supervision_page_lists_late_work_orders(cast, late, district2):
    page = client_for(cast.supervisor).get(reverse("supervision"))
    assert page.status_code == 200
    section = page.text.split('data-testid="late-work-orders"')[1]
    assert "城管执法局" in section and "住建局" in section
    assert "区2城管局" not in section and district2.case.number not in section
    assert section.count('data-testid="late-department"') == 2
    assert section.count('data-testid="late-work-order"') == 4
    assert f'href="{reverse("case_detail", args=[late.b.pk])}"' in section
    assert 'data-testid="wo-overdue">Overdue 2<' in section and 'data-testid="wo-soon">Due soon 1<' in section
    assert "light-red" in section and "light-yellow" in section
    assert "complete" in section and "sign" in section
    city = client_for(cast.city_supervisor).get(reverse("supervision")).text
    assert "区2城管局" in city.split('data-testid="late-work-orders"')[1]


def test_page_without_late_work_orders(cast, category):
    page = client_for(cast.supervisor).get(reverse("supervision"))
    assert page.status_code == 200 and "No work order is overdue or due soon." in page.text


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("supervision")).status_code == 200
    return len(ctx.captured_queries)


def test_supervision_page_costs_a_bounded_number_of_queries(cast, late, category, django_assert_max_num_queries):
    c = client_for(cast.supervisor)
    before = _queries(c)
    # More departments, each with late work orders: the same number of queries.
    for i in range(4):
        dept = grid_services.department_save(
            actor=cast.city.actor, name=f"部门{i}", code=f"d1-x{i}", region=cast.city.d1, kind="cgzf"
        )
        for j in range(3):
            case = dispatched(cast, category, [dept], title=f"部门{i}-{j}")
            make_late(order_of(case, dept), overdue=j % 2 == 0)
    assert len(selectors.supervision_board(user=cast.supervisor)["work_orders"]) == 6
    assert _queries(c) == before
    with django_assert_max_num_queries(12):
        c.get(reverse("supervision"))
