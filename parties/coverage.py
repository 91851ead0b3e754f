"""Coverage (不漏一户、不落一企): households and organisations with and without a keeper (包联), and visited in the last
30 / 90 days or never, per grid, rolled up the region tree.

Two grouped queries over the households and organisations of the grids below a node (each row carries its keeper
and its last visit date, kept by the services), then a sum per child of the node in Python: a district's roll-up
reads its grids' rows once, whatever the depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Value
from django.utils import timezone

from grids.codes import Level
from grids.models import Region

from .models import Household, Organisation


@dataclass
class Coverage:
    region: Region | None = None
    households: int = 0
    households_kept: int = 0
    organisations: int = 0
    organisations_kept: int = 0
    visited_30: int = 0
    visited_90: int = 0
    never_visited: int = 0

    def add(self, other: Coverage) -> None:
        for name in (
            "households",
            "households_kept",
            "organisations",
            "organisations_kept",
            "visited_30",
            "visited_90",
            "never_visited",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def households_uncovered(self) -> int:
        return self.households - self.households_kept

    @property
    def organisations_uncovered(self) -> int:
        return self.organisations - self.organisations_kept

    @property
    def household_rate(self) -> float:
        return 100.0 * self.households_kept / self.households if self.households else 0.0

    @property
    def organisation_rate(self) -> float:
        return 100.0 * self.organisations_kept / self.organisations if self.organisations else 0.0


def _per_grid(region: Region) -> dict[str, Coverage]:
    """Counts per grid id: the households' and the organisations' aggregates in one UNION ALL query."""
    today = timezone.localdate()
    where = (
        Q(region_id=region.pk)
        if region.depth == Level.GRID
        else Q(region_id__in=Region.objects.filter(path__startswith=region.path, depth=Level.GRID).values("id"))
    )
    households = (
        Household.objects.filter(where, is_active=True)
        .values("region_id")
        .annotate(
            is_org=Value(0),
            total=Count("id"),
            kept=Count("keeper_id"),
            d30=Count("id", filter=Q(last_visited_on__gte=today - timedelta(days=30))),
            d90=Count("id", filter=Q(last_visited_on__gte=today - timedelta(days=90))),
            never=Count("id", filter=Q(last_visited_on__isnull=True)),
        )
        .values_list("region_id", "is_org", "total", "kept", "d30", "d90", "never")
        .order_by()
    )
    organisations = (
        Organisation.objects.filter(where, is_active=True)
        .values("region_id")
        .annotate(
            is_org=Value(1), total=Count("id"), kept=Count("keeper_id"), d30=Value(0), d90=Value(0), never=Value(0)
        )
        .values_list("region_id", "is_org", "total", "kept", "d30", "d90", "never")
        .order_by()
    )
    found: dict[int, Coverage] = {}
    for region_id, is_org, total, kept, d30, d90, never in households.union(organisations, all=True):
        c = found.setdefault(region_id, Coverage())
        if is_org:
            c.organisations, c.organisations_kept = total, kept
        else:
            c.households, c.households_kept = total, kept
            c.visited_30, c.visited_90, c.never_visited = d30, d90, never
    return found


def region_coverage(*, region: Region, children: list[Region] | None = None) -> tuple[Coverage, list[Coverage]]:
    """The totals of ``region`` and one row per child (per grid for a community; the grid itself for a grid).

    ``children``: the region's children when the caller has them already (saves a query).
    """
    per_grid = _per_grid(region)
    total = Coverage(region=region)
    if region.depth == Level.GRID:
        total.add(per_grid.get(region.pk, Coverage()))
        return total, []
    if children is None:
        children = list(
            Region.objects.filter(path__startswith=region.path, depth=region.depth + 1)
            .defer("boundary")
            .order_by("code")
        )
    rows = [Coverage(region=c) for c in children]
    if region.depth == Level.GRID - 1:  # a community: its children are the grids themselves
        by_id = {row.region.pk: row for row in rows}
        for grid_id, counts in per_grid.items():
            if grid_id in by_id:
                by_id[grid_id].add(counts)
            total.add(counts)
        return total, rows
    # Higher up, each grid's path says under which child it lies (one query for the paths of grids with records).
    by_path = {row.region.path: row for row in rows}
    width = (region.depth + 1) * Region.steplen
    paths = dict(Region.objects.filter(pk__in=list(per_grid)).values_list("pk", "path"))
    for grid_id, counts in per_grid.items():
        child = by_path.get(paths.get(grid_id, "")[:width])
        if child is not None:
            child.add(counts)
        total.add(counts)
    return total, rows
