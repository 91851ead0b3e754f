"""Visits (走访): the phone-first form, a visit's page, a region's visits; and the access log page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from grids import access
from grids.forms import call_service

from . import extensions, selectors, visits
from .forms import AccessLogFilterForm, VisitForm
from .models import Resident, VisitPhoto
from .views import region_context


def _target(request: HttpRequest):
    """The household or organisation named in the query string (404 when not visible)."""
    household_id, organisation_id = request.GET.get("household", ""), request.GET.get("organisation", "")
    if household_id.isdigit():
        return selectors.household_get(user=request.user, pk=int(household_id)), None
    if organisation_id.isdigit():
        return None, selectors.organisation_get(user=request.user, pk=int(organisation_id))
    raise Http404


@login_required
def visit_create(request: HttpRequest) -> HttpResponse:
    household, organisation = _target(request)
    target = household or organisation
    if not access.user_can(request.user, "parties.record_visit", target):
        raise PermissionDenied(_("You may not record visits here."))
    people = (
        Resident.objects.filter(household=household, deceased_on__isnull=True).order_by("id")
        if household
        else Resident.objects.none()
    )
    form = VisitForm(request.POST or None, request.FILES or None, people=people)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        visit = call_service(
            form,
            visits.visit_record,
            actor=request.user,
            household=household,
            organisation=organisation,
            visited_on=data["visited_on"],
            people_met=data.get("people_met") or [],
            people_met_text=data["people_met_text"],
            notes=data["notes"],
            needs=data["needs"],
            needs_text=data["needs_text"],
            lat=data["lat"],
            lng=data["lng"],
            photos=data["photos"],
        )
        if visit:
            messages.success(request, _("The visit to %(what)s is recorded.") % {"what": target})
            return redirect("parties:visit", pk=visit.pk)
    context = {"form": form, "target": target, "household": household, "region": target.region}
    return render(request, "parties/visit_form.html", context)


@login_required
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    visit = selectors.visit_get(user=request.user, pk=pk)
    context = {
        "visit": visit,
        "region": visit.region,
        "panels": extensions.render_panels(extensions.visit_panels, request, visit),
    }
    return render(request, "parties/visit_detail.html", context)


@login_required
def visit_photo(request: HttpRequest, pk: int) -> FileResponse:
    photo = VisitPhoto.objects.filter(pk=pk).select_related("visit").first()
    if photo is None:
        raise Http404
    selectors.visit_get(user=request.user, pk=photo.visit_id)  # 404 unless the viewer may see the visit
    response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def region_visits(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    page = selectors.visit_page(user=request.user, region=region, after=request.GET.get("after", ""))
    context = region_context(request.user, region) | {
        "page": page,
        "coverage": selectors.visit_coverage(region=region),
        "tab": "visits",
    }
    return render(request, "parties/visit_list.html", context)


@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    """Who saw which whole number when (admins of the region): filtered by person, record and date."""
    if not access.user_can_anywhere(request.user, "parties.view_access_log"):
        raise Http404
    form = AccessLogFilterForm(request.GET or None)
    page = selectors.access_log(user=request.user, filters=form.filters(), after=request.GET.get("after", ""))
    return render(request, "parties/access_log.html", {"form": form, "page": page})
