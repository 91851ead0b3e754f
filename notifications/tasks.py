"""Celery entry points of notifications: deliver one delivery; re-enqueue the deliveries that are due.

Tasks take ids, are idempotent, and are acknowledged only when done (``acks_late``; a worker that dies mid-task
gets its message redelivered, ``reject_on_worker_lost``). Deadlines live in the database: nothing here is
scheduled further ahead than RETRY_BACKOFF_MAX seconds.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from . import services


class DeliveryFailed(Exception):
    """The channel failed; raised only to let Celery retry the task with backoff (the failure is recorded)."""


@shared_task(
    bind=True,
    name="notifications.tasks.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DeliveryFailed, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=services.RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def deliver(self, delivery_id: int) -> str:
    """One attempt at delivery ``delivery_id`` (see services.delivery_send); returns the outcome.

    A failed attempt is written to the delivery first; in a worker it is then retried with exponential backoff.
    Called directly (tests, a shell) it returns the outcome and never raises for a channel's failure.
    """
    outcome = services.delivery_send(delivery_id=delivery_id)
    if outcome == services.Outcome.FAILED and not self.request.called_directly:
        raise DeliveryFailed(f"delivery {delivery_id} failed; retrying")
    return outcome.value


@shared_task(
    name="notifications.tasks.fan_out",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=services.RETRY_BACKOFF_MAX,
    max_retries=8,
    ignore_result=True,
)
def fan_out(notification_ids: list[int]) -> int:
    """Make the deliveries of unit notices for the members of their units now (services.deliveries_fan_out);
    returns how many. Idempotent: a repeat finds the notices done."""
    return len(services.deliveries_fan_out(notification_ids=notification_ids))


@shared_task(name="notifications.tasks.retry_due_deliveries", acks_late=True, ignore_result=True)
def retry_failed(limit: int = 500) -> int:
    """Periodic (every minute or so): enqueue deliveries that are due again, e.g. because the broker was down
    when their change committed, hand on unit notices whose deliveries were never made, and settle attempts
    interrupted mid-call; returns how many it enqueued. Safe to run twice at once."""
    from . import subscriptions

    with transaction.atomic():
        fan_outs = services.fan_outs_requeue_due(limit=limit)
    return (
        len(services.deliveries_requeue_due(limit=limit)) + len(fan_outs) + len(subscriptions.requeue_due(limit=limit))
    )


retry_due_deliveries = retry_failed


class EventDeliveryFailed(Exception):
    """The receiver failed; raised only to let Celery retry with backoff (the failure is recorded)."""


@shared_task(
    bind=True,
    name="notifications.tasks.deliver_event",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(EventDeliveryFailed, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=services.RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def deliver_event(self, delivery_id: int) -> str:
    """One attempt at a signed event delivery (notifications.subscriptions.delivery_send)."""
    from . import subscriptions

    outcome = subscriptions.delivery_send(delivery_id=delivery_id)
    if outcome == "failed" and not self.request.called_directly:
        raise EventDeliveryFailed(f"event delivery {delivery_id} failed; retrying")
    return outcome
