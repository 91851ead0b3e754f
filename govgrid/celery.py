"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from each app's tasks.py."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govgrid.settings")

app = Celery("govgrid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. Beat must run as exactly one instance (see docs/operations.md); the tasks themselves are
# idempotent and lock rows with SKIP LOCKED, so any number of workers may run them. Nothing is scheduled as a long
# ETA or countdown: deadlines live in the database and this sweep finds them.
app.conf.beat_schedule = {
    "sweep-deadlines": {"task": "cases.tasks.sweep_deadlines", "schedule": 60.0, "options": {"expires": 55}},
    # "Overdue now" for the dashboard, counted once for every region instead of on each request (cases/overdue.py).
    "count-overdue": {"task": "cases.tasks.count_overdue", "schedule": 60.0, "options": {"expires": 55}},
    "retry-due-deliveries": {
        "task": "notifications.tasks.retry_due_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Follow-ups of mediation agreements (30 and 90 days): each reminded once, whenever the sweep next runs.
    "mediation-follow-ups": {
        "task": "mediation.tasks.remind_follow_ups",
        "schedule": 600.0,
        "options": {"expires": 540},
    },
    # 月报: hourly, so the first run of the 1st writes the month just ended and a run after a downtime catches up;
    # a run with nothing to write is two small queries.
    "monthly-reports": {
        "task": "dashboard.tasks.monthly_reports",
        "schedule": crontab(minute=7),
        "options": {"expires": 3000},
    },
    # 风险预警: hourly, so the first run after midnight runs the rules over the day just ended, and a run after a
    # downtime catches up the nights missed (each night once: a unique row per date). Nothing due: one query.
    "risk-warnings": {
        "task": "mediation.risk.tasks.warnings_nightly",
        "schedule": crontab(minute=23),
        "options": {"expires": 3000},
    },
}
