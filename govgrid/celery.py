"""The Celery app: configuration comes from Django settings (CELERY_*), tasks from each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govgrid.settings")

app = Celery("govgrid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. The deadline sweep (cases.tasks) is added here by the deadline issue; beat must run as
# exactly one instance (see docs/operations.md).
app.conf.beat_schedule = {}
