"""Pages of households, residents, buildings and organisations, the "show" of a masked number and the access log.

Thin views: parse input, call one service or selector, render. Records are fetched through the scoped selectors,
so what the viewer may not see answers 404; a service's PermissionDenied renders 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from grids import access
from grids.codes import Level
from grids.forms import call_service

from . import extensions, selectors, services
from .forms import (
    BuildingForm,
    DateForm,
    HouseholdFilterForm,
    HouseholdForm,
    MoveForm,
    OrganisationForm,
    ResidentForm,
    SearchForm,
)
from .models import Household, HouseholdKind, Organisation, PersonalField, Resident

VIEW = "parties.view_household"
CHANGE = "parties.change_household"


def can(user, perm: str, obj) -> bool:
    return access.user_can(user, perm, obj)


def region_context(user, region) -> dict:
    ancestors, children = selectors.region_family(region)
    return {
        "region": region,
        "ancestors": ancestors,
        "children": children,
        "may_change": can(user, CHANGE, region),
        "may_manage": can(user, "parties.manage_party", region),
        "may_visit": can(user, "parties.record_visit", region),
        "is_grid": region.depth == Level.GRID,
    }


# --- home ------------------------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where the viewer's records begin: their grid's households when they have one grid, else the list of nodes."""
    roots = list(selectors.home_regions(user=request.user))
    if not roots and not request.user.is_superuser:
        raise Http404
    if len(roots) == 1 and "q" not in request.GET:
        return redirect("parties:households", pk=roots[0].pk)
    form = SearchForm(request.GET or None)
    results = []
    if form.is_valid() and form.cleaned_data["q"]:
        results = selectors.resident_search(user=request.user, q=form.cleaned_data["q"])
    return render(request, "parties/home.html", {"roots": roots, "form": form, "results": results})


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Residents by exact ID or mobile number (keyed hash), last four of the ID number, or name."""
    form = SearchForm(request.GET or None)
    region = None
    if request.GET.get("region"):
        try:
            region = selectors.region_get(user=request.user, pk=int(request.GET["region"]))
        except ValueError as exc:
            raise Http404 from exc
    results = []
    if form.is_valid() and form.cleaned_data["q"]:
        results = selectors.resident_search(user=request.user, q=form.cleaned_data["q"], region=region)
    template = "parties/_resident_results.html" if request.htmx else "parties/search.html"
    return render(request, template, {"form": form, "results": results, "region": region, "searched": form.is_valid()})


# --- households ------------------------------------------------------------------------------------------------


FILTERS = ("q", "building", "kind", "tag", "uncovered")


def _household_filter(request: HttpRequest, region) -> HouseholdFilterForm:
    buildings = selectors.buildings(region=region) if region.depth == Level.GRID else selectors.Building.objects.none()
    return HouseholdFilterForm(request.GET or None, buildings=buildings, tags=selectors.tags("household"))


@login_required
def households(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    # The filter's choices are read only when a filter is used or opened (household_filter): most visits of the
    # list do without them.
    filtering = any(request.GET.get(name) for name in FILTERS)
    form = _household_filter(request, region) if filtering else None
    page = selectors.household_page(
        user=request.user, region=region, filters=form.filters() if form else None, after=request.GET.get("after", "")
    )
    _describe(page, with_grid=region.depth != Level.GRID)
    context = region_context(request.user, region) | {
        "page": page,
        "filter_form": form,
        "visits": selectors.visit_coverage(region=region),
        "tab": "households",
    }
    return render(request, "parties/household_list.html", context)


def _describe(page, *, with_grid: bool) -> None:
    """Each row's link and summary line, made here in one pass: the list is the page people open most, and a
    template pays for every tag of every row."""
    prefix = reverse("parties:household", args=[0]).removesuffix("0/")
    kinds = dict(HouseholdKind.choices)
    people, head, visited, never = _("people"), _("head"), _("visited"), _("never visited")
    for h in page:
        parts = [str(kinds.get(h.kind, h.kind)), f"{h.member_count} {people}"]
        if h.head_name:
            parts.append(f"{head} {h.head_name}")
        if with_grid:
            parts.append(h.region.name)
        parts.append(f"{visited} {h.last_visited_on:%Y-%m-%d}" if h.last_visited_on else str(never))
        h.url, h.summary = f"{prefix}{h.pk}/", " · ".join(parts)


@login_required
def household_filter(request: HttpRequest, pk: int) -> HttpResponse:
    """The filter of the household list, loaded when it is opened."""
    region = selectors.region_get(user=request.user, pk=pk)
    return render(
        request, "parties/_household_filter.html", {"region": region, "filter_form": _household_filter(request, region)}
    )


@login_required
def buildings(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    if region.depth != Level.GRID:
        raise Http404
    form = BuildingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if call_service(form, services.building_save, actor=request.user, region=region, **form.cleaned_data):
            messages.success(request, _("Building %(name)s added.") % {"name": form.cleaned_data["name"]})
            return redirect("parties:buildings", pk=region.pk)
    rows = selectors.buildings(region=region)
    context = region_context(request.user, region) | {"buildings": rows, "form": form, "tab": "buildings"}
    return render(request, "parties/building_list.html", context)


@login_required
def building_edit(request: HttpRequest, pk: int) -> HttpResponse:
    building = selectors.building_get(user=request.user, pk=pk)
    form = BuildingForm(request.POST or None, initial={"name": building.name, "address": building.address})
    if request.method == "POST" and form.is_valid():
        if call_service(
            form,
            services.building_save,
            actor=request.user,
            region=building.region,
            building=building,
            **form.cleaned_data,
        ):
            messages.success(request, _("Saved."))
            return redirect("parties:buildings", pk=building.region_id)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("Edit %(name)s") % {"name": building.name}, "region": building.region},
    )


def _household_form(request: HttpRequest, region, household: Household | None = None) -> HouseholdForm:
    initial = {}
    if household is not None:
        initial = {
            "building": household.building_id,
            "unit": household.unit,
            "floor": household.floor,
            "room": household.room,
            "address": household.address,
            "kind": household.kind,
            "tags": list(household.tags.all()),
            "notes": household.notes,
        }
    return HouseholdForm(
        request.POST or None,
        initial=initial,
        buildings=selectors.buildings(region=region),
        tags=selectors.tags("household"),
    )


@login_required
def household_create(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    if region.depth != Level.GRID:
        raise Http404
    form = _household_form(request, region)
    if request.method == "POST" and form.is_valid():
        household = call_service(form, services.household_save, actor=request.user, region=region, **form.cleaned_data)
        if household:
            messages.success(request, _("Household %(label)s added.") % {"label": household.label})
            return redirect("parties:household", pk=household.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("New household in %(grid)s") % {"grid": region.name}, "region": region},
    )


@login_required
def household_edit(request: HttpRequest, pk: int) -> HttpResponse:
    household = selectors.household_get(user=request.user, pk=pk)
    form = _household_form(request, household.region, household)
    if request.method == "POST" and form.is_valid():
        if call_service(form, services.household_save, actor=request.user, household=household, **form.cleaned_data):
            messages.success(request, _("Saved."))
            return redirect("parties:household", pk=household.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("Edit %(label)s") % {"label": household.label}, "region": household.region},
    )


@login_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    household = selectors.household_get(user=request.user, pk=pk)
    context = {
        "household": household,
        "region": household.region,
        "members": selectors.household_members(household=household),
        "visits": selectors.visits_of(household=household),
        "tags": household.tags.all(),
        "may_change": can(request.user, CHANGE, household),
        "may_visit": can(request.user, "parties.record_visit", household),
        "may_manage": can(request.user, "parties.manage_party", household),
        "keeping": getattr(household, "keeping", None) if household.keeper_id else None,
        "branch": selectors.branch_members(region=household.region) if not household.keeper_id else [],
    }
    return render(request, "parties/household_detail.html", context)


# --- residents -------------------------------------------------------------------------------------------------


@login_required
def resident_create(request: HttpRequest, pk: int) -> HttpResponse:
    household = selectors.household_get(user=request.user, pk=pk)
    form = ResidentForm(request.POST or None, tags=selectors.tags("resident"))
    if request.method == "POST" and form.is_valid():
        resident = call_service(
            form, services.resident_save, actor=request.user, household=household, **form.cleaned_data
        )
        if resident:
            messages.success(
                request, _("%(name)s added to %(label)s.") % {"name": resident.name, "label": household.label}
            )
            return redirect("parties:household", pk=household.pk)
    return render(
        request,
        "parties/form.html",
        {
            "form": form,
            "title": _("New resident of %(label)s") % {"label": household.label},
            "region": household.region,
            "autocomplete_off": True,
        },
    )


@login_required
def resident_edit(request: HttpRequest, pk: int) -> HttpResponse:
    resident = selectors.resident_get(user=request.user, pk=pk)
    initial = {
        "name": resident.name,
        "gender": resident.gender,
        "birth_date": resident.birth_date,
        "relation": resident.relation,
        "tags": list(resident.tags.all()),
        "notes": resident.notes,
    }
    form = ResidentForm(request.POST or None, initial=initial, tags=selectors.tags("resident"), editing=True)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["id_number"] = data["id_number"] or None
        data["phone"] = data["phone"] or None
        if call_service(form, services.resident_save, actor=request.user, resident=resident, **data):
            messages.success(request, _("Saved."))
            return redirect("parties:resident", pk=resident.pk)
    return render(
        request,
        "parties/form.html",
        {
            "form": form,
            "title": _("Edit %(name)s") % {"name": resident.name},
            "region": resident.region,
            "masked_resident": resident,
        },
    )


@login_required
def resident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    resident = selectors.resident_get(user=request.user, pk=pk)
    context = {
        "resident": resident,
        "region": resident.region,
        "residences": selectors.resident_residences(resident=resident),
        "tags": resident.tags.all(),
        "visits": resident.visits.select_related("visitor", "household__building").order_by("-visited_on")[:20],
        "may_change": can(request.user, CHANGE, resident),
        "panels": extensions.render_panels(extensions.resident_panels, request, resident),
        "member": getattr(resident, "party_member", None) if hasattr(resident, "party_member") else None,
    }
    return render(request, "parties/resident_detail.html", context)


@login_required
def resident_move(request: HttpRequest, pk: int) -> HttpResponse:
    resident = selectors.resident_get(user=request.user, pk=pk)
    community = selectors.Region.objects.get(path=resident.region.path[: Level.COMMUNITY * 4])
    households = (
        selectors.household_list(user=request.user, region=community)
        .exclude(pk=resident.household_id or 0)
        .order_by("region__path", "sort_key")[:2000]
    )
    form = MoveForm(
        request.POST or None,
        households=selectors.Household.objects.filter(pk__in=[h.pk for h in households])
        .select_related("building", "region")
        .order_by("region__path", "sort_key"),
    )
    if request.method == "POST" and form.is_valid():
        if call_service(form, services.resident_move, actor=request.user, resident=resident, **form.cleaned_data):
            messages.success(request, _("The move of %(name)s is recorded.") % {"name": resident.name})
            return redirect("parties:resident", pk=resident.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("Move %(name)s") % {"name": resident.name}, "region": resident.region},
    )


@login_required
def resident_deceased(request: HttpRequest, pk: int) -> HttpResponse:
    resident = selectors.resident_get(user=request.user, pk=pk)
    form = DateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if call_service(
            form, services.resident_set_deceased, actor=request.user, resident=resident, on=form.cleaned_data["on"]
        ):
            messages.success(request, _("Recorded."))
            return redirect("parties:resident", pk=resident.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("%(name)s is deceased") % {"name": resident.name}, "region": resident.region},
    )


# --- organisations -------------------------------------------------------------------------------------------


@login_required
def organisations(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    form = SearchForm(request.GET or None)
    q = form.cleaned_data["q"] if form.is_valid() else ""
    page = selectors.organisation_page(user=request.user, region=region, q=q, after=request.GET.get("after", ""))
    context = region_context(request.user, region) | {"page": page, "filter_form": form, "tab": "organisations"}
    return render(request, "parties/organisation_list.html", context)


def _organisation_form(request: HttpRequest, region, organisation: Organisation | None = None) -> OrganisationForm:
    initial = {"is_active": True}
    if organisation is not None:
        initial = {
            "name": organisation.name,
            "uscc": organisation.uscc,
            "kind": organisation.kind,
            "building": organisation.building_id,
            "address": organisation.address,
            "legal_representative": organisation.legal_representative,
            "contact_name": organisation.contact_name,
            "tags": list(organisation.tags.all()),
            "notes": organisation.notes,
            "is_active": organisation.is_active,
        }
    return OrganisationForm(
        request.POST or None,
        initial=initial,
        buildings=selectors.buildings(region=region),
        tags=selectors.tags("organisation"),
        editing=organisation is not None,
    )


@login_required
def organisation_create(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    if region.depth != Level.GRID:
        raise Http404
    form = _organisation_form(request, region)
    if request.method == "POST" and form.is_valid():
        organisation = call_service(
            form, services.organisation_save, actor=request.user, region=region, **form.cleaned_data
        )
        if organisation:
            messages.success(request, _("%(name)s added.") % {"name": organisation.name})
            return redirect("parties:organisation", pk=organisation.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("New organisation in %(grid)s") % {"grid": region.name}, "region": region},
    )


@login_required
def organisation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = selectors.organisation_get(user=request.user, pk=pk)
    form = _organisation_form(request, organisation.region, organisation)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["contact_phone"] = data["contact_phone"] or None
        if call_service(form, services.organisation_save, actor=request.user, organisation=organisation, **data):
            messages.success(request, _("Saved."))
            return redirect("parties:organisation", pk=organisation.pk)
    return render(
        request,
        "parties/form.html",
        {"form": form, "title": _("Edit %(name)s") % {"name": organisation.name}, "region": organisation.region},
    )


@login_required
def organisation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = selectors.organisation_get(user=request.user, pk=pk)
    context = {
        "organisation": organisation,
        "region": organisation.region,
        "tags": organisation.tags.all(),
        "visits": selectors.visits_of(organisation=organisation),
        "may_change": can(request.user, CHANGE, organisation),
        "may_visit": can(request.user, "parties.record_visit", organisation),
        "may_manage": can(request.user, "parties.manage_party", organisation),
        "keeping": getattr(organisation, "keeping", None) if organisation.keeper_id else None,
        "branch": selectors.branch_members(region=organisation.region) if not organisation.keeper_id else [],
    }
    return render(request, "parties/organisation_detail.html", context)


# --- showing a masked number -------------------------------------------------------------------------------------

_RECORDS = {"resident": (selectors.resident_get, Resident), "organisation": (selectors.organisation_get, Organisation)}


@login_required
@require_POST
def reveal(request: HttpRequest, kind: str, pk: int, field: str) -> HttpResponse:
    """The whole number, for a holder of parties.view_personal_data (one access log row per click)."""
    if field not in PersonalField.values:
        raise Http404
    if kind in _RECORDS:
        getter, _model = _RECORDS[kind]
        record = getter(user=request.user, pk=pk)
        try:
            value = services.personal_data_reveal(actor=request.user, record=record, field=field)
        except ValidationError as exc:
            raise Http404 from exc
    elif kind in extensions.revealers:
        value = extensions.revealers[kind](request.user, pk, field)
    else:
        raise Http404
    return HttpResponse(format_html('<span class="code" data-testid="revealed-{}">{}</span>', field, value or "—"))


def forbidden_to_404(exc: PermissionDenied) -> Http404:
    return Http404(str(exc))
