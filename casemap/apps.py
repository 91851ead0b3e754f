from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasemapConfig(AppConfig):
    """民情地图: the map of cases and grids. Reads cases and grids through their selectors; nothing imports it."""

    name = "casemap"
    verbose_name = _("Case map")
