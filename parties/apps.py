from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PartiesConfig(AppConfig):
    name = "parties"
    verbose_name = _("Households, residents and party building")

    def ready(self) -> None:
        from .tags import ensure_tags

        post_migrate.connect(ensure_tags, sender=self, dispatch_uid="parties.ensure_tags")
