"""The panels mediation adds to the case and visit pages (registered in apps.MediationConfig.ready through
cases.extensions and parties.extensions), and the "show" of a typed party's phone."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.loader import render_to_string

from grids import access

from . import selectors, services
from .models import DisputeParty


def case_panel(request, case) -> str:
    """The dispute opened from the case, or (for a case of a dispute category) the button that opens one."""
    user = request.user
    disputes = selectors.disputes_of_case(user=user, case=case)
    may_open = (
        not disputes
        and case.is_open
        and services.is_dispute_case(case)
        and access.user_can(user, services.OPEN, case.region)
        and not case.disputes.exists()
    )
    if not disputes and not may_open:
        return ""
    context = {"disputes": disputes, "may_open": may_open, "case": case}
    return render_to_string("mediation/_case_panel.html", context, request=request)


def visit_panel(request, visit) -> str:
    user = request.user
    disputes = selectors.disputes_of_visit(user=user, visit=visit)
    may_open = (
        not disputes
        and "dispute" in (visit.needs or [])
        and access.user_can(user, services.OPEN, visit.region)
        and not visit.disputes.exists()
    )
    if not disputes and not may_open:
        return ""
    context = {"disputes": disputes, "may_open": may_open, "visit": visit}
    return render_to_string("mediation/_visit_panel.html", context, request=request)


def reveal_party(user, pk: int, field: str) -> str:
    party = DisputeParty.objects.filter(pk=pk).first()
    if party is None or field != "phone":
        raise Http404
    selectors.dispute_get(user=user, pk=party.dispute_id)  # 404 unless the viewer may see the dispute
    try:
        return services.dispute_party_reveal(actor=user, party=party)
    except ValidationError as exc:
        raise Http404 from exc
