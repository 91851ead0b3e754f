"""The mail backend of a production set-up without a mail server: mail is off, on purpose and visibly.

Django's `check --deploy` rightly refuses its development backends (console, dummy) in production; this one
says what is meant instead: nothing is sent, a warning is logged once per batch, and `check --deploy` names it
(govgrid.W001). Notifications' e-mail channel is off in that case, so nothing is queued for it either.
"""

import logging

from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger("govgrid.mail")


class MailOffBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        messages = list(email_messages or [])
        if messages:
            log.warning("Mail is off (no EMAIL_URL): %d message(s) not sent.", len(messages))
        return 0
