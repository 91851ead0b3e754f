from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediationConfig(AppConfig):
    name = "mediation"
    verbose_name = _("Mediation")

    def ready(self) -> None:
        # The case and visit pages show the disputes opened from them through the panels cases and parties offer,
        # so that neither imports anything of mediation.
        from cases import extensions as case_extensions
        from parties import extensions as party_extensions

        from . import panels

        if panels.case_panel not in case_extensions.case_panels:
            case_extensions.case_panels.append(panels.case_panel)
        if panels.visit_panel not in party_extensions.visit_panels:
            party_extensions.visit_panels.append(panels.visit_panel)
        party_extensions.revealers["dispute_party"] = panels.reveal_party
        from .models import DisputeParty

        if not any(model is DisputeParty for model, _ in party_extensions.encrypted_fields):
            party_extensions.encrypted_fields.append((DisputeParty, [("phone_enc", "phone_hash", "phone")]))
