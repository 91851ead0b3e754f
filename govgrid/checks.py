"""`manage.py check --deploy` checks of our own: what a city's production set-up must decide."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def mail_configured(app_configs, **kwargs):
    if getattr(settings, "GOVGRID_EMAIL_CONFIGURED", True):
        return []
    return [
        Warning(
            "No mail server is configured: the e-mail channel of notifications is off (every notice still reaches "
            "the in-app inbox).",
            hint="Set EMAIL_URL, e.g. smtp://user:password@mail.example.gov.cn:587/?tls=True (docs/operations.md).",
            id="govgrid.W001",
        )
    ]
