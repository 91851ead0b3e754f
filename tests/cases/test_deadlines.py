"""Step deadlines and the sweep: lights, reminders, 催办, 督办 and escalation, each exactly once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases import calendar, deadlines, services
from cases.models import Case, CaseEvent, StepDeadline
from cases.workflow import State
from grids.codes import Level
from tests.factories import run_in_threads


def called(cast, category, urgency="urgent"):
    case = services.case_report(
        reporter=cast.worker, category=category, title="占道", region=cast.city.g1111, urgency=urgency
    )
    return services.case_transition(case=case, action="call_street", actor=cast.community, comment="请街道协调")


def notifications_of(user, kind=None):
    """The notices ``user`` sees: his own and his units' (a department's, a level's dispatchers' ...)."""
    from notifications.selectors import visible

    rows = visible(user=user)
    return rows.filter(kind=kind) if kind else rows


def test_steps_open_and_close_with_the_workflow(cast, category):
    case = called(cast, category)
    accept = StepDeadline.objects.get(case=case, step="accept", closed_at__isnull=True)
    hours = category.time_limits["urgent"]["accept"]
    assert accept.due_at == calendar.add_working_hours(accept.started_at, hours)
    assert accept.started_at < accept.yellow_at < accept.due_at <= accept.escalate_at
    assert Case.objects.get(pk=case.pk).due_at == accept.due_at
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    case = services.case_transition(case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]])
    open_steps = set(StepDeadline.objects.filter(case=case, closed_at__isnull=True).values_list("step", flat=True))
    assert open_steps == {"sign"}
    order = case.work_orders.get()
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    services.work_order_step(work_order=order, action="complete", actor=cast.cg, result="ok")
    open_steps = set(StepDeadline.objects.filter(case=case, closed_at__isnull=True).values_list("step", flat=True))
    assert open_steps == {"verify"}
    case = services.case_transition(case=Case.objects.get(pk=case.pk), action="verify_ok", actor=cast.worker)
    case = services.case_transition(case=case, action="close", actor=cast.dispatcher)
    assert set(StepDeadline.objects.filter(case=case, closed_at__isnull=True).values_list("step", flat=True)) == {
        "evaluate"
    }
    services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="satisfied")
    assert not StepDeadline.objects.filter(case=case, closed_at__isnull=True).exists()
    assert Case.objects.get(pk=case.pk).due_at is None


def test_emergencies_run_on_the_clock(cast, category):
    case = called(cast, category, urgency="emergency")
    d = StepDeadline.objects.get(case=case, step="accept")
    assert d.due_at - d.started_at == timedelta(hours=category.time_limits["emergency"]["accept"])


def test_traffic_light_turns_yellow_then_red(cast, category):
    d = StepDeadline.objects.get(case=called(cast, category), step="accept")
    assert deadlines.light_of(due_at=d.due_at, yellow_at=d.yellow_at, now=d.started_at) == "green"
    assert deadlines.light_of(due_at=d.due_at, yellow_at=d.yellow_at, now=d.yellow_at) == "yellow"
    assert deadlines.light_of(due_at=d.due_at, yellow_at=d.yellow_at, now=d.due_at + timedelta(seconds=1)) == "red"


def test_reminder_urge_supervision_and_escalation_each_happen_once(cast, category):
    case = called(cast, category)
    d = StepDeadline.objects.get(case=case, step="accept")
    assert deadlines.sweep(now=d.yellow_at - timedelta(minutes=1)) == {
        "reminded": 0,
        "urged": 0,
        "supervised": 0,
        "escalated": 0,
        "notices": 0,
    }

    first = deadlines.sweep(now=d.yellow_at)
    assert first["reminded"] == 1 and deadlines.sweep(now=d.yellow_at)["reminded"] == 0
    assert notifications_of(cast.dispatcher, "reminder").count() == 1

    overdue = deadlines.sweep(now=d.due_at)
    assert overdue["urged"] == 1 and overdue["supervised"] == 1
    assert deadlines.sweep(now=d.due_at)["urged"] == 0
    assert notifications_of(cast.dispatcher, "urge").count() == 1
    assert notifications_of(cast.supervisor, "supervision").count() == 1  # the district above the street
    assert list(notifications_of(cast.worker).values_list("kind", "title")) == []
    # the holding level and the level above it, not everyone further up
    assert not notifications_of(cast.supervisor, "urge").exists()
    assert not notifications_of(cast.city_supervisor).exists()

    escalated = deadlines.sweep(now=d.escalate_at)
    assert escalated["escalated"] == 1
    case.refresh_from_db()
    assert (case.state, case.level) == (State.ESCALATED, Level.DISTRICT)
    event = CaseEvent.objects.filter(case=case, transition="escalate").get()
    assert event.actor.username == "system"
    assert deadlines.sweep(now=d.escalate_at)["escalated"] == 0  # the escalation happened once
    new_accept = StepDeadline.objects.get(case=case, step="accept", closed_at__isnull=True)
    assert new_accept.level == Level.DISTRICT


def test_extension_moves_the_deadline(cast, category):
    case = called(cast, category)
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    case = services.case_transition(case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]])
    order = case.work_orders.get()
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    until = timezone.now() + timedelta(days=10)
    services.work_order_step(work_order=order, action="request_extension", actor=cast.cg, until=until, comment="等材料")
    services.work_order_step(work_order=order, action="grant_extension", actor=cast.dispatcher)
    assert StepDeadline.objects.get(work_order=order, step="complete", closed_at__isnull=True).due_at == until


def test_suspension_pauses_the_clock_and_records_the_paused_time(cast, category):
    case = called(cast, category)
    d = StepDeadline.objects.get(case=case, step="accept")
    case = services.case_transition(case=case, action="suspend", actor=cast.dispatcher, comment="等待产权单位答复")
    assert deadlines.sweep(now=d.escalate_at + timedelta(days=1))["urged"] == 0  # a paused clock is never overdue
    assert Case.objects.filter(pk=case.pk).values_list("due_at", "yellow_at").get() == (None, None)  # no light
    case = services.case_transition(case=case, action="resume", actor=cast.dispatcher)
    moved = StepDeadline.objects.get(pk=d.pk)
    assert Case.objects.get(pk=case.pk).due_at == moved.due_at  # the light comes back, later
    assert moved.due_at > d.due_at and moved.paused_seconds > 0 and moved.paused_since is None
    assert CaseEvent.objects.get(case=case, transition="resume").data["paused_seconds"] >= 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_notify_exactly_once(request):
    cast = request.getfixturevalue("cast")
    from cases.models import Category

    category = Category.objects.get(code="csgl-zdjy")
    cases = [called(cast, category) for _ in range(6)]
    latest = max(StepDeadline.objects.filter(case__in=cases).values_list("escalate_at", flat=True))
    results = run_in_threads(2, lambda i: deadlines.sweep(now=latest, batch=2))
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["urged"] for r in results) == 6 and sum(r["escalated"] for r in results) == 6
    assert notifications_of(cast.dispatcher, "urge").count() == 6
    assert notifications_of(cast.supervisor, "supervision").count() == 6
    assert CaseEvent.objects.filter(transition="escalate").count() == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_remind_exactly_once(request):
    """The reminder at yellow is raced like the rest: four sweeps at the same moment, each reminder once."""
    cast = request.getfixturevalue("cast")
    from cases.models import Category

    category = Category.objects.get(code="csgl-zdjy")
    cases = [called(cast, category) for _ in range(5)]
    yellow = max(StepDeadline.objects.filter(case__in=cases).values_list("yellow_at", flat=True))
    results = run_in_threads(4, lambda i: deadlines.sweep(now=yellow, batch=1))
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["reminded"] for r in results) == 5
    assert sum(r["urged"] for r in results) == 0
    assert notifications_of(cast.dispatcher, "reminder").count() == 5
    assert StepDeadline.objects.filter(case__in=cases, reminded_at__isnull=False).count() == 5
    assert deadlines.sweep(now=yellow)["reminded"] == 0


def test_lists_show_and_filter_by_light(cast, category):
    from django.test import Client
    from django.urls import reverse

    late = called(cast, category)
    fresh = called(cast, category)
    past = timezone.now() - timedelta(hours=1)
    Case.objects.filter(pk=late.pk).update(due_at=past, yellow_at=past - timedelta(hours=1))
    c = Client(headers={"accept-language": "en"})
    c.force_login(cast.dispatcher)
    red = c.get(reverse("street_queue"), {"light": "red"}).text
    assert late.number in red and fresh.number not in red
    green = c.get(reverse("street_queue"), {"light": "green"}).text
    assert fresh.number in green and late.number not in green
    page = c.get(reverse("case_detail", args=[late.pk])).text
    assert "Overdue" in page


def test_supervision_page_and_notice(cast, category):
    from django.test import Client
    from django.urls import reverse

    late = called(cast, category)
    past = timezone.now() - timedelta(hours=1)
    Case.objects.filter(pk=late.pk).update(due_at=past, yellow_at=past - timedelta(hours=1))
    c = Client(headers={"accept-language": "en"})
    c.force_login(cast.supervisor)
    page = c.get(reverse("supervision"))
    assert page.status_code == 200 and late.number in page.text
    c.force_login(cast.worker)
    assert c.get(reverse("supervision")).status_code == 403
    with pytest.raises(Exception):  # noqa: B017 - a dispatcher has no supervise permission
        services.case_transition(case=late, action="supervise", actor=cast.dispatcher, comment="请加快")
    case = services.case_transition(
        case=Case.objects.get(pk=late.pk), action="supervise", actor=cast.supervisor, comment="请今天内受理"
    )
    event = case.events.get(transition="supervise")
    assert event.data["notified"] >= 1 and event.comment == "请今天内受理"
    assert notifications_of(cast.dispatcher, "supervision").filter(body="请今天内受理").exists()


def test_the_sweep_looks_people_up_once_per_batch(cast, category, django_assert_max_num_queries):
    """A batch of late steps at one street costs the same queries as one: holders and supervisors are looked up
    once per level, and the batch's notices are written with one insert."""
    cases = [called(cast, category) for _ in range(12)]
    due = max(StepDeadline.objects.filter(case__in=cases).values_list("due_at", flat=True))
    with django_assert_max_num_queries(16) as captured:
        result = deadlines.sweep(now=due)
    assert result["urged"] == 12 and result["notices"] == 24  # the dispatcher and the district supervisor, each
    assert notifications_of(cast.dispatcher, "urge").count() == 12
    assert notifications_of(cast.supervisor, "supervision").count() == 12
    inserts = [q for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "notifications_notification"')]
    assert len(inserts) == 1


def test_a_level_is_told_with_one_notice_that_every_holder_sees_and_reads_for_himself(cast, category):
    from notifications import selectors
    from notifications import services as notify
    from notifications.models import Notification
    from tests.factories import UserFactory, grant_role

    extra = [UserFactory() for _ in range(4)]
    for user in extra:
        grant_role(user, "street_dispatcher", cast.city.s11, actor=cast.city.actor)
    case = called(cast, category)
    d = StepDeadline.objects.get(case=case, step="accept")
    deadlines.sweep(now=d.due_at)
    urge = Notification.objects.get(kind="urge", link=case.url)  # one row for the street's five dispatchers
    assert urge.recipient is None and urge.unit == f"r:{cast.city.s11.pk}:dispatch_case"
    assert urge.dedup_key == f"urge:{d.pk}:{urge.unit}"
    for user in [cast.dispatcher, *extra]:
        assert notifications_of(user, "urge").get() == urge
        assert selectors.unread_count(user=user) >= 1
    assert not notifications_of(cast.worker, "urge").exists()  # not a dispatcher of the street

    before = selectors.unread_count(user=extra[1])
    notify.mark_read(user=extra[0], notification=urge)  # read by one, still unread for the others
    page = selectors.inbox_page(user=extra[0])
    assert next(n for n in page if n.pk == urge.pk).is_read
    assert selectors.unread_count(user=extra[1]) == before
    assert not next(n for n in selectors.inbox_page(user=extra[1]) if n.pk == urge.pk).is_read


def test_people_are_told_when_work_comes_to_them(cast, category):
    case = called(cast, category)
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    case = services.case_transition(
        case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"], cast.d["zj"]]
    )
    assert notifications_of(cast.cg, "assigned").get().link == case.url  # 派单: each department's members
    assert notifications_of(cast.zj, "assigned").count() == 1
    assert notifications_of(cast.cg, "assigned").get().unit == f"d:{cast.d['cgzf'].pk}"  # one notice per department
    assert not notifications_of(cast.dispatcher).exists()  # not the person who did it

    other = called(cast, category)
    services.case_transition(case=other, action="escalate", actor=cast.dispatcher, comment="跨街道")
    told = notifications_of(cast.supervisor, "escalated")  # the district's dispatching supervisor
    assert list(told.values_list("link", flat=True)) == [other.url]


def test_notices_are_written_in_each_recipients_language(cast, category):
    from django.utils import translation

    cast.dispatcher.language = "en"
    cast.dispatcher.save(update_fields=["language"])
    case = called(cast, category)
    d = StepDeadline.objects.get(case=case, step="accept")
    with translation.override("en"):  # whatever language the sweep's process happens to have
        deadlines.sweep(now=d.due_at)
    from notifications.selectors import inbox_page

    # One notice to each unit, read by each member in his own language.
    urge = next(n for n in inbox_page(user=cast.dispatcher) if n.kind == "urge")
    assert urge.title == f"Overdue, please act now: {case.number}" and urge.body.endswith("· accept")
    supervision = next(n for n in inbox_page(user=cast.supervisor) if n.kind == "supervision")
    assert supervision.title == f"超期督办：{case.number}" and supervision.body.endswith("· 受理")  # the site's


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sweep_killed_midway_leaves_nothing_half_done(request):
    """SIGKILL a sweep process after some batches committed: the next sweep finishes the rest, and every step has
    its 催办 and 督办 exactly once (each batch commits its notices together with its markers)."""
    import multiprocessing
    import os
    import signal
    import time

    from django.db import connection, connections

    from cases.models import Category
    from notifications.models import Notification

    cast = request.getfixturevalue("cast")
    category = Category.objects.get(code="csgl-zdjy")
    cases = [called(cast, category) for _ in range(12)]
    rows = StepDeadline.objects.filter(case__in=cases, step="accept")
    now = max(rows.values_list("due_at", flat=True))
    StepDeadline.objects.filter(case__in=cases).update(escalate_at=now + timedelta(days=1))  # urge, not escalate

    def slow_sweep():
        def slow(execute, sql, params, many, context):
            time.sleep(0.05)  # a slow database: the kill lands between batches, or inside one
            return execute(sql, params, many, context)

        with connection.execute_wrapper(slow):
            deadlines.sweep(now=now, batch=2)
        os._exit(0)

    connections.close_all()
    child = multiprocessing.get_context("fork").Process(target=slow_sweep)
    child.start()
    deadline = time.monotonic() + 30
    while rows.filter(urged_at__isnull=False).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    urged_before = rows.filter(urged_at__isnull=False).count()
    assert 2 <= urged_before < 12, "the kill should land midway"
    # Whatever the killed sweep committed is whole: marked rows have their notices, the others have none.
    assert notifications_of(cast.dispatcher, "urge").count() == urged_before

    deadlines.sweep(now=now)
    assert rows.filter(urged_at__isnull=True).count() == 0
    assert notifications_of(cast.dispatcher, "urge").count() == 12
    assert notifications_of(cast.supervisor, "supervision").count() == 12
    keys = list(Notification.objects.filter(dedup_key__isnull=False).values_list("dedup_key", flat=True))
    assert len(keys) == len(set(keys))


def test_the_case_page_keeps_the_record_of_each_clock(cast, category):
    from django.test import Client
    from django.urls import reverse

    case = called(cast, category)
    now = timezone.now()  # the step started ten hours ago: an hour overdue, grace not over
    StepDeadline.objects.filter(case=case, step="accept").update(
        started_at=now - timedelta(hours=10),
        yellow_at=now - timedelta(hours=3),
        due_at=now - timedelta(hours=1),
        escalate_at=now + timedelta(hours=5),
    )
    deadlines.sweep(now=now)
    client = Client()
    client.force_login(cast.supervisor)
    page = client.get(reverse("case_detail", args=[case.pk]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="clock-accept"' in html
    row = html.split('data-testid="clock-accept"', 1)[1].split("</tr>", 1)[0]
    assert "Overdue" in row and "urged (催办)" in row and "supervisors told (督办)" in row
    services.case_transition(case=Case.objects.get(pk=case.pk), action="accept", actor=cast.dispatcher)
    html = client.get(reverse("case_detail", args=[case.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = html.split('data-testid="clock-accept"', 1)[1].split("</tr>", 1)[0]
    assert "Ended late" in row  # accepted after its deadline
    assert 'data-testid="clock-dispatch"' in html  # the next step's clock runs


def test_the_case_page_offers_suspend_while_a_clock_runs_and_resume_while_paused(cast, category):
    from django.test import Client
    from django.urls import reverse

    case = called(cast, category)
    client = Client()
    client.force_login(cast.dispatcher)
    url = reverse("case_detail", args=[case.pk])
    html = client.get(url).content.decode()
    assert "/act/suspend/" in html and "/act/resume/" not in html
    services.case_transition(case=case, action="suspend", actor=cast.dispatcher, comment="等待产权单位答复")
    html = client.get(url).content.decode()
    assert "/act/suspend/" not in html and "/act/resume/" in html
    assert "已挂起" in html  # the clock's row says so
