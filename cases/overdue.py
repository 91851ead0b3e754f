"""Overdue now (超期), counted once a minute instead of on every dashboard request.

"Overdue" is a matter of the clock, not of an event: a case becomes overdue when its earliest running deadline
passes, with nothing written. So the roll-up, which the case service keeps in step with each event, cannot hold it.
Counting the overdue cases of a city live costs a scan of every overdue case on each request (about 190 ms for the
city of the million-case benchmark, plus the departments' overdue work orders). ``count_overdue`` does that count
once for every region and department at once, on the beat's minute (the task ``cases.tasks.count_overdue``), and
stores it in ``OverdueCount``; readers take those rows (``counts``) and fall back to the live count when the rows are
older than ``GOVGRID_OVERDUE_STALE_SECONDS`` (the beat stopped, or a fresh database), so the figure is never older
than that and never missing.

A run brings the rows up to date in one transaction (writing only the rows whose count changed) while holding the
``OverdueClock`` row; a second run that finds the row locked skips (PostgreSQL), so any number of workers may run it. Its definition is the live one's: an open case whose
``due_at`` has passed, and an open work-order clock that has passed on such a case.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from grids.models import Region

from .models import Case, OverdueClock, OverdueCount, StepDeadline, WorkOrder
from .workflow import State

CLOSED = (State.CLOSED, State.CANCELLED)
GRID_DEPTH = 5


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "GOVGRID_OVERDUE_STALE_SECONDS", 180))


def overdue_cases(region: Region, now: datetime) -> QuerySet:
    """The ids of the open cases of ``region``'s grids past their earliest deadline (the partial open-case index)."""
    grids = Region.objects.filter(path__startswith=region.path, depth=GRID_DEPTH).values("id")
    return Case.objects.filter(due_at__lte=now, region_id__in=grids).exclude(state__in=CLOSED).values("id")


@dataclass
class Overdue:
    """Overdue now in one region: in all, per child region (by path) and per department (by id)."""

    total: int = 0
    children: dict[str, int] = field(default_factory=dict)
    departments: dict[int, int] = field(default_factory=dict)
    counted_at: datetime | None = None  # None: counted live, just now


def live(region: Region, now: datetime) -> Overdue:
    """Count from the case rows (the fallback, and the reference the stored counts are tested against)."""
    step = Region.steplen
    out = Overdue()
    rows = (
        Case.objects.filter(id__in=overdue_cases(region, now))
        .values_list("region__path")
        .annotate(n=Count("id"))
        .order_by()
    )
    for path, n in rows:
        if region.depth < GRID_DEPTH:
            key = path[: (region.depth + 1) * step]
            out.children[key] = out.children.get(key, 0) + n
        out.total += n
    late_orders = list(
        StepDeadline.objects.filter(
            closed_at__isnull=True, due_at__lte=now, work_order__isnull=False, case_id__in=overdue_cases(region, now)
        ).values_list("work_order_id", flat=True)
    )
    if late_orders:
        out.departments = dict(
            WorkOrder.objects.filter(pk__in=set(late_orders))
            .order_by()
            .values_list("department_id")
            .annotate(n=Count("id"))
        )
    return out


def _counted_within(now: datetime, age: timedelta) -> datetime | None:
    """When the last run counted, if that was at most ``age`` before ``now`` (and not after it); else None."""
    clock = OverdueClock.objects.filter(pk=1).values_list("counted_at", flat=True).first()
    return clock if clock is not None and clock <= now and now - clock <= age else None


def stored(region: Region, now: datetime) -> Overdue | None:
    """The counts of the last run, or None when there is none as fresh as ``stale_after``."""
    clock = _counted_within(now, stale_after())
    if clock is None:
        return None
    out = Overdue(counted_at=clock)
    children = dict(
        Region.objects.filter(path__startswith=region.path, depth=region.depth + 1).values_list("pk", "path")
    )
    rows = OverdueCount.objects.filter(region_id__in=[region.pk, *children]).values_list(
        "region_id", "department_id", "n"
    )
    for region_id, department_id, n in rows:
        if region_id == region.pk:
            if department_id is None:
                out.total = n
            else:
                out.departments[department_id] = n
        elif department_id is None:
            out.children[children[region_id]] = n
    return out


def counts(region: Region, now: datetime | None = None) -> Overdue:
    """Overdue now in ``region``: the stored counts when fresh, else counted live."""
    now = now or timezone.now()
    return stored(region, now) or live(region, now)


def count_overdue(now: datetime | None = None) -> dict[str, float] | None:
    """Recount every region's and department's overdue figures and replace the stored rows. Returns what it wrote,
    or None when another run holds the clock row."""
    started = time.perf_counter()
    now = now or timezone.now()
    OverdueClock.objects.get_or_create(pk=1)
    with transaction.atomic():
        lock = OverdueClock.objects.filter(pk=1)
        if connection.features.has_select_for_update_skip_locked:
            lock = lock.select_for_update(skip_locked=True)
        if not lock.exists():
            return None
        per_grid: dict[int, int] = dict(
            Case.objects.filter(due_at__lte=now)
            .exclude(state__in=CLOSED)
            .values_list("region_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        per_grid_dept = (
            StepDeadline.objects.filter(
                closed_at__isnull=True, due_at__lte=now, work_order__isnull=False, case__due_at__lte=now
            )
            .exclude(case__state__in=CLOSED)
            .values_list("case__region_id", "work_order__department_id")
            .annotate(n=Count("work_order_id", distinct=True))
            .order_by()
        )
        grid_dept = list(per_grid_dept)
        grids = set(per_grid) | {g for g, _d, _n in grid_dept}
        path_of = dict(Region.objects.filter(pk__in=grids).values_list("pk", "path")) if grids else {}
        wanted = {path[: i * Region.steplen] for path in path_of.values() for i in range(1, GRID_DEPTH)}
        region_of = dict(Region.objects.filter(path__in=wanted).values_list("path", "pk")) if wanted else {}

        def chain(grid_id: int) -> list[int]:
            path = path_of.get(grid_id)
            if path is None:
                return []
            ids = [region_of[p] for p in (path[: i * Region.steplen] for i in range(1, GRID_DEPTH)) if p in region_of]
            return [*ids, grid_id]

        totals: dict[tuple[int, int | None], int] = defaultdict(int)
        for grid_id, n in per_grid.items():
            for rid in chain(grid_id):
                totals[(rid, None)] += n
        for grid_id, dept_id, n in grid_dept:
            for rid in chain(grid_id):
                totals[(rid, dept_id)] += n
        # Write only what changed since the last run: from one minute to the next a few rows move, and rewriting
        # every row (tens of thousands on a city) each minute would be write traffic for nothing.
        existing = {
            (r, d): (pk, n) for pk, r, d, n in OverdueCount.objects.values_list("pk", "region_id", "department_id", "n")
        }
        gone = [pk for key, (pk, _n) in existing.items() if key not in totals]
        changed = [
            OverdueCount(pk=existing[key][0], n=n)
            for key, n in totals.items()
            if key in existing and existing[key][1] != n
        ]
        new = [
            OverdueCount(region_id=r, department_id=d, n=n) for (r, d), n in totals.items() if (r, d) not in existing
        ]
        for start in range(0, len(gone), 5000):
            OverdueCount.objects.filter(pk__in=gone[start : start + 5000]).delete()
        OverdueCount.objects.bulk_update(changed, ["n"], batch_size=2000)
        OverdueCount.objects.bulk_create(new, batch_size=5000)
        seconds = time.perf_counter() - started
        OverdueClock.objects.filter(pk=1).update(counted_at=now, seconds=seconds)
    return {
        "rows": len(totals),
        "written": len(gone) + len(changed) + len(new),
        "cases": sum(per_grid.values()),
        "seconds": round(seconds, 3),
    }


def refresh_if_stale() -> None:
    """Count now unless fresh counts exist (a batch of readers, such as the month's reports, then share one moment
    and pay for one count instead of one live count each)."""
    now = timezone.now()
    if _counted_within(now, stale_after() / 2) is None:
        count_overdue(now)
