"""The follow-up reminders: exactly once per follow-up and mediator, catching up after downtime."""

import datetime as dt

import pytest
from django.utils import timezone

from mediation import services, tasks
from mediation.models import FollowUp
from notifications.models import Notification

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_reminded_once_when_due_and_caught_up(med):
    dispute = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.community)
    agreement = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="条款")
    now = timezone.now()
    assert services.follow_ups_sweep(now=now + dt.timedelta(days=29)) == {"reminded": 0, "notices": 0}
    first = services.follow_ups_sweep(now=now + dt.timedelta(days=30, minutes=1))
    assert first == {"reminded": 1, "notices": 2}
    again = services.follow_ups_sweep(now=now + dt.timedelta(days=30, minutes=2))
    assert again == {"reminded": 0, "notices": 0}
    notices = Notification.objects.filter(recipient=med.mediator, kind="reminder", link=dispute.get_absolute_url())
    assert notices.count() == 1 and "30" in notices.get().title
    # Down for months: the 90-day one is sent at the next run, once.
    assert services.follow_ups_sweep(now=now + dt.timedelta(days=200))["reminded"] == 1
    assert services.follow_ups_sweep(now=now + dt.timedelta(days=201))["reminded"] == 0
    assert notices.count() == 2
    assert not FollowUp.objects.filter(agreement=agreement, reminded_at__isnull=True).exists()


def test_the_same_row_twice_is_one_notice(med):
    """Even if the marks were lost (a crash after the notices), the notices' unique keys keep it to one."""
    dispute = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    services.dispute_agree(actor=med.mediator, dispute=dispute, terms="条款")
    later = timezone.now() + dt.timedelta(days=31)
    services.follow_ups_sweep(now=later)
    FollowUp.objects.update(reminded_at=None)
    assert services.follow_ups_sweep(now=later)["notices"] == 0
    assert Notification.objects.filter(recipient=med.mediator, kind="reminder").count() == 1


def test_the_task_runs_the_sweep(med):
    assert tasks.remind_follow_ups.apply().get() == {"reminded": 0, "notices": 0}


def test_fell_apart_cancels_the_reminder(med):
    dispute = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    agreement = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="条款")
    f30 = FollowUp.objects.get(agreement=agreement, days=30)
    services.follow_up_record(actor=med.mediator, follow_up=f30, outcome="fell_apart", notes="反悔")
    assert services.follow_ups_sweep(now=timezone.now() + dt.timedelta(days=100))["reminded"] == 0
