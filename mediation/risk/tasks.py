"""Celery entry points of risk early warning: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(
    name="mediation.risk.tasks.warnings_nightly",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def warnings_nightly() -> int:
    """Every hour (beat): the warning rules over each completed day not run yet (yesterday, and after a downtime
    the days missed, at most 7). Each night runs once, whichever worker and however many runs."""
    return len(services.warnings_nightly())
