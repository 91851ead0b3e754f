"""Pages of the party organisation (党建引领), party members, 包联 and the coverage of a region."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from grids.codes import Level
from grids.forms import call_service
from grids.models import Region

from . import coverage, crypto, identity, party, selectors
from .forms import PartyMemberForm, PartyOrgForm
from .models import PARTY_ORG_LEVEL, PARTY_ORG_PARENT, Household, Keeping, Organisation, PartyOrgKind, Resident
from .views import region_context

MANAGE = "parties.manage_party"


@login_required
def party_tree(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    orgs = selectors.party_orgs(user=request.user, region=region)
    context = region_context(request.user, region) | {"orgs": orgs, "tab": "party"}
    return render(request, "parties/party_tree.html", context)


def _child_kind(parent) -> str | None:
    if parent is None:
        return PartyOrgKind.STREET
    return next((k for k, p in PARTY_ORG_PARENT.items() if p == parent.kind and k != PartyOrgKind.BUILDING), None)


@login_required
def party_org_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a party organisation serving region ``pk`` (or below it), under the organisation that serves above it."""
    region = selectors.region_get(user=request.user, pk=pk, perm=MANAGE)
    parent_id = request.GET.get("parent") or request.POST.get("parent")
    parent = (
        selectors.party_org_get(user=request.user, pk=int(parent_id), perm=MANAGE)
        if parent_id and parent_id.isdigit()
        else None
    )
    if parent is None:
        kinds = [PartyOrgKind.STREET]
    elif parent.kind == PartyOrgKind.GRID:
        kinds = [PartyOrgKind.BUILDING]
    else:
        kinds = [k for k, p in PARTY_ORG_PARENT.items() if p == parent.kind]
    base = parent.region if parent else region
    levels = {PARTY_ORG_LEVEL[k] for k in kinds}
    regions = (
        Region.objects.filter(path__startswith=base.path, depth__in=levels, is_active=True)
        .defer("boundary")
        .order_by("code")
    )
    buildings = (
        selectors.buildings(region=parent.region)
        if parent and parent.kind == PartyOrgKind.GRID
        else selectors.Building.objects.none()
    )
    form = PartyOrgForm(
        request.POST or None,
        kinds=kinds,
        regions=regions,
        buildings=buildings,
        initial={"region": base.pk if base.depth in levels else None},
    )
    if request.method == "POST" and form.is_valid():
        org = call_service(form, party.party_org_save, actor=request.user, parent=parent, **form.cleaned_data)
        if org:
            messages.success(request, _("%(name)s added.") % {"name": org.name})
            return redirect("parties:party_org", pk=org.pk)
    return render(
        request,
        "parties/form.html",
        {
            "form": form,
            "title": _("New party organisation"),
            "region": region,
            "hidden": {"parent": parent.pk if parent else ""},
        },
    )


@login_required
def party_org_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = selectors.party_org_get(user=request.user, pk=pk)
    context = {
        "org": org,
        "region": org.region,
        "children": org.children.select_related("region").order_by("name"),
        "members": selectors.party_members(org=org),
        "may_manage": selectors.access.user_can(request.user, MANAGE, org),
        "child_kind": _child_kind(org) if org.kind != PartyOrgKind.GRID else PartyOrgKind.BUILDING,
    }
    return render(request, "parties/party_org_detail.html", context)


def _member_form_data(request: HttpRequest, form: PartyMemberForm) -> dict | None:
    """The service's arguments from the form: the resident found by ID number (keyed hash), the staff account."""
    data = dict(form.cleaned_data)
    resident = user = None
    number = data.pop("resident_id_number", "")
    if number:
        try:
            checked = identity.check_id_number(number)
        except ValidationError as exc:
            form.add_error("resident_id_number", exc.messages)
            return None
        resident = (
            selectors._visible(request.user, Resident.objects.all())
            .filter(id_number_hash=crypto.digest("id", checked.number))
            .first()
        )
        if resident is None:
            form.add_error("resident_id_number", _("No resident with this ID number that you may see."))
            return None
    username = data.pop("username", "")
    if username:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            form.add_error("username", _("No active staff account with this username."))
            return None
    return data | {"resident": resident, "user": user}


@login_required
def member_create(request: HttpRequest, pk: int) -> HttpResponse:
    org = selectors.party_org_get(user=request.user, pk=pk, perm=MANAGE)
    form = PartyMemberForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        data = _member_form_data(request, form)
        if data is not None:
            member = call_service(form, party.party_member_save, actor=request.user, org=org, **data)
            if member:
                messages.success(request, _("%(name)s added.") % {"name": member.name})
                return redirect("parties:party_org", pk=org.pk)
    return render(
        request,
        "parties/form.html",
        {
            "form": form,
            "title": _("New member of %(org)s") % {"org": org.name},
            "region": org.region,
            "autocomplete_off": True,
        },
    )


@login_required
def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = selectors.member_get(user=request.user, pk=pk)
    initial = {
        "name": member.name,
        "username": member.user.username if member.user_id else "",
        "joined_on": member.joined_on,
        "household_limit": member.household_limit,
        "organisation_limit": member.organisation_limit,
        "is_active": member.is_active,
    }
    may_manage = selectors.access.user_can(request.user, MANAGE, member)
    form = PartyMemberForm(request.POST or None, initial=initial) if may_manage else None
    if form is not None:
        form.fields["resident_id_number"].help_text = _("Leave empty to keep the link to the resident record.")
    if request.method == "POST" and form is not None and form.is_valid():
        data = _member_form_data(request, form)
        if data is not None:
            if data["resident"] is None:
                data["resident"] = member.resident
            if call_service(form, party.party_member_save, actor=request.user, member=member, org=member.org, **data):
                messages.success(request, _("Saved."))
                return redirect("parties:member", pk=member.pk)
    context = {
        "member": member,
        "region": member.region,
        "keepings": selectors.member_keepings(member=member),
        "form": form,
        "may_manage": may_manage,
    }
    return render(request, "parties/member_detail.html", context)


@login_required
@require_POST
def keeping_assign(request: HttpRequest) -> HttpResponse:
    """One click: a member of the grid's branch keeps in touch with a household or an organisation."""
    kind, target_id, member_id = (
        request.POST.get("kind"),
        request.POST.get("target", ""),
        request.POST.get("member", ""),
    )
    if kind not in ("household", "organisation") or not target_id.isdigit() or not member_id.isdigit():
        raise Http404
    getter = selectors.household_get if kind == "household" else selectors.organisation_get
    target = getter(user=request.user, pk=int(target_id))
    member = selectors.member_get(user=request.user, pk=int(member_id))
    error = ""
    try:
        party.keeping_assign(actor=request.user, member=member, **{kind: target})
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:
        target.refresh_from_db()
        members = selectors.branch_members(region=target.region) if error else []
        return render(
            request, "parties/_keeping_row.html", {"target": target, "kind": kind, "error": error, "members": members}
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request, _("%(member)s keeps in touch with %(what)s.") % {"member": member.name, "what": target}
        )
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("parties:household" if kind == "household" else "parties:organisation", pk=target.pk)


@login_required
@require_POST
def keeping_remove(request: HttpRequest, pk: int) -> HttpResponse:
    keeping = Keeping.objects.select_related("member").filter(pk=pk).first()
    if keeping is None:
        raise Http404
    target = keeping.household or keeping.organisation
    # 404 unless the viewer may see the household or organisation.
    (selectors.household_get if keeping.household_id else selectors.organisation_get)(user=request.user, pk=target.pk)
    try:
        party.keeping_remove(actor=request.user, keeping=keeping)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(member)s no longer keeps in touch with %(what)s.") % {"member": keeping.member.name, "what": target},
        )
    return redirect("parties:household" if keeping.household_id else "parties:organisation", pk=target.pk)


@login_required
def coverage_page(request: HttpRequest, pk: int) -> HttpResponse:
    """不漏一户、不落一企: per child region (or the grid's uncovered households and organisations with one-click
    assignment to a member of the grid's branch)."""
    region = selectors.region_get(user=request.user, pk=pk)
    context = region_context(request.user, region)
    total, rows = coverage.region_coverage(region=region, children=context["children"])
    context |= {"total": total, "rows": rows, "tab": "coverage"}
    if region.depth == Level.GRID:
        members = selectors.branch_members(region=region)
        context["members"] = members
        context["uncovered"] = list(
            Household.objects.filter(region=region, is_active=True, keeper__isnull=True)
            .select_related("building")
            .order_by("sort_key", "id")[:200]
        )
        context["uncovered_orgs"] = list(
            Organisation.objects.filter(region=region, is_active=True, keeper__isnull=True).order_by("name", "id")[:100]
        )
        # The member with most room left comes first in each row's choice (one tap assigns to them).
        context["suggested"] = max(members, key=lambda m: m.household_limit - m.household_count, default=None)
    return render(request, "parties/coverage.html", context)
