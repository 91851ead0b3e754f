"""The dashboard's figures of one region over a period, computed once for every reader: the dashboard page and its
XLSX (``selectors.dashboard``, after the viewer's scope is checked) and the monthly reports (``reports``), so that a
month's report and the dashboard of that month show the same numbers.

Everything comes from the daily roll-up kept by the case service (``cases.rollup``: region × day × category, per
department, live open counts): a region's figures are its own roll-up rows, its sub-regions' are theirs. "Overdue
now" comes from the counts made each minute (``cases.overdue``), or live from the open cases when those are stale.
Definitions: docs/dashboard.md (and ``DEFINITIONS`` below, shown as tooltips).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import (
    CASE_DAILY_COUNTERS,
    CLOSE_HOUR_BUCKETS,
    ROLLUP_SOURCES,
    CaseDaily,
    Category,
    DepartmentDaily,
    OpenCount,
    Source,
)
from cases.overdue import counts as overdue_now
from cases.workflow import State
from grids.models import Department, Region

OPEN_STATES = [s for s in State.values if s not in (State.CLOSED, State.CANCELLED)]

# Each indicator: code, label, definition (the tooltip; docs/dashboard.md says the same at length).
DEFINITIONS = {
    "new": (_("New cases"), _("Cases reported in the period.")),
    "open": (_("Open now"), _("Cases open now (any state but closed or cancelled), whenever reported.")),
    "overdue": (_("Overdue now"), _("Open cases whose earliest running step deadline has passed.")),
    "closed": (_("Closed"), _("Closings (结案) in the period; a case closed again after 重办 counts again.")),
    "closure_rate": (
        _("Closure rate (结案率)"),
        _("Of the cases reported in the period (cancelled ones left out), the share that is closed now."),
    ),
    "on_time_close_rate": (
        _("On-time closure rate (按期结案率)"),
        _("Of the closings in the period, the share where no step of the case had passed its deadline."),
    ),
    "dispatch_rate": (
        _("On-time dispatch rate (按时派遣率)"),
        _("Of the dispatches in the period, the share made before the dispatch step's deadline."),
    ),
    "rework_rate": (
        _("Rework rate (返工率)"),
        _("Of the verifications in the period, the share that failed and sent the work back."),
    ),
    "rehandle_rate": (
        _("Re-handling rate (重办率)"),
        _("Re-handlings after an unsatisfied call-back, per call-back evaluation in the period."),
    ),
    "satisfaction_rate": (
        _("Satisfaction rate (满意率)"),
        _("Of the call-back evaluations in the period, the share satisfied or basically satisfied."),
    ),
    "avg_hours": (
        _("Average working hours to close"),
        _("Working hours (business calendar) from report to close, averaged over the closings in the period."),
    ),
    "p90_hours": (
        _("90th percentile working hours"),
        _("Nine closings in ten of the period took at most this many working hours (read from hour buckets)."),
    ),
    "local_rate": (
        _("Settled locally (就地解决率)"),
        _("Of the cases the communities triaged in the period, the share they settled without calling the street."),
    ),
}


@dataclass
class Period:
    code: str
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def _rate(numerator: float, denominator: float) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


def p90_hours(buckets: list[int]) -> float | None:
    """The 90th percentile of report → close hours, interpolated inside the hour bucket where it falls."""
    total = sum(buckets)
    if not total:
        return None
    target, seen, lower = 0.9 * total, 0, 0.0
    for i, n in enumerate(buckets):
        upper = CLOSE_HOUR_BUCKETS[i] if i < len(CLOSE_HOUR_BUCKETS) else None
        if n and seen + n >= target:
            if upper is None:
                return float(lower)  # beyond the last bound: at least that
            return round(lower + (upper - lower) * (target - seen) / n, 1)
        seen += n
        lower = float(upper or lower)
    return float(lower)


def rates(t: dict[str, float]) -> dict[str, float | None]:
    """The rates from summed roll-up counters (the arithmetic, in one place)."""
    buckets = [int(t.get(f"b{i}", 0)) for i in range(len(CLOSE_HOUR_BUCKETS) + 1)]
    return {
        "closure_rate": _rate(t.get("cohort_closed", 0), t.get("new", 0) - t.get("cohort_cancelled", 0)),
        "on_time_close_rate": _rate(t.get("closed_on_time", 0), t.get("closed", 0)),
        "dispatch_rate": _rate(t.get("dispatched_on_time", 0), t.get("dispatched", 0)),
        "rework_rate": _rate(t.get("verify_failed", 0), t.get("verified", 0) + t.get("verify_failed", 0)),
        "rehandle_rate": _rate(t.get("rehandled", 0), t.get("evaluated", 0)),
        "satisfaction_rate": _rate(t.get("satisfied", 0) + t.get("basically", 0), t.get("evaluated", 0)),
        "avg_hours": round(t.get("close_hours", 0) / t["closed"], 1) if t.get("closed") else None,
        "p90_hours": p90_hours(buckets),
        "local_rate": _rate(t.get("settled", 0), t.get("settled", 0) + t.get("called", 0)),
    }


SUMMED = ("close_hours", *CASE_DAILY_COUNTERS)
ROW_FIGURES = (
    "new",
    "closed",
    "cohort_closed",
    "cohort_cancelled",
    "closed_on_time",
    "dispatched",
    "dispatched_on_time",
    "evaluated",
    "satisfied",
    "basically",
)


def _sums(names) -> dict[str, Sum]:
    return {n: Sum(n) for n in names}


@dataclass
class Dashboard:
    region: Region
    period: Period
    totals: dict[str, Any] = field(default_factory=dict)
    rates: dict[str, Any] = field(default_factory=dict)
    open_by_state: list[tuple[str, str, int]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    departments: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    hours: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    overdue_counted_at: datetime | None = None  # when "overdue now" was counted; None: live, just now


def compute(*, region: Region, period: Period, now: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard of ``region`` over ``period``, unscoped: the caller checked who may see it.
    ``now`` is the moment of the live figures (open and overdue now)."""
    now = now or timezone.now()
    d = Dashboard(region=region, period=period)
    mine = CaseDaily.objects.filter(region=region, day__gte=period.start, day__lte=period.end)

    # by category (and so the totals): at most (categories) rows
    names = dict(Category.objects.values_list("pk", "name"))
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    totals = dict.fromkeys(SUMMED, 0)
    groups: dict[int, dict[str, Any]] = {}
    for row in mine.values("category_id").annotate(**_sums(SUMMED)):
        for n in SUMMED:
            totals[n] += row[n] or 0
        figures = {n: row[n] or 0 for n in SUMMED}
        item = {"id": row["category_id"], "name": names.get(row["category_id"], "?"), **figures}
        item.update(rates(figures))
        d.categories.append(item)
        gid = parents.get(row["category_id"]) or row["category_id"]
        g = groups.setdefault(gid, {"id": gid, "name": names.get(gid, "?"), **dict.fromkeys(SUMMED, 0)})
        for n in SUMMED:
            g[n] += figures[n]
    d.categories.sort(key=lambda r: (-r["new"], r["name"]))
    for g in groups.values():
        g.update(rates(g))
    d.groups = sorted(groups.values(), key=lambda r: (-r["new"], r["name"]))
    d.totals = totals
    d.rates = rates(totals)

    # live: open by state (the counters), overdue now (the open-case index)
    opened = dict(OpenCount.objects.filter(region=region, state__in=OPEN_STATES).values_list("state", "n"))
    d.open_by_state = [(s, str(State(s).label), opened.get(s, 0)) for s in OPEN_STATES]
    overdue = overdue_now(region, now)
    d.overdue_counted_at = overdue.counted_at
    d.totals["open"] = sum(opened.values())
    d.totals["overdue"] = overdue.total

    # sub-regions: their own rows
    children = list(Region.objects.filter(path__startswith=region.path, depth=region.depth + 1).order_by("path"))
    if children:
        ids = [c.pk for c in children]
        figures = {
            r["region_id"]: r
            for r in CaseDaily.objects.filter(region_id__in=ids, day__gte=period.start, day__lte=period.end)
            .values("region_id")
            .annotate(**_sums(ROW_FIGURES))
        }
        open_now: dict[int, int] = {}
        for rid, n in OpenCount.objects.filter(region_id__in=ids, state__in=OPEN_STATES).values_list("region_id", "n"):
            open_now[rid] = open_now.get(rid, 0) + n
        for c in children:
            f = {n: (figures.get(c.pk, {}).get(n) or 0) for n in ROW_FIGURES}
            row = {"id": c.pk, "name": c.name, "code": c.code, "open": open_now.get(c.pk, 0)}
            row["overdue"] = overdue.children.get(c.path, 0)
            row.update(f)
            row.update(rates(f))
            d.children.append(row)

    # departments: their rows on this region's cases, and their overdue work now
    dept_rows = list(
        DepartmentDaily.objects.filter(region=region, day__gte=period.start, day__lte=period.end)
        .values("department_id")
        .annotate(**_sums(("signed", "signed_on_time", "done", "done_on_time", "refused")))
    )
    late = overdue.departments
    dept_ids = {r["department_id"] for r in dept_rows} | set(late)
    dept_names = dict(Department.objects.filter(pk__in=dept_ids).values_list("pk", "name"))
    by_dept = {r["department_id"]: r for r in dept_rows}
    for pk in dept_ids:
        r = by_dept.get(pk, {})
        signed, done = r.get("signed") or 0, r.get("done") or 0
        d.departments.append(
            {
                "id": pk,
                "name": dept_names.get(pk, "?"),
                "signed": signed,
                "signed_rate": _rate(r.get("signed_on_time") or 0, signed),
                "done": done,
                "done_rate": _rate(r.get("done_on_time") or 0, done),
                "refused": r.get("refused") or 0,
                "overdue": late.get(pk, 0),
            }
        )
    d.departments.sort(key=lambda r: (-r["done"] - r["signed"], r["name"]))

    # sources and hours of the day (of the new cases), trend per day
    labels = dict(Source.choices)
    d.sources = [{"code": s, "name": str(labels.get(s, s)), "new": totals[f"new_{s}"]} for s in ROLLUP_SOURCES]
    d.hours = [{"hour": h, "new": totals[f"h{h:02d}"]} for h in range(24)]
    per_day = {r["day"]: r for r in mine.values("day").annotate(new=Sum("new"), closed=Sum("closed"))}
    d.trend = [
        {"day": day, "new": per_day.get(day, {}).get("new") or 0, "closed": per_day.get(day, {}).get("closed") or 0}
        for day in period.days
    ]
    return d


def cards(d: Dashboard) -> list[dict[str, Any]]:
    """The headline figures in the page's order, each with its label and definition."""
    values = {**{k: d.totals.get(k) for k in ("new", "open", "overdue", "closed")}, **d.rates}
    unit = {"avg_hours": "h", "p90_hours": "h"}
    out = []
    for code, (label, definition) in DEFINITIONS.items():
        value = values.get(code)
        suffix = unit.get(code, "%" if code.endswith("_rate") else "")
        out.append({"code": code, "label": label, "definition": definition, "value": value, "unit": suffix})
    return out
