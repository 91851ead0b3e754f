"""A small generated city with ordinary noise and the planted patterns (bench/risk_patterns.py)."""

import random
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from bench import risk_patterns as rp
from cases.models import CaseParty, Category, PartyRole
from grids.models import Region
from tests.factories import UserFactory, staff

NOISE_CATEGORIES = ["csgl-zdjy", "hjws-lj", "mdjf-llj"]


@pytest.fixture
def day():
    return timezone.localdate() - timedelta(days=1)


@pytest.fixture
def noisy(city, day):
    """Noise on the 16 grids of the test city over 10 weeks: each grid has steady weekly counts of three categories
    (a grid's own level, ±1 at random), scattered points (a few hundred metres apart at least), households named in
    one or two cases, lonely elders visited in the last month, and disputes that fell apart once or were settled."""
    rng = random.Random(5)
    visitor = UserFactory(username="visitor")
    grids = list(Region.objects.filter(depth=5).order_by("path"))
    cats = [Category.objects.get(code=c) for c in NOISE_CATEGORIES]
    cases = []
    for gi, grid in enumerate(grids):
        for ci, cat in enumerate(cats):
            level = 1 + (gi + ci) % 3
            for week in range(10):
                for _k in range(max(0, level + rng.choice((-1, 0, 0, 1)))):
                    at = rp.at_noon(day - timedelta(days=7 * week + rng.randrange(7)), minutes=rng.randrange(600))
                    # points on a coarse lattice of the grid: 500 m at least between two of them
                    lat = grid.min_lat + 0.005 * (1 + rng.randrange(7))
                    lng = grid.min_lng + 0.006 * (1 + rng.randrange(6))
                    with_place = week == 0 and rng.random() < 0.5
                    cases.append(
                        rp.report_at(
                            grid=grid,
                            category=cat,
                            at=at,
                            lat=lat if with_place else None,
                            lng=lng if with_place else None,
                        )
                    )
        for h in range(2):
            household = rp.household_with(grid=grid, names=[f"居民{gi}{h}"], created=day - timedelta(days=300))
            for case in rng.sample(cases[-20:], 1 + h):
                CaseParty.objects.create(case=case, role=PartyRole.INVOLVED, resident=household.members.first())
        elder = rp.household_with(
            grid=grid, names=[f"老人{gi}"], created=day - timedelta(days=300), tags=("elderly-alone",)
        )
        rp.visit(household=elder, on=day - timedelta(days=rng.randrange(1, 50)), visitor=visitor)
        rp.dispute(grid=grid, opened=rp.at_noon(day - timedelta(days=30)), parties=[elder], fell_apart=gi % 2)
        rp.dispute(grid=grid, opened=rp.at_noon(day - timedelta(days=60)), fell_apart=3, status="held")
    return visitor


@pytest.fixture
def planted(city, day, noisy):
    return rp.plant(city=city.city, day=day, visitor=noisy, seed=3)


@pytest.fixture
def people(city):
    person = partial(staff, actor=city.actor)

    return type(
        "People",
        (),
        {
            "supervisor": person("supervisor", "supervisor", city.d1),
            "dispatcher": person("dispatcher", "street_dispatcher", city.s11),
            "other_dispatcher": person("other-dispatcher", "street_dispatcher", city.s12),
            "worker": person("worker", "grid_worker", city.g1111),
            "admin": person("admin", "region_admin", city.city),
        },
    )


@pytest.fixture
def client():
    """The risk pages as a Chinese-speaking supervisor reads them (the product's default language), unlike the
    ledger's tests one level up, which read English."""
    from django.test import Client

    return Client()


@pytest.fixture(autouse=True)
def _site_in_english():
    """The ledger's tests set the site to English; the risk tests keep the default (zh-hans)."""
