from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class GridsConfig(AppConfig):
    name = "grids"
    verbose_name = _("Regions and access")

    def ready(self) -> None:
        from .roles import ensure_roles

        # After each app's migrations: its permissions exist by then (auth's handler runs first).
        post_migrate.connect(ensure_roles, dispatch_uid="grids.ensure_roles")
