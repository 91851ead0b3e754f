from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class GridsConfig(AppConfig):
    name = "grids"
    verbose_name = _("Regions and access")

    def ready(self) -> None:
        from .roles import ensure_roles

        # After every app's permissions exist (post_migrate of the last app runs after auth's).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="grids.ensure_roles")
