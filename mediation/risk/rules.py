"""The warning rules (预警规则): each a small function of the night's date and its parameters, returning findings.

A rule reads the daily roll-up (cases.rollup's CaseDaily) and the records (case parties, disputes, visits, tags) as
they stood at the end of ``day``, and returns ``Finding``s; ``services.warnings_run`` turns them into Warning rows.
Each rule has a plain explanation (a translatable template filled with the evidence numbers) and parameters that
admins tune on the rules page (``RiskRule.params`` over the defaults below).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseDaily, CaseParty, Category
from grids.models import Region
from mediation.workflow import ACTIVE, Status
from parties.models import Household, Organisation, Resident, Visit

EARTH_M_PER_DEG = 111_320.0
# Disputes still in the community's hands: being mediated, or agreed with the follow-ups still running. Held, no
# agreement, withdrawn and handed over are done here (mediation/workflow.py).
LIVE_DISPUTE_STATUSES = (*sorted(ACTIVE), Status.AGREED)


@dataclass
class Finding:
    rule: str
    dedupe_key: str
    region_id: int
    subject_kind: str
    subject_id: int | None
    subject_label: str
    params: dict[str, Any]  # the numbers of the explanation
    links: list[dict[str, str]] = field(default_factory=list)
    lat: float | None = None
    lng: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    code: str
    name: Any
    template: Any  # the explanation: a translatable text with %(name)s placeholders filled from the evidence
    defaults: dict[str, Any]
    labels: dict[str, Any]
    run: Callable[[date, dict[str, Any]], list[Finding]]
    default_category: str  # the case category a warning of this rule suggests when turned into a case


def day_end(day: date) -> datetime:
    """The first moment after ``day`` in the city's time zone."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone())


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _link(label: str, url: str) -> dict[str, str]:
    return {"label": label, "url": url}


def _centre(region: Region) -> tuple[float | None, float | None]:
    return region.centre_lat, region.centre_lng


# --- a. rising grid --------------------------------------------------------------------------------------------


def rising_grid(day: date, p: dict[str, Any]) -> list[Finding]:
    """A grid whose cases of a category (or of a category group) in the 7 days up to ``day`` are more than
    ``sigmas`` standard deviations above the average of its own previous ``baseline_weeks`` weeks, and at least
    ``min_count``. The standard deviation is taken as at least the square root of the average (the spread of
    counts that come by chance) and at least 1, so a grid that is usually steady is not flagged for one case more."""
    weeks = int(p["baseline_weeks"])
    start = day - timedelta(days=7 * (weeks + 1) - 1)
    rows = CaseDaily.objects.filter(region__depth=5, day__gte=start, day__lte=day, new__gt=0).values_list(
        "region_id", "category_id", "day", "new"
    )
    parents = dict(Category.objects.values_list("id", "parent_id"))
    counts: dict[tuple[int, str, int], list[int]] = {}
    for region_id, category_id, d, n in rows.iterator(chunk_size=5000):
        bucket = (day - d).days // 7  # 0: this week, 1..weeks: the baseline
        for key in ((region_id, "c", category_id), (region_id, "g", parents.get(category_id) or category_id)):
            counts.setdefault(key, [0] * (weeks + 1))[bucket] += n
    flagged: dict[tuple[int, str, int], tuple[int, float, float, float]] = {}
    for key, series in counts.items():
        now, base = series[0], series[1:]
        if now < p["min_count"]:
            continue
        mean = statistics.fmean(base)
        spread = max(statistics.pstdev(base), math.sqrt(mean), 1.0)
        limit = mean + p["sigmas"] * spread
        if now > limit:
            flagged[key] = (now, mean, spread, limit)
    # A group flagged only because one of its categories is: say it once, for the category.
    leaf_groups = {(r, parents.get(c) or c) for (r, kind, c) in flagged if kind == "c"}
    regions = Region.objects.in_bulk({k[0] for k in flagged})
    names = dict(Category.objects.filter(id__in={k[2] for k in flagged}).values_list("id", "name"))
    out = []
    for (region_id, kind, category_id), (now, mean, spread, limit) in sorted(flagged.items()):
        if kind == "g" and (region_id, category_id) in leaf_groups:
            continue
        grid = regions[region_id]
        lat, lng = _centre(grid)
        cat_filter = f"&category={category_id}" if kind == "c" else ""
        out.append(
            Finding(
                rule="rising_grid",
                dedupe_key=f"grid:{region_id}:{kind}:{category_id}",
                region_id=region_id,
                subject_kind="grid",
                subject_id=region_id,
                subject_label=f"{grid.name} · {names.get(category_id, '')}",
                params={
                    "grid": grid.name,
                    "category": names.get(category_id, ""),
                    "count": now,
                    "weeks": weeks,
                    "mean": round(mean, 1),
                    "sd": round(spread, 1),
                    "sigmas": p["sigmas"],
                    "limit": round(limit, 1),
                },
                links=[_link(str(_("Its cases")), f"{reverse('case_list')}?grid={grid.code}{cat_filter}")],
                lat=lat,
                lng=lng,
                extra={"category_id": category_id, "by": kind},
            )
        )
    return out


# --- b. repeat party ---------------------------------------------------------------------------------------------

_REPEAT_SQL = """
SELECT kind, subject_id, COUNT(DISTINCT ref) AS n FROM (
    SELECT 'household' AS kind, r.household_id AS subject_id, 'case:' || c.id AS ref
      FROM cases_caseparty cp JOIN cases_case c ON c.id = cp.case_id JOIN parties_resident r ON r.id = cp.resident_id
     WHERE c.created_at >= %(since)s AND c.created_at < %(until)s AND r.household_id IS NOT NULL
    UNION ALL
    SELECT 'organisation', cp.organisation_id, 'case:' || c.id
      FROM cases_caseparty cp JOIN cases_case c ON c.id = cp.case_id
     WHERE c.created_at >= %(since)s AND c.created_at < %(until)s AND cp.organisation_id IS NOT NULL
    UNION ALL
    SELECT 'household', r.household_id, 'dispute:' || d.id
      FROM mediation_disputeparty dp JOIN mediation_dispute d ON d.id = dp.dispute_id
      JOIN parties_resident r ON r.id = dp.resident_id
     WHERE d.opened_at >= %(since)s AND d.opened_at < %(until)s AND r.household_id IS NOT NULL
    UNION ALL
    SELECT 'organisation', dp.organisation_id, 'dispute:' || d.id
      FROM mediation_disputeparty dp JOIN mediation_dispute d ON d.id = dp.dispute_id
     WHERE d.opened_at >= %(since)s AND d.opened_at < %(until)s AND dp.organisation_id IS NOT NULL
) AS named GROUP BY kind, subject_id HAVING COUNT(DISTINCT ref) >= %(min)s
"""


def repeat_party(day: date, p: dict[str, Any]) -> list[Finding]:
    """The same household (any of its residents) or organisation named in ``min_count`` or more cases or disputes
    opened in the ``window_days`` days up to ``day``."""
    until = day_end(day)
    since = until - timedelta(days=int(p["window_days"]))
    with connection.cursor() as cursor:
        cursor.execute(_REPEAT_SQL, {"since": since, "until": until, "min": int(p["min_count"])})
        found = cursor.fetchall()
    from mediation.models import DisputeParty

    household_ids = [s for k, s, _n in found if k == "household"]
    organisation_ids = [s for k, s, _n in found if k == "organisation"]
    households = Household.objects.select_related("region", "building").in_bulk(household_ids)
    organisations = Organisation.objects.select_related("region").in_bulk(organisation_ids)
    refs: dict[tuple[str, int], dict[str, set[int]]] = defaultdict(lambda: {"case": set(), "dispute": set()})
    in_window = {"case__created_at__gte": since, "case__created_at__lt": until}
    for h, c in CaseParty.objects.filter(resident__household_id__in=household_ids, **in_window).values_list(
        "resident__household_id", "case_id"
    ):
        refs[("household", h)]["case"].add(c)
    for o, c in CaseParty.objects.filter(organisation_id__in=organisation_ids, **in_window).values_list(
        "organisation_id", "case_id"
    ):
        refs[("organisation", o)]["case"].add(c)
    opened = {"dispute__opened_at__gte": since, "dispute__opened_at__lt": until}
    for h, d in DisputeParty.objects.filter(resident__household_id__in=household_ids, **opened).values_list(
        "resident__household_id", "dispute_id"
    ):
        refs[("household", h)]["dispute"].add(d)
    for o, d in DisputeParty.objects.filter(organisation_id__in=organisation_ids, **opened).values_list(
        "organisation_id", "dispute_id"
    ):
        refs[("organisation", o)]["dispute"].add(d)
    out = []
    for kind, subject_id, n in sorted(found):
        record = (households if kind == "household" else organisations).get(subject_id)
        if record is None:
            continue
        cases = sorted(refs[(kind, subject_id)]["case"])
        disputes = sorted(refs[(kind, subject_id)]["dispute"])
        numbers = dict(Case.objects.filter(id__in=cases).values_list("id", "number"))
        label = record.label if kind == "household" else record.name
        links = [_link(numbers.get(c, str(c)), reverse("case_detail", args=[c])) for c in cases]
        links += [_link(f"{_('Dispute')} #{d}", "") for d in disputes]
        page = "parties:household" if kind == "household" else "parties:organisation"
        links.insert(0, _link(label, reverse(page, args=[subject_id])))
        lat, lng = _centre(record.region)
        out.append(
            Finding(
                rule="repeat_party",
                dedupe_key=f"{kind}:{subject_id}",
                region_id=record.region_id,
                subject_kind=kind,
                subject_id=subject_id,
                subject_label=label,
                params={
                    "who": label,
                    "count": n,
                    "cases": len(cases),
                    "disputes": len(disputes),
                    "days": int(p["window_days"]),
                    "min": int(p["min_count"]),
                },
                links=links,
                lat=lat,
                lng=lng,
                extra={"cases": cases, "disputes": disputes},
            )
        )
    return out


# --- c. a dispute that fell apart --------------------------------------------------------------------------------


def fell_apart(day: date, p: dict[str, Any]) -> list[Finding]:
    """A dispute whose agreement fell apart ``min_count`` times or more (and reopened) and that is not closed."""
    from mediation.models import Dispute

    disputes = (
        Dispute.objects.filter(fell_apart_count__gte=int(p["min_count"]), opened_at__lt=day_end(day))
        .filter(status__in=LIVE_DISPUTE_STATUSES)
        .select_related("region", "case")
        .order_by("id")
    )
    out = []
    for d in disputes:
        lat, lng = _centre(d.region)
        links = [_link(d.number, d.get_absolute_url())]
        if d.case_id:
            links.append(_link(d.case.number, reverse("case_detail", args=[d.case_id])))
        out.append(
            Finding(
                rule="fell_apart",
                dedupe_key=f"dispute:{d.pk}",
                region_id=d.region_id,
                subject_kind="dispute",
                subject_id=d.pk,
                subject_label=f"{_('Dispute')} {d.number} · {d.get_kind_display()}",
                params={
                    "dispute": d.number,
                    "kind": d.get_kind_display(),
                    "count": d.fell_apart_count,
                    "status": d.status,
                },
                links=links,
                lat=lat,
                lng=lng,
            )
        )
    return out


# --- d. reports clustered ----------------------------------------------------------------------------------------


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two (lat, lng) points (equirectangular: exact enough at a few hundred metres)."""
    mid = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * EARTH_M_PER_DEG
    dx = (a[1] - b[1]) * EARTH_M_PER_DEG * math.cos(mid)
    return math.hypot(dx, dy)


def clusters(points: list[tuple[int, float, float]], *, radius: float, min_size: int) -> list[list[int]]:
    """Groups of at least ``min_size`` points all within ``radius`` metres of each other (ids), each point in one
    group at most.

    Points are put in cells ``radius`` wide, so every point within ``radius`` of a point lies in its cell or one of
    the 8 around it, whichever side of a cell edge they are. Around each point, its neighbours are taken nearest
    first while each is within ``radius`` of all taken so far; the largest group is kept, its points removed, and so
    on until no group is big enough."""
    if not points:
        return []
    lat0 = statistics.fmean(p[1] for p in points)
    dlat = radius / EARTH_M_PER_DEG
    dlng = radius / (EARTH_M_PER_DEG * max(0.01, math.cos(math.radians(lat0))))
    # Cells narrower in longitude away from lat0 would miss neighbours: use the narrowest cosine of the set.
    coslat = min(math.cos(math.radians(p[1])) for p in points)
    dlng = max(dlng, radius / (EARTH_M_PER_DEG * max(0.01, coslat)))
    where = {pid: (lat, lng) for pid, lat, lng in points}
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pid, lat, lng in points:
        cells[(math.floor(lat / dlat), math.floor(lng / dlng))].append(pid)

    def neighbours(pid: int, alive: set[int]) -> list[int]:
        lat, lng = where[pid]
        ci, cj = math.floor(lat / dlat), math.floor(lng / dlng)
        near = []
        for i in (ci - 1, ci, ci + 1):
            for j in (cj - 1, cj, cj + 1):
                for q in cells.get((i, j), ()):
                    if q in alive and distance_m(where[pid], where[q]) <= radius:
                        near.append(q)
        return near

    def group_around(pid: int, alive: set[int]) -> list[int]:
        near = sorted(neighbours(pid, alive), key=lambda q: (distance_m(where[pid], where[q]), q))
        taken: list[int] = []
        for q in near:
            if all(distance_m(where[q], where[t]) <= radius for t in taken):
                taken.append(q)
        return taken

    alive = set(where)
    found = []
    candidates = [pid for pid in sorted(where) if len(neighbours(pid, alive)) >= min_size]
    while candidates:
        best: list[int] = []
        for pid in candidates:
            if pid in alive:
                g = group_around(pid, alive)
                if len(g) > len(best):
                    best = g
        if len(best) < min_size:
            break
        found.append(sorted(best))
        alive -= set(best)
        candidates = [pid for pid in candidates if pid in alive and len(neighbours(pid, alive)) >= min_size]
    return found


def clustered_reports(day: date, p: dict[str, Any]) -> list[Finding]:
    """``min_count`` or more cases of one category group (占道经营 and 乱堆乱放 are both 城市管理) reported within
    ``distance_m`` metres of each other in the ``window_days`` days up to ``day``. One kind of problem reported again
    and again at one spot is the signal; a handful of unrelated reports that happen to fall near each other in a
    busy street is not (on the million-case city, counting any kind raised two to three such coincidences a week in
    every district)."""
    until = day_end(day)
    since = until - timedelta(days=int(p["window_days"]))
    rows = list(
        Case.objects.filter(created_at__gte=since, created_at__lt=until, lat__isnull=False, lng__isnull=False)
        .annotate(group=Coalesce("category__parent_id", "category_id"))
        .values_list("id", "lat", "lng", "region_id", "number", "category__name", "group")
        .iterator(chunk_size=5000)
    )
    info = {r[0]: r for r in rows}
    by_group: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for r in rows:
        by_group[r[6]].append((r[0], r[1], r[2]))
    groups = [
        g
        for group in sorted(by_group)
        for g in clusters(by_group[group], radius=float(p["distance_m"]), min_size=int(p["min_count"]))
    ]
    regions = Region.objects.in_bulk({info[i][3] for g in groups for i in g})
    out = []
    for g in groups:
        lat = statistics.fmean(info[i][1] for i in g)
        lng = statistics.fmean(info[i][2] for i in g)
        by_grid: dict[int, int] = defaultdict(int)
        by_category: dict[str, int] = defaultdict(int)
        for i in g:
            by_grid[info[i][3]] += 1
            by_category[info[i][5]] += 1
        grid = regions[max(sorted(by_grid), key=lambda r: by_grid[r])]
        top = max(sorted(by_category), key=lambda c: by_category[c])
        out.append(
            Finding(
                rule="cluster",
                dedupe_key=f"cluster:{g[0]}",
                region_id=grid.pk,
                subject_kind="point",
                subject_id=None,
                subject_label=f"{grid.name} ({lat:.4f}, {lng:.4f})",
                params={
                    "count": len(g),
                    "metres": int(p["distance_m"]),
                    "days": int(p["window_days"]),
                    "grid": grid.name,
                    "category": top,
                    "top": by_category[top],
                },
                links=[_link(info[i][4], reverse("case_detail", args=[i])) for i in g],
                lat=round(lat, 6),
                lng=round(lng, 6),
                extra={"cases": g},
            )
        )
    return out


# --- e. vulnerable residents not visited -------------------------------------------------------------------------


def unvisited(day: date, p: dict[str, Any]) -> list[Finding]:
    """A resident with one of the tags ``tags`` (独居老人, 残疾 …), living in a household that was on record and not
    visited in the ``window_days`` days up to ``day``."""
    days = int(p["window_days"])
    since = day - timedelta(days=days - 1)
    recent = Visit.objects.filter(household=OuterRef("household"), visited_on__gte=since, visited_on__lte=day)
    residents = (
        Resident.objects.filter(
            tags__code__in=list(p["tags"]),
            household__isnull=False,
            household__is_active=True,
            household__created_at__lt=day_end(day) - timedelta(days=days),
            deceased_on__isnull=True,
            moved_out_on__isnull=True,
        )
        .exclude(Exists(recent))
        .select_related("region", "household__building")
        .prefetch_related("tags")
        .distinct()
        .order_by("id")
    )
    out = []
    for r in residents:
        last = (
            Visit.objects.filter(household_id=r.household_id, visited_on__lte=day)
            .order_by("-visited_on")
            .values_list("visited_on", flat=True)
            .first()
        )
        tags = "、".join(t.name for t in r.tags.all() if t.code in p["tags"])
        lat, lng = _centre(r.region)
        out.append(
            Finding(
                rule="unvisited",
                dedupe_key=f"resident:{r.pk}",
                region_id=r.region_id,
                subject_kind="resident",
                subject_id=r.pk,
                subject_label=f"{r.name} · {r.household.label}",
                params={
                    "who": r.name,
                    "tags": tags,
                    "household": r.household.label,
                    "last": last.isoformat() if last else "",
                    "since": (day - last).days if last else None,
                    "days": days,
                },
                links=[_link(r.household.label, reverse("parties:household", args=[r.household_id]))],
                lat=lat,
                lng=lng,
            )
        )
    return out


RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        Rule(
            "rising_grid",
            _("Rising grid"),
            _(
                "%(grid)s had %(count)s cases of %(category)s in the last 7 days; over the %(weeks)s weeks before, "
                "it had %(mean)s a week on average (spread %(sd)s). Above %(limit)s (average + %(sigmas)s × spread) "
                "is unusual."
            ),
            {"sigmas": 3.0, "baseline_weeks": 8, "min_count": 8},
            {
                "sigmas": _("Standard deviations above the average"),
                "baseline_weeks": _("Weeks of baseline"),
                "min_count": _("At least this many cases in the week"),
            },
            rising_grid,
            "",
        ),
        Rule(
            "repeat_party",
            _("Repeat party"),
            _(
                "%(who)s was named in %(count)s cases or disputes in the last %(days)s days (%(cases)s cases, "
                "%(disputes)s disputes); %(min)s or more is a warning."
            ),
            {"min_count": 3, "window_days": 90},
            {"min_count": _("Cases or disputes"), "window_days": _("Window (days)")},
            repeat_party,
            "mdjf-llj",
        ),
        Rule(
            "fell_apart",
            _("Dispute fell apart again"),
            _(
                "The agreement of dispute %(dispute)s (%(kind)s) fell apart %(count)s times and the dispute is "
                "still open."
            ),
            {"min_count": 2},
            {"min_count": _("Times the agreement fell apart")},
            fell_apart,
            "mdjf-llj",
        ),
        Rule(
            "cluster",
            _("Reports clustered"),
            _(
                "%(count)s cases of one kind were reported within %(metres)s m of each other in the last %(days)s "
                "days, in %(grid)s (%(top)s of them %(category)s)."
            ),
            {"min_count": 5, "distance_m": 200, "window_days": 7},
            {
                "min_count": _("At least this many cases"),
                "distance_m": _("Within (metres)"),
                "window_days": _("Window (days)"),
            },
            clustered_reports,
            "",
        ),
        Rule(
            "unvisited",
            _("Vulnerable resident not visited"),
            _(
                "%(who)s (%(tags)s, %(household)s) has had no household visit in the last %(days)s days "
                "(last visit: %(last)s)."
            ),
            {"window_days": 60, "tags": ["elderly-alone", "disabled"]},
            {"window_days": _("Days without a visit"), "tags": _("Tags (codes)")},
            unvisited,
            "msfw-djlr",
        ),
    ]
}
