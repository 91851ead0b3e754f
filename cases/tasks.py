"""Celery entry points of the cases app: thin wrappers around services."""

from celery import shared_task

from . import deadlines, overdue


@shared_task(
    name="cases.tasks.sweep_deadlines",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def sweep_deadlines() -> dict[str, int]:
    """Every minute (beat): reminders, 催办, 督办 and escalations that fell due. Safe to run twice at once."""
    return deadlines.sweep()


@shared_task(name="cases.tasks.count_overdue", acks_late=True, reject_on_worker_lost=True)
def count_overdue() -> dict[str, float] | None:
    """Every minute (beat): recount "overdue now" for every region and department (``cases.overdue``)."""
    return overdue.count_overdue()
