from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from .taxonomy import ensure_categories

        post_migrate.connect(ensure_categories, sender=self, dispatch_uid="cases.ensure_categories")
