"""Notices to a unit (a department, the dispatchers of a street, the supervisors of a district): one row, in the
inbox of everyone who belongs to the unit now and of nobody else, read by each member for himself, delivered to
each member's channels by a task that finds the members when it runs."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from grids import services as grid_services
from grids import units
from notifications import selectors, services, tasks
from notifications.models import Delivery, Notification, NotificationRead
from tests.factories import UserFactory, grant_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(city, alice, bob, no_mail_user):
    """A department of the first district with alice and bob, the street's dispatcher carol (no e-mail), and
    dora, who belongs to none of it."""
    dept = grid_services.department_save(actor=city.actor, name="城管执法局", code="cg-d1", region=city.d1)
    grid_services.department_set_members(actor=city.actor, department=dept, members=[alice, bob])
    grant_role(no_mail_user, "street_dispatcher", city.s11, actor=city.actor)
    dora = UserFactory(username="dora", email="dora@example.org")
    for user in (alice, bob, no_mail_user, dora):
        units.clear_cache(user)
    return dept, dora


def fresh(user):
    """The user as the next request loads him (his units read anew)."""
    return type(user).objects.get(pk=user.pk)


def test_a_unit_notice_is_one_row_seen_by_every_member_and_by_nobody_else(client, city, team, alice, bob):
    dept, dora = team
    notice = services.notify_unit(unit=units.department_key(dept.pk), kind="assigned", title="New work order")
    assert Notification.objects.count() == 1 and notice.recipient is None
    for member in (alice, bob):
        assert selectors.unread_count(user=fresh(member)) == 1
        assert [n.pk for n in selectors.inbox_page(user=fresh(member))] == [notice.pk]
    assert selectors.unread_count(user=fresh(dora)) == 0
    assert list(selectors.inbox_page(user=fresh(dora))) == []

    # Outside the unit it cannot be read, marked or even found (404, as anything one may not see).
    client.force_login(dora)
    assert client.post(reverse("notifications:read", args=[notice.pk])).status_code == 404
    assert "New work order" not in client.get("/notifications/").content.decode()
    client.force_login(alice)
    html = client.get("/notifications/").content.decode()
    assert "New work order" in html and 'data-testid="notification-unit"' in html and "城管执法局" in html


def test_a_region_unit_is_the_nearest_level_with_someone(city, team, no_mail_user):
    assert units.holder_unit(city.g1111.path[: 3 * 4], "dispatch_case") == units.region_key(
        city.s11.pk, "dispatch_case"
    )
    # Nobody dispatches at street 12 or above it: no unit.
    assert units.holder_unit(city.s12.path, "dispatch_case") is None
    notice = services.notify_unit(
        unit=units.region_key(city.s11.pk, "dispatch_case"), kind="urge", title="Overdue", dedup_key="urge:1:s11"
    )
    assert [n.pk for n in selectors.inbox_page(user=fresh(no_mail_user))] == [notice.pk]
    assert (
        services.notify_unit(
            unit=units.region_key(city.s11.pk, "dispatch_case"), kind="urge", title="Overdue", dedup_key="urge:1:s11"
        )
        is None
    )  # the same key: written once


def test_membership_is_read_now(city, team, alice):
    dept, dora = team
    notice = services.notify_unit(unit=units.department_key(dept.pk), kind="assigned", title="New work order")
    grid_services.department_set_members(actor=city.actor, department=dept, members=[dora])
    assert selectors.visible(user=fresh(dora)).filter(pk=notice.pk).exists()  # joined: sees the department's notices
    assert not selectors.visible(user=fresh(alice)).filter(pk=notice.pk).exists()  # left: no longer


def test_each_member_reads_for_himself(client, team, alice, bob):
    dept, _dora = team
    key = units.department_key(dept.pk)
    first = services.notify_unit(unit=key, kind="assigned", title="one")
    services.notify_unit(unit=key, kind="assigned", title="two")
    own = services.notify(recipient=alice, kind="generic", title="mine")

    services.mark_read(user=fresh(alice), notification=first)
    assert NotificationRead.objects.filter(user=alice, notification=first).exists()
    assert selectors.unread_count(user=fresh(alice)) == 2 and selectors.unread_count(user=fresh(bob)) == 2
    page = selectors.inbox_page(user=fresh(alice))
    assert [(n.title, n.is_read) for n in page] == [("mine", False), ("two", False), ("one", True)]
    Notification.objects.filter(pk=first.pk).update(read_at=None)  # a unit notice's own column is never used
    assert selectors.unread_count(user=fresh(alice)) == 2

    client.force_login(alice)
    response = client.post(reverse("notifications:read_all"), follow=True)
    assert "2 notifications marked read." in response.content.decode()
    assert selectors.unread_count(user=fresh(alice)) == 0 and selectors.unread_count(user=fresh(bob)) == 2
    assert not NotificationRead.objects.filter(user=alice).exists()  # the mark moved; readings below it dropped
    own.refresh_from_db()
    assert own.read_at is not None
    later = services.notify_unit(unit=key, kind="assigned", title="three")
    assert [(n.pk, n.is_read) for n in selectors.inbox_page(user=fresh(alice))][0] == (later.pk, False)


def test_the_actor_is_not_shown_his_own_change(team, alice, bob):
    dept, _dora = team
    services.notify_unit(unit=units.department_key(dept.pk), kind="assigned", title="by alice", actor=alice)
    assert selectors.unread_count(user=fresh(alice)) == 0 and selectors.unread_count(user=fresh(bob)) == 1


def test_the_badge_is_one_bounded_query_on_the_unit_index(client, team, alice):
    dept, _dora = team
    key = units.department_key(dept.pk)
    alice = fresh(alice)
    units.units_of(alice)  # as a request finds them in the shared cache
    with CaptureQueriesContext(connection) as captured:
        selectors.unread_count(user=alice)
    assert len(captured) == 1 and "LIMIT 100" in captured[0]["sql"]
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(unit=key, title=f"n{i}", created_at=now + timedelta(seconds=i)) for i in range(150)
    )
    assert selectors.unread_count(user=alice) == selectors.UNREAD_CAP
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE notifications_notification")
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = selectors._unread_of_units(alice, [key]).values_list("pk", flat=True)[:100].explain()
        assert "notification_unit_idx" in plan


def test_the_inbox_pages_across_own_and_unit_notices(team, alice, django_assert_max_num_queries):
    dept, _dora = team
    key = units.department_key(dept.pk)
    start = timezone.now()
    rows = []
    for i in range(50):  # interleaved: own, unit, own, unit ...
        when = start + timedelta(minutes=i)
        rows.append(
            Notification(recipient=alice, title=f"o{i}", created_at=when)
            if i % 2
            else Notification(unit=key, title=f"u{i}", created_at=when)
        )
    Notification.objects.bulk_create(rows)
    alice = fresh(alice)
    units.units_of(alice)
    seen, cursor = [], ""
    while True:
        with django_assert_max_num_queries(3):  # one per segment, and the page's unit names
            page = selectors.inbox_page(user=alice, after=cursor, size=20)
        seen += [n.title for n in page]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [f"{'o' if i % 2 else 'u'}{i}" for i in reversed(range(50))]


def test_a_unit_notice_reads_in_each_members_language(settings, team, alice, bob):
    dept, _dora = team
    bob.language = "en"
    bob.save(update_fields=["language"])
    title = services.in_languages("Overdue, please act now: %(number)s", number="JJ-1")
    services.notify_unit(
        unit=units.department_key(dept.pk), kind="urge", title=title, body={"en": "b", "zh-hans": "乙"}
    )
    assert [(n.title, n.body) for n in selectors.inbox_page(user=fresh(bob))] == [
        ("Overdue, please act now: JJ-1", "b")
    ]
    assert [(n.title, n.body) for n in selectors.inbox_page(user=fresh(alice))] == [("已超期，请尽快办理：JJ-1", "乙")]


def test_deliveries_are_made_per_member_when_the_task_runs(
    city, team, alice, bob, django_capture_on_commit_callbacks, monkeypatch, enqueued
):
    dept, dora = team
    fanned: list = []
    monkeypatch.setattr("notifications.tasks.fan_out.apply_async", lambda args, **kw: fanned.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        notice = services.notify_unit(
            unit=units.department_key(dept.pk), kind="assigned", title="New work order", actor=bob
        )
    assert fanned == [[notice.pk]] and not Delivery.objects.exists()  # nothing per member in the change itself

    # The unit as it is when the task runs: dora joined meanwhile; bob made the change.
    grid_services.department_set_members(actor=city.actor, department=dept, members=[alice, bob, dora])
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.fan_out(fanned[0]) == 2
    made = Delivery.objects.filter(notification=notice)
    assert sorted((d.recipient.username, d.channel) for d in made) == [("alice", "email"), ("dora", "email")]
    assert sorted(enqueued) == sorted(d.pk for d in made)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.fan_out(fanned[0]) == 0  # a repeated task makes nothing twice
    assert made.count() == 2

    # Sent to the member, in his words.
    from django.core import mail

    delivery = made.get(recipient=dora)
    assert tasks.deliver(delivery.pk) == "sent"
    assert mail.outbox[-1].to == ["dora@example.org"] and "New work order" in mail.outbox[-1].subject


def test_a_lost_fan_out_is_made_by_the_periodic_retry(team, monkeypatch, django_capture_on_commit_callbacks):
    dept, _dora = team
    fanned: list = []
    monkeypatch.setattr("notifications.tasks.fan_out.apply_async", lambda args, **kw: fanned.append(args[0]))
    notice = services.notify_unit(unit=units.department_key(dept.pk), kind="assigned", title="lost")  # never sent
    with django_capture_on_commit_callbacks(execute=True):
        tasks.retry_due_deliveries()
    assert fanned == []  # too recent: its own task may still come
    Notification.objects.filter(pk=notice.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.retry_due_deliveries() == 1
    assert fanned == [[notice.pk]]


def test_without_any_channel_a_unit_notice_has_nothing_to_deliver(settings, team):
    dept, _dora = team
    settings.NOTIFY_CHANNELS = {}
    notice = services.notify_unit(unit=units.department_key(dept.pk), kind="assigned", title="inbox only")
    assert notice.fanned_out_at is not None  # never picked up by the retry, even if a channel is set up later


def test_bad_unit_notices_are_refused(alice):
    with pytest.raises(ValueError, match="unit"):
        services.notify_unit(unit="x:1", kind="generic", title="t")
    with pytest.raises(ValueError, match="unit"):
        services.notify_many([services.Notice(alice, "generic", "t", unit="d:1")])
    assert not Notification.objects.exists()
