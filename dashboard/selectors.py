"""The dashboard's reads, scoped to the viewer: which regions he may see, the period asked for, and the figures
of a region (computed in ``indicators``, which the monthly reports share)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids import access
from grids.models import Region

from . import indicators
from .indicators import DEFINITIONS, OPEN_STATES, Dashboard, Period, cards, p90_hours, rates  # noqa: F401 - the page's names
from .models import MonthlyReport

# Who sees the dashboard of a region: its dispatchers (street) and supervisors (district, city).
PERMS = ("cases.supervise_case", "cases.dispatch_case")
PERIODS = {"today": _("Today"), "7": _("Last 7 days"), "30": _("Last 30 days"), "month": _("This month")}
MAX_DAYS = 366


def parse_period(code: str | None, start: str | None = None, end: str | None = None) -> Period:
    today = timezone.localdate()
    code = code or "30"
    if code == "custom":
        try:
            a, b = date.fromisoformat(start or ""), date.fromisoformat(end or "")
        except ValueError:
            code = "30"
        else:
            a, b = min(a, b), max(a, b)
            a = max(a, b - timedelta(days=MAX_DAYS - 1))
            return Period("custom", a, b)
    if code == "today":
        return Period(code, today, today)
    if code == "7":
        return Period(code, today - timedelta(days=6), today)
    if code == "month":
        return Period(code, today.replace(day=1), today)
    return Period("30", today - timedelta(days=29), today)


def may_view(user: Any, region: Region) -> bool:
    return any(access.user_can(user, perm, region) for perm in PERMS)


def may_use(user: Any) -> bool:
    return any(access.user_can_anywhere(user, perm) for perm in PERMS)


def default_region(user: Any) -> Region | None:
    """The viewer's top region (the highest node where he may see the dashboard)."""
    tops = [r for perm in PERMS for r in access.top_regions(user, perm)]
    return min(tops, key=lambda r: (r.depth, r.path)) if tops else None


def region_for(user: Any, region_id: Any) -> Region:
    """The region asked for, or the viewer's top one; 404 when he may not see its dashboard."""
    if region_id in (None, ""):
        region = default_region(user)
    else:
        try:
            region = Region.objects.get(pk=int(region_id))
        except (ValueError, TypeError, Region.DoesNotExist):
            region = None
    if region is None or not may_view(user, region):
        raise Http404
    return region


def breadcrumb(user: Any, region: Region) -> list[Region]:
    """The region's ancestors the viewer may see, top first, then the region."""
    step = Region.steplen
    paths = [region.path[:i] for i in range(step, len(region.path), step)]
    above = [r for r in Region.objects.filter(path__in=paths).order_by("depth") if may_view(user, r)]
    return [*above, region]


def dashboard(*, user: Any, region: Region, period: Period) -> Dashboard:
    """Every figure of the dashboard of ``region`` over ``period`` (the caller checked ``may_view``)."""
    return indicators.compute(region=region, period=period)


# --- monthly reports ---------------------------------------------------------------------------------------------


def monthly_reports(*, user: Any, region: Region | None = None) -> QuerySet[MonthlyReport]:
    """The written reports of the regions where the viewer may see the dashboard (under ``region`` if given)."""
    qs = MonthlyReport.objects.filter(generated_at__isnull=False)
    scoped = [access.scope(user, perm, qs, "region__path") for perm in PERMS]
    qs = scoped[0] | scoped[1]
    if region is not None:
        qs = qs.filter(region__path__startswith=region.path)
    return qs


def monthly_report(*, user: Any, pk: Any) -> MonthlyReport:
    """One written report the viewer may see; 404 otherwise (another street's, not written yet, unknown)."""
    try:
        report = MonthlyReport.objects.select_related("region").get(pk=int(pk), generated_at__isnull=False)
    except (ValueError, TypeError, MonthlyReport.DoesNotExist):
        raise Http404 from None
    if not may_view(user, report.region):
        raise Http404
    return report
