"""Delivery through the task function called directly (no broker, no eager mode): e-mail into locmem, the
webhook into a local HTTP server."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from cases.services import about
from notifications import services
from notifications.models import Delivery, DeliveryState
from notifications.services import Outcome
from notifications.tasks import deliver
from tests.factories import run_in_threads

from .conftest import closed_port_url

pytestmark = pytest.mark.django_db


def _delivery(recipient, channel, **kwargs):
    n = services.notify(recipient=recipient, kind=kwargs.pop("kind", "urge"), title="Overdue: fire lane", **kwargs)
    return n.deliveries.get(channel=channel)


def test_email_lands_in_the_outbox_once(alice, case):
    d = _delivery(alice, "email", body="The work order is 2 hours late.", **about(case))
    assert deliver(d.pk) == Outcome.SENT
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert "Overdue: fire lane" in message.subject
    assert "The work order is 2 hours late." in message.body
    assert f"https://govgrid.test/cases/{case.pk}/" in message.body
    assert message.extra_headers["X-GovGrid-Delivery"] == str(d.pk)
    d.refresh_from_db()
    assert (d.state, d.attempts, d.last_error, d.next_attempt_at) == (DeliveryState.SENT, 1, "", None)
    assert d.sent_at is not None

    # A redelivered message (or a second enqueue) sends nothing more.
    assert deliver(d.pk) == Outcome.SKIPPED
    assert deliver.run(d.pk) == Outcome.SKIPPED
    assert len(mail.outbox) == 1
    d.refresh_from_db()
    assert d.attempts == 1


def test_webhook_posts_the_robot_json(alice, case, webhook):
    d = _delivery(alice, "webhook", **about(case))
    assert deliver(d.pk) == Outcome.SENT
    assert len(webhook.requests) == 1
    got = webhook.requests[0]
    assert got["path"] == "/cgi-bin/webhook/send?key=test-key"
    assert got["json"]["msgtype"] == "text"
    content = got["json"]["text"]["content"]
    assert "Overdue: fire lane" in content and "Alice" in content and f"/cases/{case.pk}/" in content
    assert got["headers"]["x-govgrid-delivery"] == str(d.pk)
    assert got["headers"]["content-type"].startswith("application/json")
    d.refresh_from_db()
    assert d.state == DeliveryState.SENT

    assert deliver(d.pk) == Outcome.SKIPPED
    assert len(webhook.requests) == 1


def test_a_failing_webhook_is_recorded_and_retried_without_raising(alice, webhook):
    d = _delivery(alice, "webhook")
    webhook.status = 500
    before = timezone.now()
    assert deliver(d.pk) == Outcome.FAILED  # returns: nothing raises into the caller
    d.refresh_from_db()
    assert (d.state, d.attempts, d.last_error) == (DeliveryState.FAILED, 1, "HTTP 500")
    assert d.next_attempt_at > before and d.sent_at is None

    webhook.status = 200
    assert deliver(d.pk) == Outcome.SENT
    d.refresh_from_db()
    assert (d.state, d.attempts, d.last_error) == (DeliveryState.SENT, 2, "")
    assert len(webhook.requests) == 2


def test_a_closed_port_is_a_transient_failure(alice, settings):
    settings.NOTIFY_WEBHOOK_URL = closed_port_url()
    d = _delivery(alice, "webhook")
    assert deliver(d.pk) == Outcome.FAILED
    d.refresh_from_db()
    assert d.state == DeliveryState.FAILED and d.attempts == 1 and d.next_attempt_at is not None
    assert "cannot reach the webhook" in d.last_error
    assert "test-key" not in d.last_error  # the robot's key is never written down


def test_a_robot_that_refuses_the_message_is_a_failure(alice, webhook):
    webhook.answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
    d = _delivery(alice, "webhook")
    assert deliver(d.pk) == Outcome.FAILED
    d.refresh_from_db()
    assert d.last_error.startswith("errcode 45009")


def test_a_client_error_is_permanent(alice, webhook):
    webhook.status = 404
    d = _delivery(alice, "webhook")
    assert deliver(d.pk) == Outcome.GAVE_UP
    d.refresh_from_db()
    assert d.state == DeliveryState.FAILED and d.next_attempt_at is None
    assert deliver(d.pk) == Outcome.SKIPPED
    assert len(webhook.requests) == 1


def test_attempts_are_capped(alice, webhook, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    webhook.status = 503
    d = _delivery(alice, "webhook")
    assert [deliver(d.pk) for _ in range(4)] == [Outcome.FAILED, Outcome.FAILED, Outcome.GAVE_UP, Outcome.SKIPPED]
    d.refresh_from_db()
    assert d.attempts == 3 and d.next_attempt_at is None
    assert len(webhook.requests) == 3


def test_backoff_grows_and_is_capped():
    assert [services.retry_countdown(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert services.retry_countdown(30) == services.RETRY_BACKOFF_MAX == 300
    assert deliver.retry_backoff is True and deliver.retry_backoff_max <= 300 and deliver.max_retries == 8
    assert deliver.acks_late is True and deliver.reject_on_worker_lost is True


def test_a_channel_switched_off_after_notify_gives_up(alice, settings, webhook):
    d = _delivery(alice, "webhook")
    settings.NOTIFY_WEBHOOK_URL = ""
    assert deliver(d.pk) == Outcome.GAVE_UP
    d.refresh_from_db()
    assert d.last_error == "channel not configured" and d.attempts == 0
    assert webhook.requests == []


def test_an_unexpected_error_in_a_channel_is_recorded(alice, monkeypatch):
    d = _delivery(alice, "email")

    def broken(self, notification, *, delivery_id):
        raise KeyError("bug")

    monkeypatch.setattr("notifications.channels.EmailChannel.send", broken)
    assert deliver(d.pk) == Outcome.FAILED
    d.refresh_from_db()
    assert d.state == DeliveryState.FAILED and "KeyError" in d.last_error


def test_missing_delivery(db):
    assert deliver(987654) == Outcome.MISSING


# --- a worker that died during the call ---------------------------------------------------------------------


def _interrupted(d, *, ago):
    Delivery.objects.filter(pk=d.pk).update(
        state=DeliveryState.SENDING, attempts=1, sending_at=timezone.now() - timedelta(seconds=ago)
    )


def test_an_attempt_in_progress_is_left_to_its_worker(alice, webhook):
    d = _delivery(alice, "webhook")
    _interrupted(d, ago=5)
    assert deliver(d.pk) == Outcome.BUSY
    assert webhook.requests == []
    d.refresh_from_db()
    assert d.state == DeliveryState.SENDING


def test_an_interrupted_attempt_is_not_repeated(alice, webhook, settings):
    d = _delivery(alice, "webhook")
    _interrupted(d, ago=settings.NOTIFY_SENDING_LEASE + 1)
    assert deliver(d.pk) == Outcome.UNCONFIRMED
    assert deliver(d.pk) == Outcome.SKIPPED
    assert webhook.requests == []
    d.refresh_from_db()
    assert d.state == DeliveryState.UNCONFIRMED and d.attempts == 1 and "interrupted" in d.last_error


def test_the_periodic_retry_settles_interrupted_attempts(alice, webhook, settings, django_capture_on_commit_callbacks):
    from notifications.tasks import retry_due_deliveries

    d = _delivery(alice, "webhook")
    _interrupted(d, ago=settings.NOTIFY_SENDING_LEASE + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert retry_due_deliveries() == 0
    assert callbacks == []
    d.refresh_from_db()
    assert d.state == DeliveryState.UNCONFIRMED


def test_interrupted_attempts_can_be_repeated_by_setting(alice, webhook, settings, enqueued):
    from notifications.tasks import retry_due_deliveries

    settings.NOTIFY_RESEND_INTERRUPTED = True
    d = _delivery(alice, "webhook")
    _interrupted(d, ago=settings.NOTIFY_SENDING_LEASE + 1)
    assert deliver(d.pk) == Outcome.SENT
    d.refresh_from_db()
    assert d.attempts == 2 and len(webhook.requests) == 1

    # Another one, found by the periodic retry: enqueued again.
    e = _delivery(alice, "email", dedup_key="second")
    _interrupted(e, ago=settings.NOTIFY_SENDING_LEASE + 1)
    assert retry_due_deliveries() == 1
    e.refresh_from_db()
    assert e.state == DeliveryState.FAILED and "repeated" in e.last_error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_at_once_send_once(alice, webhook):
    webhook.delay = 0.5  # the first sender is still in the call when the others look
    d = _delivery(alice, "webhook")
    results = run_in_threads(3, lambda i: deliver(d.pk))
    assert sorted(results) == [Outcome.BUSY, Outcome.BUSY, Outcome.SENT]
    assert len(webhook.requests) == 1
    d.refresh_from_db()
    assert d.state == DeliveryState.SENT and d.attempts == 1
