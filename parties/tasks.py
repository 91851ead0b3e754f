"""Celery entry points of the parties app: they call the services and nothing else."""

from celery import shared_task

from .importing import import_run


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_import(job_id: int) -> None:
    """Write a previewed import (one transaction: every row or none)."""
    import_run(job_id=job_id)
