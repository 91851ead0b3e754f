"""Reads of the case map (民情地图), scoped to the viewer.

Regions come through ``grids.access`` (a region outside the viewer's ``cases.view_case`` grants is a 404), and the
cases are those of the region's grids, filtered by ``cases.selectors.apply_filters`` as the case lists are.

What one answer holds is bounded whatever the size of the city:
- areas: the grids of the region, or the deepest level with at most ``GOVGRID_MAP_MAX_AREAS`` nodes, with their
  boundaries simplified for the zoom (kept in the shared cache per region, level and zoom, under a stamp of the
  subtree's size and last change, so an edited boundary or a moved node is drawn anew);
- counts: one GROUP BY grid over the open cases of the region's grids, an index-only scan of the map's partial
  index (migration casemap 0001); no count over the case table;
- points: the cases themselves up to ``GOVGRID_MAP_MAX_POINTS``; beyond that, one weighted point per grid (or per
  area when even those are too many), from the counts already made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases import selectors as case_selectors
from cases.deadlines import light_of
from cases.models import Case, case_url
from cases.workflow import State
from govgrid import versioned_cache
from grids import access
from grids import selectors as grid_selectors
from grids.codes import Level, significant_prefix
from grids.models import Region

from . import geometry

VIEW = "cases.view_case"
# Who has a use for the map: street dispatchers, district and city supervisors (and admins, who hold both).
USE = ("cases.dispatch_case", "cases.supervise_case")
CLOSED = (State.CLOSED, State.CANCELLED)
OPEN = "open"
LIGHT_LABELS = {
    "red": gettext_lazy("Overdue"),
    "yellow": gettext_lazy("Due soon"),
    "green": gettext_lazy("In time"),
    "": gettext_lazy("No deadline"),
}
CACHE_KIND = "casemap"  # versioned_cache kind of the simplified areas


def max_points() -> int:
    return int(getattr(settings, "GOVGRID_MAP_MAX_POINTS", 2000))


def max_areas() -> int:
    return int(getattr(settings, "GOVGRID_MAP_MAX_AREAS", 2000))


def may_use(user: Any) -> bool:
    """Does the user have a use for the map (a menu entry and the pages)?"""
    return any(access.user_can_anywhere(user, perm) for perm in USE)


def _regions(user: Any) -> QuerySet[Region]:
    return access.scope(user, VIEW, Region.objects.defer("boundary"))


def default_region(*, user: Any) -> Region:
    """The viewer's top region (the first one when there are several), or 404 when he sees none."""
    found = access.top_regions(user, VIEW).defer("boundary").first()
    if found is None:
        raise Http404(_("You see no region's cases."))
    return found


def region_get(*, user: Any, pk: int) -> Region:
    """A region the viewer may see the cases of, or 404 (ids cannot be probed)."""
    found = _regions(user).filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such region."))
    return found


def region_trail(*, user: Any, region: Region) -> list[Region]:
    """The region's ancestors that the viewer may see, root first (the breadcrumb that climbs back)."""
    return list(_regions(user).filter(path__in=region.ancestor_paths()[:-1]).order_by("depth"))


def region_children(*, region: Region) -> QuerySet[Region]:
    """The region's children (the drill-down links): all visible, since the region is."""
    return grid_selectors.region_children(region=region)


def top_regions(*, user: Any) -> QuerySet[Region]:
    return access.top_regions(user, VIEW).defer("boundary")


# --- areas: the polygons of the choropleth ------------------------------------------------------------------


@dataclass
class Areas:
    """The polygons of a region at one zoom, and how its grids fall into them (what the cache keeps)."""

    level: int
    features: list[dict]  # {"id", "code", "name", "geometry", "centre": [lng, lat] | None}
    grid_ids: list[int]
    grid_area: dict[int, int]  # grid id → index in ``features``
    grid_centres: dict[int, tuple[float, float]]  # grid id → (lng, lat), for the weighted points


def _area_level(region: Region) -> tuple[int, str]:
    """The level drawn (grids, or the deepest level with at most ``max_areas()`` nodes) and a stamp of the subtree
    (its size per level and its last change): one indexed query on the tree."""
    rows = (
        Region.objects.filter(path__startswith=region.path)
        .values("depth")
        .annotate(n=Count("id"), last=Max("updated_at"))
        .order_by("depth")
    )
    per_depth = {r["depth"]: r["n"] for r in rows}
    last = max((r["last"] for r in rows), default=None)
    level = region.depth
    for depth in range(Level.GRID, region.depth, -1):
        if 0 < per_depth.get(depth, 0) <= max_areas():
            level = depth
            break
    stamp = "-".join(str(per_depth.get(d, 0)) for d in range(region.depth, Level.GRID + 1))
    return level, f"{stamp}:{last.timestamp() if last else 0}"


def _centre(r: Region) -> tuple[float, float] | None:
    if r.centre_lat is not None and r.centre_lng is not None:
        return (round(r.centre_lng, 6), round(r.centre_lat, 6))
    return None


def _build_areas(region: Region, level: int, zoom: int) -> Areas:
    nodes = list(
        Region.objects.filter(path__startswith=region.path, depth=level)
        .only("id", "code", "name", "path", "boundary", "centre_lat", "centre_lng", "depth")
        .order_by("path")
    )
    features = [
        {
            "id": r.pk,
            "code": r.code,
            "name": r.name,
            "geometry": geometry.simplify(r.boundary, zoom),
            "centre": _centre(r),
        }
        for r in nodes
    ]
    if level == Level.GRID:
        grid_ids = [r.pk for r in nodes]
        grid_area = {pk: i for i, pk in enumerate(grid_ids)}
        centres = {r.pk: c for r in nodes if (c := _centre(r))}
        return Areas(level, features, grid_ids, grid_area, centres)
    index = {r.path: i for i, r in enumerate(nodes)}
    cut = level * Region.steplen
    grid_ids, grid_area, centres = [], {}, {}
    grids = Region.objects.filter(path__startswith=region.path, depth=Level.GRID).values_list(
        "id", "path", "centre_lng", "centre_lat"
    )
    for pk, path, lng, lat in grids:
        grid_ids.append(pk)
        grid_area[pk] = index[path[:cut]]
        if lng is not None and lat is not None:
            centres[pk] = (round(lng, 6), round(lat, 6))
    return Areas(level, features, grid_ids, grid_area, centres)


def region_areas(*, region: Region, zoom: int) -> Areas:
    """The region's areas simplified for ``zoom``, from the shared cache (built on a miss)."""
    zoom = geometry.clamp_zoom(zoom)
    level, stamp = _area_level(region)
    part = f"{region.pk}:{region.path}:{level}:{zoom}:{stamp}"
    return versioned_cache.get_or_build(CACHE_KIND, part, lambda: _build_areas(region, level, zoom))


# --- cases ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapFilters:
    """What the map shows: cases of a category (or group), in a state ("open": any open one), of a traffic light,
    reported in [since, until)."""

    category: int | None = None
    state: str = OPEN
    light: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def case_list_query(self) -> dict[str, Any]:
        """The same filters as the case list's query parameters (it has no period)."""
        out: dict[str, Any] = {}
        if self.category:
            out["category"] = self.category
        if self.state != OPEN:
            out["state"] = self.state
        if self.light:
            out["light"] = self.light
        return out


def _cases(*, areas: Areas, filters: MapFilters) -> QuerySet:
    """The cases of the region's grids that pass the filters (the case lists' own filters, ``apply_filters``).

    The region was fetched through the viewer's scope (``region_get``), so every case of its grids is one he may
    see: the region is the scope, and no further condition (such as a department's work orders, which would have
    the database read every row) is needed. Open cases are asked for as the partial indexes' condition, so that
    the counts are an index-only scan of ``casemap_open_region_idx``.
    """
    base = {"category": filters.category, "light": filters.light}
    if filters.state != OPEN:
        base["state"] = filters.state
    rows = case_selectors.apply_filters(_in_grids(Case.objects.all(), areas.grid_ids), base)
    if filters.state not in CLOSED:
        rows = rows.exclude(state__in=CLOSED)
    if filters.since is not None:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until is not None:
        rows = rows.filter(created_at__lt=filters.until)
    return rows


def _in_grids(rows: QuerySet, grid_ids: list[int]) -> QuerySet:
    """Cases of these grids. On PostgreSQL one array parameter (``= ANY``): a city's thousands of grids as an IN list
    cost more to build and to plan than the count itself."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Case._meta.db_table)
        column = f"{table}.{connection.ops.quote_name('region_id')}"
        condition = RawSQL(f"{column} = ANY(%s::bigint[])", (grid_ids,))  # noqa: S611 - our column, one bound list
        return rows.filter(ExpressionWrapper(condition, output_field=BooleanField()))
    return rows.filter(region_id__in=grid_ids)


def _grid_counts(rows: QuerySet, now: datetime) -> dict[int, tuple[int, int]]:
    """grid id → (cases, overdue among them): one GROUP BY over the selected cases of the region's grids."""
    counted = (
        rows.order_by()
        .values("region_id")
        # Counted on region_id, not id: the id is not in the map's index, and naming it would send the count to the
        # table row by row.
        .annotate(n=Count("region_id"), overdue=Count("region_id", filter=Q(due_at__lte=now) & ~Q(state__in=CLOSED)))
        .values_list("region_id", "n", "overdue")
    )
    return {pk: (n, overdue) for pk, n, overdue in counted}


def _point(lng: float, lat: float, properties: dict) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]}, "properties": properties}


def map_data(*, user: Any, region: Region, zoom: int, filters: MapFilters) -> dict[str, Any]:
    """The map of ``region`` as one GeoJSON FeatureCollection: areas (``kind: area``: the polygons with their
    counts), then either the cases (``kind: case``) or, beyond the point cap, weighted points (``kind: group``).
    Three queries when the areas are cached: the tree's stamp, the counts, the points."""
    now = timezone.now()
    zoom = geometry.clamp_zoom(zoom)
    areas = region_areas(region=region, zoom=zoom)
    rows = _cases(areas=areas, filters=filters)
    per_grid = _grid_counts(rows, now) if areas.grid_ids else {}
    total = sum(n for n, _o in per_grid.values())
    overdue = sum(o for _n, o in per_grid.values())

    per_area = [[0, 0] for _ in areas.features]
    for pk, (n, o) in per_grid.items():
        i = areas.grid_area.get(pk)
        if i is not None:
            per_area[i][0] += n
            per_area[i][1] += o

    extra = urlencode(filters.case_list_query())
    extra = f"&{extra}" if extra else ""
    area_urls = {
        "page": reverse("region_detail", args=[987654321]).replace("987654321", "{id}"),
        "cases": f"{reverse('case_list')}?grid={{prefix}}{extra}",
        "map": f"{reverse('casemap:page')}?region={{id}}" if areas.level < Level.GRID else None,
    }
    features: list[dict] = []
    for area, (n, o) in zip(areas.features, per_area, strict=True):
        if area["geometry"] is None:
            continue
        # The links (page, case list, map) are built from ``area_urls`` below: a district's thousand grids would
        # otherwise carry a hundred kilobytes of repeated addresses.
        props = {
            "kind": "area",
            "id": area["id"],
            "code": area["code"],
            "prefix": significant_prefix(area["code"], areas.level),
            "name": area["name"],
            "count": n,
            "overdue": o,
        }
        features.append(
            {"type": "Feature", "id": f"area-{area['id']}", "geometry": area["geometry"], "properties": props}
        )

    aggregated = total > max_points()
    if not aggregated:
        features.extend(_case_points(rows, now))
    else:
        features.extend(_weighted_points(areas, per_grid, per_area))
    return {
        "type": "FeatureCollection",
        "features": features,
        "region": {"id": region.pk, "name": region.name, "code": region.code, "level": region.depth},
        "area_level": areas.level,
        "zoom": zoom,
        "total": total,
        "overdue": overdue,
        "max": {"count": max((a[0] for a in per_area), default=0), "overdue": max((a[1] for a in per_area), default=0)},
        "aggregated": aggregated,
        "max_points": max_points(),
        # Said once rather than on every feature: the areas' and the case page's addresses ({id}, {prefix} filled
        # in by the page) and the labels of states and lights.
        "area_urls": area_urls,
        "case_url": case_url("{id}"),
        "labels": {
            "states": {code: str(label) for code, label in State.choices},
            "lights": {code: str(label) for code, label in LIGHT_LABELS.items()},
        },
    }


def _case_points(rows: QuerySet, now: datetime) -> list[dict]:
    """The selected cases themselves (at most the cap: the caller counted them), placed at their point or, without
    one, at their grid's centre."""
    found = (
        rows.annotate(p_lat=Coalesce("lat", "region__centre_lat"), p_lng=Coalesce("lng", "region__centre_lng"))
        .order_by("-created_at", "-id")
        .values_list("id", "number", "state", "category__name", "due_at", "yellow_at", "p_lng", "p_lat")[: max_points()]
    )
    points = []
    for pk, number, state, category, due_at, yellow_at, lng, lat in found:
        if lng is None or lat is None:
            continue
        light = light_of(due_at=due_at, yellow_at=yellow_at, now=now) if state not in CLOSED else ""
        points.append(
            _point(
                round(lng, 6),
                round(lat, 6),
                {"kind": "case", "id": pk, "number": number, "category": category, "state": state, "light": light},
            )
        )
    return points


def _weighted_points(areas: Areas, per_grid: Mapping[int, tuple[int, int]], per_area: list[list[int]]) -> list[dict]:
    """Too many cases to send one by one: a point per grid with its count, or per area when even the grids with
    cases outnumber the cap."""
    by_grid = [(pk, n, o) for pk, (n, o) in per_grid.items() if n and pk in areas.grid_centres]
    if len(by_grid) <= max_points():
        return [
            _point(*areas.grid_centres[pk], {"kind": "group", "count": n, "overdue": o, "grid": pk})
            for pk, n, o in by_grid
        ]
    return [
        _point(*area["centre"], {"kind": "group", "count": n, "overdue": o, "area": area["id"]})
        for area, (n, o) in zip(areas.features, per_area, strict=True)
        if n and area["centre"]
    ]
