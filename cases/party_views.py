"""Pages of a case's parties, opening a case from a visit, and the panels cases adds to the parties pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from grids import access
from parties import selectors as party_selectors
from parties.models import Visit

from . import case_parties, selectors
from .models import CaseParty, Category, PartyRole


@login_required
def party_search(request: HttpRequest, pk: int) -> HttpResponse:
    """Residents and organisations on record to name on the case (name, last four of the ID, phone, address)."""
    case = selectors.case_get(user=request.user, pk=pk)
    q = request.GET.get("q", "")
    residents = party_selectors.resident_search(user=request.user, q=q, limit=15) if q else []
    if q and not residents:
        households = party_selectors.household_search(user=request.user, q=q, limit=5)
        found = party_selectors.household_residents_for(households)
        residents = [r for h in households for r in found.get(h.pk, [])][:15]
    organisations = party_selectors.organisation_search(user=request.user, q=q, limit=5) if q else []
    return render(
        request,
        "cases/_party_search.html",
        {"case": case, "residents": residents, "organisations": organisations, "roles": PartyRole.choices, "q": q},
    )


@login_required
@require_POST
def party_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.case_get(user=request.user, pk=pk)
    resident = organisation = None
    resident_id, organisation_id = request.POST.get("resident", ""), request.POST.get("organisation", "")
    if resident_id.isdigit():
        resident = party_selectors.resident_get(user=request.user, pk=int(resident_id))
    elif organisation_id.isdigit():
        organisation = party_selectors.organisation_get(user=request.user, pk=int(organisation_id))
    try:
        case_parties.case_party_add(
            actor=request.user,
            case=case,
            role=request.POST.get("role", ""),
            resident=resident,
            organisation=organisation,
            name=request.POST.get("name", ""),
            phone=request.POST.get("phone", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The party is named on the case."))
    return redirect("case_detail", pk=case.pk)


@login_required
@require_POST
def party_remove(request: HttpRequest, pk: int) -> HttpResponse:
    party = CaseParty.objects.filter(pk=pk).first()
    if party is None:
        raise Http404
    case = selectors.case_get(user=request.user, pk=party.case_id)
    case_parties.case_party_remove(actor=request.user, party=party)
    messages.success(request, _("The party is no longer named on the case."))
    return redirect("case_detail", pk=case.pk)


@login_required
@require_POST
def case_from_visit(request: HttpRequest, pk: int) -> HttpResponse:
    """One tap on the visit's page: the case is reported with the visit's address and people filled in."""
    visit = party_selectors.visit_get(user=request.user, pk=pk)
    category = None
    if request.POST.get("category", "").isdigit():
        category = Category.objects.filter(
            pk=int(request.POST["category"]), is_active=True, parent__isnull=False
        ).first()
    try:
        case = case_parties.case_open_from_visit(actor=request.user, visit=visit, category=category)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("parties:visit", pk=visit.pk)
    messages.success(request, _("Case %(number)s reported from the visit.") % {"number": case.number})
    return redirect("case_detail", pk=case.pk)


# --- panels on the parties pages (registered in apps.CasesConfig.ready) ----------------------------------------


def visit_panel(request: HttpRequest, visit: Visit) -> str:
    user = request.user
    cases = list(selectors.case_list(user=user).filter(visit=visit))
    may_report = access.user_can(user, "cases.report_case", visit.region) and visit.region.is_active
    if not cases and not may_report:
        return ""
    context = {
        "cases": cases,
        "visit": visit,
        "may_report": may_report and not visit.cases.exists(),
        "categories": selectors.report_categories() if may_report else [],
        "suggested": case_parties.suggested_category(visit),
    }
    return render_to_string("cases/_visit_case.html", context, request=request)


def resident_panel(request: HttpRequest, resident) -> str:
    cases = list(
        selectors.case_list(user=request.user)
        .filter(party_links__resident=resident)
        .distinct()
        .order_by("-created_at")[:30]
    )
    return render_to_string("cases/_resident_cases.html", {"cases": cases}, request=request)


def reveal_party(user, pk: int, field: str) -> str:
    party = CaseParty.objects.filter(pk=pk).first()
    if party is None or field != "phone":
        raise Http404
    selectors.case_get(user=user, pk=party.case_id)  # 404 unless the viewer may see the case
    try:
        return case_parties.case_party_reveal(actor=user, party=party)
    except ValidationError as exc:
        raise Http404 from exc
    except PermissionDenied:
        raise
