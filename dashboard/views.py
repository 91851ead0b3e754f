"""The dashboard's pages: parse the region and period, call the selector, render (or export)."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import disputes, export, reports, selectors


def _load(request: HttpRequest) -> selectors.Dashboard:
    if not selectors.may_use(request.user):
        raise Http404
    region = selectors.region_for(request.user, request.GET.get("region"))
    period = selectors.parse_period(request.GET.get("period"), request.GET.get("start"), request.GET.get("end"))
    return selectors.dashboard(user=request.user, region=region, period=period)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """指挥中心: the indicators of a region over a period, its breakdowns and charts."""
    d = _load(request)
    charts = {
        "trend": {
            "days": [f"{r['day']:%m-%d}" for r in d.trend],
            "new": [r["new"] for r in d.trend],
            "closed": [r["closed"] for r in d.trend],
            "labels": [_("New"), _("Closed")],
        },
        "children": {"names": [r["name"] for r in d.children], "new": [r["new"] for r in d.children]},
        "groups": [{"name": r["name"], "value": r["new"]} for r in d.groups if r["new"]],
        "sources": [{"name": r["name"], "value": r["new"]} for r in d.sources if r["new"]],
        "hours": {"hours": [f"{r['hour']:02d}" for r in d.hours], "new": [r["new"] for r in d.hours]},
        "states": {"names": [label for _s, label, _n in d.open_by_state], "n": [n for _s, _l, n in d.open_by_state]},
        "save": _("Save as image"),
    }
    query = request.GET.copy()
    query.pop("region", None)
    return render(
        request,
        "dashboard/index.html",
        {
            "d": d,
            "cards": selectors.cards(d),
            "crumbs": selectors.breadcrumb(request.user, d.region),
            "periods": selectors.PERIODS,
            "charts": charts,
            "query": query.urlencode(),
            "definitions": selectors.DEFINITIONS,
            "dispute_cards": disputes.cards(
                disputes.figures(user=request.user, region=d.region, start=d.period.start, end=d.period.end)
            ),
        },
    )


@login_required
def export_xlsx(request: HttpRequest) -> HttpResponse:
    d = _load(request)
    figures = disputes.figures(user=request.user, region=d.region, start=d.period.start, end=d.period.end)
    response = HttpResponse(
        export.workbook(d, disputes=figures),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"dashboard-{d.region.code}-{d.period.start:%Y%m%d}-{d.period.end:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- monthly reports ---------------------------------------------------------------------------------------------


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    """月报: the written reports of one month for the regions the viewer may see (under ``?region=`` if given)."""
    if not selectors.may_use(request.user):
        raise Http404
    region = selectors.region_for(request.user, request.GET["region"]) if request.GET.get("region") else None
    reports = selectors.monthly_reports(user=request.user, region=region)
    months = list(reports.dates("month", "month", order="DESC")[:36])
    month = None
    if request.GET.get("month"):
        try:
            month = date.fromisoformat(f"{request.GET['month']}-01")
        except ValueError:
            month = None
    if month is None and months:
        month = months[0]
    rows = list(reports.filter(month=month).select_related("region").order_by("region__path")) if month else []
    return render(
        request,
        "dashboard/reports.html",
        {"reports": rows, "months": months, "month": month, "region": region},
    )


@login_required
def report_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One monthly report, printable (A4)."""
    report = selectors.monthly_report(user=request.user, pk=pk)
    return render(request, "dashboard/report.html", reports.page_context(report))


@login_required
def report_xlsx(request: HttpRequest, pk: int) -> FileResponse:
    report = selectors.monthly_report(user=request.user, pk=pk)
    if not report.file:
        raise Http404
    try:
        handle = report.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    name = f"月报-{report.region.code}-{report.month:%Y%m}.xlsx"
    return FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
