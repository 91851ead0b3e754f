"""Pages of the mediation ledger: parse input, call one service or selector, render. Errors: a service's
ValidationError shows on the form (400), PermissionDenied is 403, a stale dispute or an action its status does not
allow is 409 with the dispute as it is now; anything the viewer may not see is 404 (the selectors)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cases import selectors as case_selectors
from govgrid.errors import Conflict
from grids import access
from grids.codes import Level
from grids.models import Department, Region, User
from parties import selectors as party_selectors

from . import forms, selectors, services
from .models import HandoverTarget, Side
from .workflow import ACTIONS, Status


def _version(request: HttpRequest) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def _errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _run_with(request: HttpRequest, dispute, form, name: str, fn, build) -> HttpResponse:
    """Run a service for one of the dispute page's forms (``build`` turns the form into its arguments): back to
    the page, or the page again with the errors (400) or the conflict (409)."""
    if form.is_valid():
        try:
            fn(**build(form))
        except ValidationError as exc:
            _errors(form, exc)
        except Conflict as exc:
            fresh = selectors.dispute_get(user=request.user, pk=dispute.pk)
            return _page(request, fresh, status=409, conflict=str(exc))
        else:
            return redirect("mediation:dispute", pk=dispute.pk)
    return _page(request, dispute, status=400, bound={name: form})


# --- the ledger -------------------------------------------------------------------------------------------------


@login_required
def ledger(request: HttpRequest) -> HttpResponse:
    if not access.user_can_anywhere(request.user, selectors.VIEW) and not request.user.mediated_disputes.exists():
        raise Http404
    form = forms.LedgerFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v and k != "region"}
        code = form.cleaned_data.get("region")
        if code:
            region = access.scope(request.user, selectors.VIEW, Region.objects.filter(code=code)).first()
            if region is None:
                form.add_error("region", _("No such region that you may see."))
            filters["region"] = region or Region(path="~")
    page = selectors.dispute_page(
        user=request.user, filters=filters, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("before", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "may_open": access.user_can_anywhere(request.user, services.OPEN),
    }
    return render(request, "mediation/ledger.html", context)


@login_required
def dispute_new(request: HttpRequest) -> HttpResponse:
    grids = list(
        access.scope(request.user, services.OPEN, Region.objects.filter(depth=Level.GRID, is_active=True)).order_by(
            "code"
        )[:500]
    )
    if not grids:
        raise Http404
    form = forms.DisputeForm(request.POST or None, grids=grids)
    if request.method == "POST" and form.is_valid():
        region = next(g for g in grids if str(g.pk) == form.cleaned_data["region"])
        try:
            dispute = services.dispute_open(
                actor=request.user,
                region=region,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                summary=form.cleaned_data["summary"],
                place=form.cleaned_data["place"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("Dispute %(number)s opened.") % {"number": dispute.number})
            return redirect("mediation:dispute", pk=dispute.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "mediation/dispute_form.html", {"form": form}, status=status)


@login_required
@require_POST
def dispute_from_case(request: HttpRequest, pk: int) -> HttpResponse:
    case = case_selectors.case_get(user=request.user, pk=pk)
    try:
        dispute = services.dispute_open_from_case(actor=request.user, case=case)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("case_detail", pk=case.pk)
    messages.success(request, _("Dispute %(number)s opened from the case.") % {"number": dispute.number})
    return redirect("mediation:dispute", pk=dispute.pk)


@login_required
@require_POST
def dispute_from_visit(request: HttpRequest, pk: int) -> HttpResponse:
    visit = party_selectors.visit_get(user=request.user, pk=pk)
    try:
        dispute = services.dispute_open_from_visit(actor=request.user, visit=visit)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("parties:visit", pk=visit.pk)
    messages.success(request, _("Dispute %(number)s opened from the visit.") % {"number": dispute.number})
    return redirect("mediation:dispute", pk=dispute.pk)


# --- the dispute page -------------------------------------------------------------------------------------------


def _page(request: HttpRequest, dispute, *, status: int = 200, conflict: str = "", bound=None) -> HttpResponse:
    user = request.user
    bound = bound or {}
    may_mediate = services.may_mediate(user, dispute)
    departments = list(services.departments_for(dispute)) if may_mediate else []
    agreements = selectors.dispute_agreements(dispute=dispute)
    events = selectors.dispute_events(dispute=dispute)
    for e in events:
        a = ACTIONS.get(e.action)
        e.label = a.label if a else e.action
        e.from_label = Status(e.from_status).label if e.from_status in Status.values else ""
        e.to_label = Status(e.to_status).label if e.to_status in Status.values else ""
        if e.from_label == e.to_label:
            e.from_label = ""
    active = dispute.is_active
    context = {
        "dispute": dispute,
        "parties": selectors.dispute_parties(dispute=dispute),
        "mediators": selectors.dispute_mediators(dispute=dispute),
        "sessions": selectors.dispute_sessions(dispute=dispute),
        "agreements": agreements,
        "agreement": agreements[0] if agreements else None,
        "follow_ups": selectors.dispute_follow_ups(dispute=dispute),
        "handovers": selectors.dispute_handovers(dispute=dispute),
        "events": events,
        "may_mediate": may_mediate,
        "may_edit_parties": active and services.may_edit_parties(user, dispute),
        "active": active,
        "may_hand_over": may_mediate and dispute.status in ACTIONS["hand_over"].sources,
        "sides": Side.choices,
        "candidates": selectors.mediator_candidates(dispute=dispute) if may_mediate and active else [],
        "session_form": bound.get("session") or forms.SessionForm(),
        "agree_form": bound.get("agree") or forms.AgreementForm(),
        "end_form": bound.get("end") or forms.EndForm(),
        "handover_form": bound.get("hand_over")
        or forms.HandoverForm(departments=departments, street_holds=dispute.level != Level.COMMUNITY),
        "mediator_form": bound.get("mediator") or forms.MediatorForm(),
        "party_form": bound.get("party") or forms.PartyForm(),
        "scan_form": bound.get("scan") or forms.ScanForm(),
        "follow_up_form": bound.get("follow_up") or forms.FollowUpForm(),
        "bound": bound,
        "conflict": conflict,
    }
    return render(request, "mediation/dispute_detail.html", context, status=status)


@login_required
def dispute_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, selectors.dispute_get(user=request.user, pk=pk))


@login_required
def party_search(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    q = request.GET.get("q", "")
    residents = party_selectors.resident_search(user=request.user, q=q, limit=15) if q else []
    organisations = party_selectors.organisation_search(user=request.user, q=q, limit=5) if q else []
    context = {"dispute": dispute, "residents": residents, "organisations": organisations, "sides": Side.choices}
    return render(request, "mediation/_party_search.html", {**context, "q": q})


@login_required
@require_POST
def party_add(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    form = forms.PartyForm(request.POST)

    def kwargs(form):
        data = form.cleaned_data
        resident = organisation = None
        if data.get("resident"):
            resident = party_selectors.resident_get(user=request.user, pk=data["resident"])
        elif data.get("organisation"):
            organisation = party_selectors.organisation_get(user=request.user, pk=data["organisation"])
        return {
            "actor": request.user,
            "dispute": dispute,
            "side": data["side"],
            "resident": resident,
            "organisation": organisation,
            "name": data["name"],
            "phone": data["phone"],
            "claim": data["claim"],
        }

    return _run_with(request, dispute, form, "party", services.dispute_party_add, kwargs)


@login_required
@require_POST
def party_remove(request: HttpRequest, pk: int) -> HttpResponse:
    from .models import DisputeParty

    party = DisputeParty.objects.filter(pk=pk).first()
    if party is None:
        raise Http404
    dispute = selectors.dispute_get(user=request.user, pk=party.dispute_id)
    try:
        services.dispute_party_remove(actor=request.user, party=party)
    except (ValidationError, Conflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("mediation:dispute", pk=dispute.pk)


@login_required
@require_POST
def mediator_add(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    form = forms.MediatorForm(request.POST)

    def build(form):
        user = User.objects.filter(username=form.cleaned_data["username"].strip(), is_active=True).first()
        if user is None:
            raise ValidationError({"username": _("No active person with this username.")})
        return {"actor": request.user, "dispute": dispute, "user": user, "expected_version": _version(request)}

    return _run_with(request, dispute, form, "mediator", services.dispute_mediator_assign, build)


@login_required
@require_POST
def session_add(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    form = forms.SessionForm(request.POST, request.FILES)

    def build(form):
        return {
            "actor": request.user,
            "dispute": dispute,
            "expected_version": _version(request),
            **{k: form.cleaned_data[k] for k in ("held_on", "place", "attendees", "notes", "files")},
        }

    return _run_with(request, dispute, form, "session", services.dispute_session_record, build)


@login_required
@require_POST
def agree(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    form = forms.AgreementForm(request.POST)

    def build(form):
        return {
            "actor": request.user,
            "dispute": dispute,
            "terms": form.cleaned_data["terms"],
            "signed_on": form.cleaned_data["signed_on"],
            "expected_version": _version(request),
        }

    return _run_with(request, dispute, form, "agree", services.dispute_agree, build)


@login_required
@require_POST
def end(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    form = forms.EndForm(request.POST)

    def build(form):
        return {
            "actor": request.user,
            "dispute": dispute,
            "action": form.cleaned_data["action"],
            "comment": form.cleaned_data["comment"],
            "expected_version": _version(request),
        }

    return _run_with(request, dispute, form, "end", services.dispute_end, build)


@login_required
@require_POST
def hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    departments = list(services.departments_for(dispute))
    form = forms.HandoverForm(request.POST, departments=departments, street_holds=dispute.level != Level.COMMUNITY)

    def build(form):
        data = form.cleaned_data
        department = None
        if data["target"] == HandoverTarget.DEPARTMENT and data["department"]:
            department = next((d for d in departments if str(d.pk) == data["department"]), None)
        return {
            "actor": request.user,
            "dispute": dispute,
            "target": data["target"],
            "reason": data["reason"],
            "department": department if isinstance(department, Department) else None,
            "receiver": data["receiver"],
            "expected_version": _version(request),
        }

    return _run_with(request, dispute, form, "hand_over", services.dispute_hand_over, build)


@login_required
@require_POST
def follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    row = selectors.follow_up_get(user=request.user, pk=pk)
    form = forms.FollowUpForm(request.POST)

    def build(form):
        return {
            "actor": request.user,
            "follow_up": row,
            "outcome": form.cleaned_data["outcome"],
            "notes": form.cleaned_data["notes"],
            "expected_version": _version(request),
        }

    return _run_with(request, row.dispute, form, "follow_up", services.follow_up_record, build)


# --- the agreement ----------------------------------------------------------------------------------------------


@login_required
def agreement_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The 调解协议书 as a printable A4 page: parties, mediators, the dispute, the terms, places to sign."""
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    dispute = selectors.dispute_get(user=request.user, pk=agreement.dispute_id)
    community = Region.objects.filter(path=dispute.community_path).first()
    context = {
        "agreement": agreement,
        "dispute": dispute,
        "community": community,
        "parties": selectors.dispute_parties(dispute=dispute),
        "mediators": selectors.dispute_mediators(dispute=dispute),
    }
    return render(request, "mediation/agreement_print.html", context)


@login_required
@require_POST
def scan_upload(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    dispute = selectors.dispute_get(user=request.user, pk=agreement.dispute_id)
    form = forms.ScanForm(request.POST, request.FILES)

    def build(form):
        return {"actor": request.user, "agreement": agreement, "file": form.cleaned_data["file"]}

    return _run_with(request, dispute, form, "scan", services.agreement_scan_upload, build)


@login_required
def file_download(request: HttpRequest, pk: int) -> FileResponse:
    """A session photo or an agreement scan, only for people who may see the dispute."""
    row = selectors.file_get(user=request.user, pk=pk)
    try:
        handle = row.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing.") from exc
    response = FileResponse(handle, content_type=row.content_type, as_attachment=False, filename=row.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
