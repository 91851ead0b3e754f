from django.apps import AppConfig


class GovGridConfig(AppConfig):
    """The project's own wiring: deploy checks, the demo loader, shared template filters."""

    name = "govgrid"
    verbose_name = "GovGrid"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deploy checks)
