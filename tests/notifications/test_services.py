from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from cases.services import about
from grids.models import AuditLog
from notifications import selectors, services, tasks
from notifications.models import ChannelPreference, Delivery, DeliveryState, Kind, Notification
from tests.factories import UserFactory, run_in_threads

pytestmark = pytest.mark.django_db


def test_notify_writes_the_inbox_row_and_one_delivery_per_usable_channel(alice, case, webhook):
    n = services.notify(recipient=alice, kind=Kind.URGE, title="  Overdue:  JJ-42 ", body="Please act.", **about(case))
    assert (
        n.recipient == alice
        and n.kind == "urge"
        and n.title == "Overdue: JJ-42"
        and n.link == case.url
        and n.subject == f"{case.number} {case.title}"
    )
    assert n.read_at is None
    assert sorted(n.deliveries.values_list("channel", flat=True)) == ["email", "webhook"]
    assert set(n.deliveries.values_list("state", flat=True)) == {DeliveryState.PENDING}


def test_email_only_with_an_address_and_webhook_only_when_configured(no_mail_user, alice):
    assert list(services.notify(recipient=no_mail_user, kind="generic", title="Hi").deliveries.all()) == []
    assert list(
        services.notify(recipient=alice, kind="generic", title="Hi").deliveries.values_list("channel", flat=True)
    ) == ["email"]


def test_inactive_users_get_the_inbox_row_but_no_external_delivery(db):
    gone = UserFactory(username="gone", email="gone@example.org", is_active=False)
    n = services.notify(recipient=gone, kind="generic", title="Hi")
    assert n.pk and not n.deliveries.exists()


def test_bad_input_is_refused(alice):
    with pytest.raises(ValueError, match="kind"):
        services.notify(recipient=alice, kind="shout", title="x")
    with pytest.raises(ValueError, match="title"):
        services.notify(recipient=alice, kind="generic", title="   ")
    assert not Notification.objects.exists()


def test_dedup_key_makes_notify_idempotent(alice, case, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = services.notify(
            recipient=alice, kind="reminder", title="Due soon", **about(case), dedup_key="r:1:alice"
        )
        again = services.notify(
            recipient=alice, kind="reminder", title="Due soon", **about(case), dedup_key="r:1:alice"
        )
    assert first is not None and again is None
    assert Notification.objects.filter(dedup_key="r:1:alice").count() == 1
    assert Delivery.objects.count() == 1
    assert len(callbacks) == 1  # the repeat scheduled nothing
    # Without a key every call is a new notice.
    services.notify(recipient=alice, kind="generic", title="a")
    services.notify(recipient=alice, kind="generic", title="a")
    assert Notification.objects.filter(title="a").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_on_one_key_write_one_notice(db):
    UserFactory(username="dora", email="")  # no channel: nothing is enqueued on commit

    def sweep(i):
        from grids.models import User

        with transaction.atomic():
            return services.notify(
                recipient=User.objects.get(username="dora"), kind="urge", title="late", dedup_key="urge:step:9"
            )

    results = run_in_threads(4, sweep)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len([r for r in results if r is not None]) == 1
    assert Notification.objects.filter(dedup_key="urge:step:9").count() == 1


def test_deliveries_are_enqueued_only_on_commit(alice, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        n = services.notify(recipient=alice, kind="assigned", title="New work order")
        assert enqueued == []  # not before the commit
    delivery = n.deliveries.get()
    assert len(callbacks) == 1
    assert enqueued == [delivery.pk]


def test_a_rolled_back_change_schedules_nothing(alice, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                services.notify(recipient=alice, kind="escalated", title="Escalated")
                raise RuntimeError("the transition failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert enqueued == []
    assert not Notification.objects.exists() and not Delivery.objects.exists()


def test_a_broker_that_is_down_neither_raises_nor_loses_the_delivery(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise BrokerDown("connection refused")

    monkeypatch.setattr(tasks.deliver, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        n = services.notify(recipient=alice, kind="urge", title="Overdue")
    delivery = n.deliveries.get()
    assert delivery.state == DeliveryState.PENDING and delivery.next_attempt_at > timezone.now()
    assert services._broker_down_until > 0  # publishing pauses for a few seconds instead of retrying each one
    monkeypatch.setattr(services, "_broker_down_until", 0.0)

    # Later the periodic retry finds it due and enqueues it (on commit), once.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    calls = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: calls.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.retry_due_deliveries() == 1
    assert calls == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now()  # claimed: the next run does not enqueue it again
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.retry_due_deliveries() == 0
    assert calls == [delivery.pk]


def test_the_periodic_retry_skips_sent_and_given_up_deliveries(alice, django_capture_on_commit_callbacks):
    past = timezone.now() - timedelta(minutes=1)
    n = services.notify(recipient=alice, kind="generic", title="x")
    Delivery.objects.filter(notification=n).update(state=DeliveryState.SENT, next_attempt_at=past)
    m = services.notify(recipient=alice, kind="generic", title="y")
    Delivery.objects.filter(notification=m).update(state=DeliveryState.FAILED, next_attempt_at=None)
    with django_capture_on_commit_callbacks() as callbacks:
        assert tasks.retry_due_deliveries() == 0
    assert callbacks == []


def test_channel_preferences(alice, webhook):
    assert selectors.delivery_channels(user=alice) == ["email", "webhook"]  # the defaults
    assert services.set_channels(user=alice, channels=["webhook"]) == ["webhook"]
    assert dict(ChannelPreference.objects.filter(user=alice).values_list("channel", "enabled")) == {
        "email": False,
        "webhook": True,
    }
    n = services.notify(recipient=alice, kind="generic", title="x")
    assert list(n.deliveries.values_list("channel", flat=True)) == ["webhook"]
    assert AuditLog.objects.filter(action="notifications.channels", target_id=str(alice.pk)).exists()

    services.set_channels(user=alice, channels=[])
    assert not services.notify(recipient=alice, kind="generic", title="inbox only").deliveries.exists()
    with pytest.raises(ValidationError):
        services.set_channels(user=alice, channels=["pigeon"])


def test_defaults_come_from_settings(alice, settings, webhook):
    settings.NOTIFY_DEFAULT_CHANNELS = []
    assert selectors.delivery_channels(user=alice) == []
    services.set_channels(user=alice, channels=["email"])
    assert selectors.delivery_channels(user=alice) == ["email"]


def test_mark_read_and_mark_all_read(alice, bob):
    a1 = services.notify(recipient=alice, kind="generic", title="1")
    services.notify(recipient=alice, kind="generic", title="2")
    b1 = services.notify(recipient=bob, kind="generic", title="b")
    assert selectors.unread_count(user=alice) == 2

    services.mark_read(user=alice, notification=a1)
    a1.refresh_from_db()
    assert a1.read_at is not None and selectors.unread_count(user=alice) == 1
    with pytest.raises(PermissionDenied):
        services.mark_read(user=alice, notification=b1)

    assert services.mark_all_read(user=alice) == 1
    assert selectors.unread_count(user=alice) == 0
    assert selectors.unread_count(user=bob) == 1  # nobody else's


def test_unread_count_is_capped(alice):
    Notification.objects.bulk_create(Notification(recipient=alice, title=f"n{i}") for i in range(105))
    assert selectors.unread_count(user=alice) == selectors.UNREAD_CAP


@pytest.mark.postgres
def test_the_unread_count_uses_the_partial_index(alice):
    Notification.objects.bulk_create(Notification(recipient=alice, title=f"n{i}") for i in range(50))
    Notification.objects.bulk_create(  # read ones of someone else, so the partial index is the narrow one
        Notification(recipient=UserFactory(), title=f"r{i}", read_at=timezone.now()) for i in range(200)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_notification")
        cursor.execute("SET LOCAL enable_seqscan = off")
        # The query of selectors.unread_count.
        qs = Notification.objects.filter(recipient=alice, read_at__isnull=True).values_list("pk", flat=True)[:100]
        plan = qs.explain()
    assert "notification_unread_idx" in plan


def test_notify_many_writes_a_batch_in_a_fixed_number_of_queries(
    alice, case, django_assert_max_num_queries, django_capture_on_commit_callbacks, enqueued
):
    people = [UserFactory(email=f"p{i}@example.org") for i in range(30)]
    ChannelPreference.objects.create(user=people[0], channel="email", enabled=False)
    notices = [
        services.Notice(p, "urge", f"Overdue {i}", **about(case), dedup_key=f"urge:77:{p.pk}")
        for i, p in enumerate(people)
    ]
    # A savepoint, the notices' insert, everyone's channel choices, the deliveries' insert.
    with django_capture_on_commit_callbacks(execute=True) as callbacks, django_assert_max_num_queries(6):
        written = services.notify_many(notices)
    assert len(written) == 30 and all(n.pk for n in written)
    assert Delivery.objects.count() == 29  # people[0] turned e-mail off
    assert len(callbacks) == 1 and sorted(enqueued) == sorted(Delivery.objects.values_list("pk", flat=True))

    # The same events again, plus one new: only the new one is written and queued.
    enqueued.clear()
    again = [*notices, services.Notice(alice, "urge", "Overdue", **about(case), dedup_key=f"urge:77:{alice.pk}")]
    with django_capture_on_commit_callbacks(execute=True):
        written = services.notify_many(again)
    assert [n.recipient for n in written] == [alice]
    assert Notification.objects.count() == 31 and len(enqueued) == 1


def test_notify_many_checks_every_notice_before_writing_any(alice):
    with pytest.raises(ValueError, match="kind"):
        services.notify_many([services.Notice(alice, "urge", "fine"), services.Notice(alice, "shout", "not a kind")])
    assert not Notification.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_notify_many_racing_on_the_same_keys_writes_each_once(db):
    people = [UserFactory(username=f"racer{i}", email="") for i in range(20)]

    def sweep(i):
        with transaction.atomic():
            batch = [services.Notice(p, "urge", "late", dedup_key=f"urge:race:{p.pk}") for p in people]
            return len(services.notify_many(batch))

    results = run_in_threads(4, sweep)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 20  # each notice claimed by exactly one of the racing batches
    assert Notification.objects.count() == 20
