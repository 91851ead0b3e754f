from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from .taxonomy import ensure_categories

        post_migrate.connect(ensure_categories, sender=self, dispatch_uid="cases.ensure_categories")

        # A case names people and may be opened from a visit: cases adds to the parties pages through the
        # places parties offers, so that parties imports nothing of cases.
        from parties import extensions

        from . import party_views

        if party_views.visit_panel not in extensions.visit_panels:
            extensions.visit_panels.append(party_views.visit_panel)
        if party_views.resident_panel not in extensions.resident_panels:
            extensions.resident_panels.append(party_views.resident_panel)
        extensions.revealers["case_party"] = party_views.reveal_party
        from .models import CaseParty

        if not any(model is CaseParty for model, _ in extensions.encrypted_fields):
            extensions.encrypted_fields.append((CaseParty, [("phone_enc", "phone_hash", "phone")]))

        # The events integrations may subscribe to (notifications.subscriptions knows no case code).
        from notifications.subscriptions import register_event

        from .events import EVENTS

        for code, label in EVENTS.items():
            register_event(code, label)
