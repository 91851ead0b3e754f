"""Celery entry points of the dashboard app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(
    name="dashboard.tasks.monthly_reports",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def monthly_reports() -> int:
    """Every hour (beat): the districts' and streets' monthly reports not written yet — on the first of the month
    those of the month just ended, after a downtime the ones missed. Safe to run twice at once."""
    return len(services.monthly_reports_run())
