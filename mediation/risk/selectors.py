"""Reads of risk early warning, always scoped to the viewer through grids.access (``mediation.review_warning``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from grids import access
from grids.models import Region

from . import rules
from .models import Warning, WarningEvent, WarningStatus
from .services import REVIEW, explanation_for

# The weekly list is read for a street, a district or the city (a grid's or community's is its street's).
LIST_DEPTHS = (1, 2, 3)
MAX_POINTS = 2000


def may_review(user: Any) -> bool:
    return access.user_can_anywhere(user, REVIEW)


def top_regions(user: Any) -> list[Region]:
    return list(access.top_regions(user, REVIEW))


def region_get(*, user: Any, pk: int) -> Region:
    """A region the viewer may review the warnings of (404 otherwise)."""
    region = access.scope(user, REVIEW, Region.objects.all()).filter(pk=pk).first()
    if region is None:
        raise Http404(_("No such region."))
    return region


def default_region(*, user: Any) -> Region:
    tops = top_regions(user)
    if not tops:
        raise Http404(_("No such region."))
    return tops[0]


def warnings_scoped(*, user: Any) -> QuerySet[Warning]:
    return access.scope(user, REVIEW, Warning.objects.all(), path_field="region__path")


def warning_get(*, user: Any, pk: int) -> Warning:
    warning = (
        warnings_scoped(user=user)
        .select_related("region", "street", "district", "case", "status_by")
        .filter(pk=pk)
        .first()
    )
    if warning is None:
        raise Http404(_("No such warning."))
    return warning


def warning_events(*, warning: Warning) -> list[WarningEvent]:
    return list(warning.events.select_related("actor").order_by("at", "id"))


@dataclass
class Row:
    warning: Warning
    rule_name: str
    explanation: str
    links: list[dict[str, str]]


def row_of(w: Warning) -> Row:
    rule = rules.RULES.get(w.rule)
    params = (w.evidence or {}).get("params") or {}
    text = explanation_for(w.rule, params) if rule and params else w.explanation
    return Row(w, str(rule.name) if rule else w.rule, text, (w.evidence or {}).get("links") or [])


def weekly_list(*, user: Any, region: Region, week: date, status: str = "") -> list[Row]:
    """The week's warnings of the region (the viewer may see it: region_get), district and street first."""
    qs = warnings_scoped(user=user).filter(week=week, region__path__startswith=region.path)
    if status:
        qs = qs.filter(status=status)
    qs = qs.select_related("region", "street", "district", "case", "status_by").order_by(
        "district__path", "street__path", "rule", "region__path", "id"
    )
    return [row_of(w) for w in qs]


def geojson(*, user: Any, region: Region, since: date, until: date) -> dict[str, Any]:
    """The warnings of the region found between two days (inclusive) that have a place, as GeoJSON points."""
    qs = (
        warnings_scoped(user=user)
        .filter(region__path__startswith=region.path, found_on__gte=since, found_on__lte=until, lat__isnull=False)
        .select_related("region")
        .order_by("-found_on", "-id")[:MAX_POINTS]
    )
    features = []
    for w in qs:
        row = row_of(w)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [w.lng, w.lat]},
                "properties": {
                    "kind": "warning",
                    "id": w.pk,
                    "rule": w.rule,
                    "rule_name": row.rule_name,
                    "subject": w.subject_label,
                    "explanation": row.explanation,
                    "status": w.status,
                    "status_label": str(WarningStatus(w.status).label),
                    "grid": w.region.name,
                    "found_on": w.found_on.isoformat(),
                    "url": reverse("mediation:risk:warning", args=[w.pk]),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "region": {"id": region.pk, "name": region.name, "code": region.code},
        "since": since.isoformat(),
        "until": until.isoformat(),
    }


def week_choices(week: date, n: int = 8) -> list[date]:
    return [week - timedelta(days=7 * i) for i in range(n)]
