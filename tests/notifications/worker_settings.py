"""Settings of the Celery worker that test_worker.py starts: the project's own, with e-mail written to files
the test can read (the locmem outbox does not cross processes). Everything else comes from the environment."""

import os

from govgrid.settings import *  # noqa: F403

MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": os.environ["NOTIFY_TEST_MAIL_DIR"]},
    }
}
