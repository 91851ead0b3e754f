"""The "overdue now" counts made once a minute (cases.overdue) agree with the live count for every region and department,
after a random mix of transitions with clocks run out; stale counts are not used; two runs at once leave one set."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from cases import overdue
from cases.models import Case, OverdueClock, OverdueCount
from cases.workflow import State
from grids.models import Department, Region

from .test_rollup import _random_history, clock  # noqa: F401 - the fixture is used by name


def _every_region():
    return list(Region.objects.order_by("path"))


def test_the_counted_figures_equal_the_live_ones_for_every_region(cast, category, clock):  # noqa: F811
    _random_history(cast, category, clock, steps=250, seed=41)
    now = clock[0]
    late = Case.objects.filter(due_at__lte=now).exclude(state__in=[State.CLOSED, State.CANCELLED]).count()
    assert late > 2  # the mix leaves some cases overdue
    result = overdue.count_overdue(now=now)
    assert result["cases"] == late
    departments_seen = set()
    for region in _every_region():
        counted, live = overdue.stored(region, now), overdue.live(region, now)
        assert counted is not None and counted.counted_at == now
        assert (counted.total, counted.children, counted.departments) == (live.total, live.children, live.departments)
        departments_seen |= set(live.departments)
    assert departments_seen  # some work orders are overdue too
    assert set(departments_seen) <= set(Department.objects.values_list("pk", flat=True))
    # a region with nothing overdue has no rows and reads zero
    assert overdue.stored(cast.city.s12, now).total == 0
    # a later run writes only what changed, and agrees again (rows that fell to nothing are gone)
    _random_history(cast, category, clock, steps=120, seed=42)
    later = clock[0] + timedelta(days=2)
    second = overdue.count_overdue(now=later)
    assert second["written"] > 0
    for region in _every_region():
        counted, live = overdue.stored(region, later), overdue.live(region, later)
        assert (counted.total, counted.children, counted.departments) == (live.total, live.children, live.departments)
    assert not OverdueCount.objects.filter(n=0).exists()
    third = overdue.count_overdue(now=later)
    assert third["written"] == 0


def test_stale_or_future_counts_give_way_to_the_live_count(cast, category, clock, settings):  # noqa: F811
    _random_history(cast, category, clock, steps=80, seed=7)
    now = clock[0]
    overdue.count_overdue(now=now)
    settings.GOVGRID_OVERDUE_STALE_SECONDS = 180
    city = cast.city.city
    assert overdue.counts(city, now + timedelta(seconds=170)).counted_at == now
    late = overdue.counts(city, now + timedelta(seconds=190))
    assert late.counted_at is None and late.total == overdue.live(city, now + timedelta(seconds=190)).total
    assert overdue.counts(city, now - timedelta(seconds=5)).counted_at is None  # counted "after" now: not used
    OverdueClock.objects.all().delete()
    assert overdue.stored(city, now) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_leave_one_set_of_rows(request, clock):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's")
    cast, category = request.getfixturevalue("cast"), request.getfixturevalue("category")
    _random_history(cast, category, clock, steps=120, seed=3)
    now = clock[0]
    results, barrier = [], threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            results.append(overdue.count_overdue(now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and any(results)
    keys = list(OverdueCount.objects.values_list("region_id", "department_id"))
    assert len(keys) == len(set(keys))  # no row twice
    city = cast.city.city
    assert overdue.stored(city, now).total == overdue.live(city, now).total
