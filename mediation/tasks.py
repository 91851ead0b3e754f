"""Celery entry points of the mediation ledger: thin wrappers around services."""

from celery import shared_task

from . import services
from .risk import tasks as risk_tasks  # noqa: F401 - the worker finds app.tasks modules only: this registers risk's


@shared_task(
    name="mediation.tasks.remind_follow_ups",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def remind_follow_ups() -> dict[str, int]:
    """Every ten minutes (beat): remind the mediators of follow-ups that fell due, once each, catching up."""
    return services.follow_ups_sweep()
