"""The map page and its data endpoint: parse the filters, call the selectors, render."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cases import selectors as case_selectors
from grids.codes import Level
from mediation.risk import selectors as risk_selectors

from . import selectors
from .forms import MapFilterForm


def _form(request: HttpRequest) -> MapFilterForm:
    return MapFilterForm(request.GET or None, categories=case_selectors.report_categories())


def _region(request: HttpRequest, form: MapFilterForm):
    pk = form.cleaned_data.get("region") if form.is_bound and form.is_valid() else None
    if pk:
        return selectors.region_get(user=request.user, pk=pk)
    return selectors.default_region(user=request.user)


@login_required
@require_GET
def map_page(request: HttpRequest) -> HttpResponse:
    """民情地图: the region's grids coloured by their cases, a heatmap and the open cases, with the filters."""
    if not selectors.may_use(request.user):
        raise PermissionDenied(_("The case map is for street dispatchers and supervisors."))
    form = _form(request)
    valid = not form.is_bound or form.is_valid()
    region = _region(request, form) if valid else selectors.default_region(user=request.user)
    query = request.GET.copy()
    query["region"] = str(region.pk)
    query.pop("zoom", None)
    context = {
        "form": form,
        "valid": valid,
        "region": region,
        "level": Level(region.depth).label,
        "trail": selectors.region_trail(user=request.user, region=region),
        "children": selectors.region_children(region=region) if region.depth < Level.GRID else [],
        "top_regions": selectors.top_regions(user=request.user),
        "data_url": f"{reverse('casemap:data')}?{query.urlencode()}",
        "tile_url": settings.GOVGRID_TILE_URL,
        "tile_attribution": settings.GOVGRID_TILE_ATTRIBUTION,
        "max_points": selectors.max_points(),
        "warnings_url": _warnings_url(request, form, region) if valid else "",
    }
    return render(request, "casemap/map.html", context, status=200 if valid else 400)


def _warnings_url(request: HttpRequest, form: MapFilterForm, region) -> str:
    """The risk warnings layer's GeoJSON (mediation/risk) for the region and the map's period (the last 28 days when
    the map has none), for those who review warnings."""
    if not risk_selectors.may_review(request.user):
        return ""
    filters = form.map_filters() if form.is_bound else None
    since, until = (filters.since, filters.until) if filters else (None, None)
    query = {"region": region.pk}
    if since:
        query["date_from"] = timezone.localtime(since).date().isoformat()
    if until:
        query["date_to"] = (timezone.localtime(until).date() - timedelta(days=1)).isoformat()
    return f"{reverse('mediation:risk:geojson')}?{urlencode(query)}"


def _error(code: str, detail: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


@require_GET
def map_data(request: HttpRequest) -> JsonResponse:
    """The map as GeoJSON (see docs/map.md): bounded in size, scoped to the viewer."""
    if not request.user.is_authenticated:
        return _error("not_authenticated", _("Sign in first."), 401)
    if not selectors.may_use(request.user):
        return _error("permission_denied", _("The case map is for street dispatchers and supervisors."), 403)
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return _error("invalid", form.error_text(), 400, fields=form.errors.get_json_data())
    try:
        region = _region(request, form)
    except Http404 as exc:
        return _error("not_found", str(exc) or _("No such region."), 404)
    data = selectors.map_data(user=request.user, region=region, zoom=form.zoom_level(), filters=form.map_filters())
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})
    response["Cache-Control"] = "private, no-store"
    return response
