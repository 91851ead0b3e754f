"""Patterns the warning rules must find, planted in a generated city (seed_risk_patterns, and the rules' tests).

Like the other generators, this writes rows directly (no service, no notice): cases back-dated to the day they are
meant to be reported on, each with its report event and its ``new`` count added to the roll-up rows of its grid and
the grid's ancestors, as the case service would have on that day; households, residents and visits; and, through
the contract fields only, disputes.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cases.models import Case, CaseDaily, CaseEvent, CaseParty, Category, PartyRole
from cases.rollup import ancestor_paths
from grids.codes import Level
from grids.models import Region, User
from parties.models import Household, Resident, Tag, Visit

RISING_CATEGORY = "csgl-zdjy"  # 占道经营
DISPUTE_CATEGORY = "mdjf-llj"  # 邻里纠纷
CLUSTER_CATEGORY = "hjws-lj"  # 环境卫生 › 垃圾


def at_noon(day: date, minutes: int = 0) -> datetime:
    moment = datetime.combine(day, time(12, 0), tzinfo=timezone.get_default_timezone())
    return moment + timedelta(minutes=minutes)


def report_at(
    *, grid: Region, category: Category, at: datetime, lat: float | None = None, lng: float | None = None, title=""
) -> Case:
    """A case reported in ``grid`` at the moment ``at`` (in the past), with its event and its roll-up counts."""
    case = Case.objects.create(
        number=f"RK-{at:%Y%m%d}-{uuid.uuid4().hex[:8]}",
        title=title or category.name,
        category=category,
        region=grid,
        lat=lat,
        lng=lng,
        state="reported",
        level=Level.COMMUNITY,
    )
    Case.objects.filter(pk=case.pk).update(created_at=at)
    with connection.cursor() as cursor:  # events are immutable (a trigger refuses updates): written at ``at``
        cursor.execute(
            f"INSERT INTO {CaseEvent._meta.db_table} (case_id, at, transition, from_state, to_state, comment, data)"  # noqa: S608
            " VALUES (%s, %s, 'report', '', 'reported', '', '{}')",
            [case.pk, at],
        )
    day = timezone.localtime(at).date()
    for region in Region.objects.filter(path__in=ancestor_paths(grid.path)):
        row, _created = CaseDaily.objects.get_or_create(region=region, day=day, category=category)
        CaseDaily.objects.filter(pk=row.pk).update(new=F("new") + 1)
    return case


def household_with(*, grid: Region, names: list[str], created: date, tags: tuple[str, ...] = ()) -> Household:
    """A household on record since ``created`` with its residents (tagged with ``tags``, by code)."""
    household = Household.objects.create(
        region=grid, address=f"{grid.name}{uuid.uuid4().hex[:4]}号", member_count=len(names)
    )
    Household.objects.filter(pk=household.pk).update(created_at=at_noon(created))
    for name in names:
        resident = Resident.objects.create(region=grid, household=household, name=name)
        if tags:
            resident.tags.add(*Tag.objects.filter(kind="resident", code__in=tags))
    household.refresh_from_db()
    return household


def visit(*, household: Household, on: date, visitor: User) -> Visit:
    v = Visit.objects.create(region=household.region, household=household, visited_on=on, visitor=visitor)
    Household.objects.filter(pk=household.pk).update(last_visited_on=on)
    return v


def dispute(*, grid: Region, opened: datetime, parties: list[Household] = (), fell_apart: int = 0, status="mediating"):
    from mediation.models import Dispute, DisputeParty

    d = Dispute.objects.create(
        number=f"YJ-{opened:%Y%m%d}-{secrets.token_hex(4)}",
        title="邻里纠纷（生成）",
        region=grid,
        kind="neighbours",
        status=status,
        opened_at=opened,
        fell_apart_count=fell_apart,
    )
    for household in parties:
        resident = household.members.order_by("id").first()
        DisputeParty.objects.create(dispute=d, resident=resident, name=resident.name if resident else "")
    return d


@dataclass
class Planted:
    rising_grid: tuple[int, int]  # (grid, category)
    repeat_household: int
    cluster: list[int]  # case ids
    lonely_elder: int  # resident
    fell_apart: int  # dispute


def _grids(city: Region) -> list[Region]:
    return list(
        Region.objects.filter(path__startswith=city.path, depth=Level.GRID, is_active=True)
        .exclude(centre_lat=None)
        .order_by("path")
    )


@transaction.atomic
def plant(*, city: Region, day: date, visitor: User, seed: int = 11) -> Planted:
    """Plant one of each pattern under ``city``, to be found by the rules run over the data up to ``day``.

    A rising grid (steady 1–2 cases a week of 占道经营 for 8 weeks, then 10 in the last 7 days, no place: so they
    are not also a cluster); a household named in 4 cases in the last 60 days; 6 reports within 80 m of each
    other in the last 5 days; a lonely elder (独居老人) last visited 100 days ago; a dispute whose agreement fell
    apart twice and that is open again. Each in a different grid, chosen at random from the city's grids.
    """
    rng = random.Random(seed)
    grids = _grids(city)
    a, b, c, d, e = rng.sample(grids, 5)
    rising = Category.objects.get(code=RISING_CATEGORY)
    neighbours = Category.objects.get(code=DISPUTE_CATEGORY)
    rubbish = Category.objects.filter(code=CLUSTER_CATEGORY).first() or rising

    for week in range(1, 9):
        for k in range(1 + week % 2):
            report_at(grid=a, category=rising, at=at_noon(day - timedelta(days=7 * week + k + 1)), title="占道经营")
    for k in range(10):
        report_at(grid=a, category=rising, at=at_noon(day - timedelta(days=k % 6), minutes=k), title="占道经营（集中）")

    household = household_with(grid=b, names=["王建军", "李秀英"], created=day - timedelta(days=400))
    member = household.members.order_by("id").first()
    for k in range(4):
        case = report_at(grid=b, category=neighbours, at=at_noon(day - timedelta(days=5 + 14 * k)), title="邻里纠纷")
        CaseParty.objects.create(case=case, role=PartyRole.INVOLVED, resident=member)

    lat0, lng0 = c.centre_lat, c.centre_lng
    cluster = []
    for k in range(6):
        dlat = rng.uniform(-40, 40) / 111_320
        dlng = rng.uniform(-40, 40) / 96_000
        cluster.append(
            report_at(
                grid=c,
                category=rubbish,
                at=at_noon(day - timedelta(days=k % 5), minutes=k),
                lat=lat0 + dlat,
                lng=lng0 + dlng,
                title="垃圾堆放",
            ).pk
        )

    elder_home = household_with(grid=d, names=["赵桂芳"], created=day - timedelta(days=800), tags=("elderly-alone",))
    visit(household=elder_home, on=day - timedelta(days=100), visitor=visitor)
    elder = elder_home.members.get()

    other = household_with(grid=e, names=["陈国强"], created=day - timedelta(days=500))
    fell = dispute(grid=e, opened=at_noon(day - timedelta(days=120)), parties=[other], fell_apart=2, status="mediating")
    return Planted(
        rising_grid=(a.pk, rising.pk),
        repeat_household=household.pk,
        cluster=sorted(cluster),
        lonely_elder=elder.pk,
        fell_apart=fell.pk,
    )
