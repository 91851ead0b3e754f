"""Time the case pages in-process beside their floor, on the data of seed_scale and seed_cases.

Each page is requested through Django's test client in this process (no network, no server: the framework, the
queries and the templates only), as the person who uses it: the street queue of a street dispatcher (as a page and
through the API), the case list and the case map's data of a district supervisor who is also a member of a
department, the case list of the city's admin, a case page, a department's inbox, and the dashboard of the city (its
admin), of the district (the supervisor) and of the busiest street (its dispatcher) over 30 days. The floor is one
hand-written SQL query for the street queue's rows and a minimal template (bench/views.py), timed the same way in
the same run. bench_cases runs this command in production mode (DEBUG off) and prints its figures beside the HTTP
ones; it can also be run alone::

    DEBUG=0 SECRET_KEY=... GOVGRID_BENCH_FLOOR=1 python manage.py bench_pages --json
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.management.commands.seed_scale import user_prefix
from cases.models import Case, WorkOrder
from cases.workflow import State, WorkOrderState
from grids.codes import Level
from grids.models import Grant, Region, User

FLOOR = "floor: one SQL query + a minimal template"


@dataclass
class Page:
    what: str
    user: User
    paths: list[str]


def busiest_street(city: Region) -> tuple[Region, User]:
    """The street with the most open cases at street level, and its (generated) dispatcher."""
    open_states = [State.CALLED, State.ACCEPTED, State.ESCALATED, State.DISPATCHED, State.IN_PROGRESS]
    counts = (
        Case.objects.filter(region__path__startswith=city.path, state__in=open_states, level=Level.STREET)
        .values_list("region__path")
        .annotate(n=Count("id"))
    )
    per_street: dict[str, int] = {}
    for path, n in counts:
        per_street[path[: Level.STREET * Region.steplen]] = per_street.get(path[: Level.STREET * Region.steplen], 0) + n
    for path, _n in sorted(per_street.items(), key=lambda kv: -kv[1]):
        grant = (
            Grant.objects.filter(
                region__path=path, role__code="street_dispatcher", user__username__startswith=user_prefix(city.code)
            )
            .select_related("user", "region")
            .order_by("user_id")
            .first()
        )
        if grant:
            return grant.region, grant.user
    raise CommandError("No street dispatcher with open cases: run seed_scale and seed_cases first.")


@dataclass
class Staff:
    """The generated people whose pages are timed."""

    street: Region  # the busiest street
    dispatcher: User  # its dispatcher
    supervisor: User  # a district supervisor who is also a member of a department
    district: int  # his district
    admin: User  # the city's admin
    handler: User  # a member of the department with the most assigned work orders


def staff(city: Region) -> Staff:
    prefix = user_prefix(city.code)
    street, dispatcher = busiest_street(city)
    supervisor = (
        Grant.objects.filter(
            region__path__startswith=city.path,
            region__depth=Level.DISTRICT,
            role__code="supervisor",
            user__username__startswith=prefix,
            user__departments__isnull=False,
        )
        .select_related("user")
        .order_by("user_id")
        .first()
    )
    admin = (
        Grant.objects.filter(region=city, role__code="region_admin", user__username__startswith=prefix)
        .select_related("user")
        .order_by("user_id")
        .first()
    )
    member = (
        WorkOrder.objects.filter(
            case__region__path__startswith=city.path, state=WorkOrderState.ASSIGNED, department__members__isnull=False
        )
        .values_list("department_id", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if supervisor is None or admin is None or member is None:
        raise CommandError("The city lacks a supervisor with a department, a city admin or a staffed department.")
    handler = User.objects.filter(departments=member, username__startswith=prefix).order_by("pk").first()
    return Staff(street, dispatcher, supervisor.user, supervisor.region_id, admin.user, handler)


CITY_DASHBOARD = "city dashboard, 30 days (city admin)"
DISTRICT_DASHBOARD = "district dashboard, 30 days (supervisor)"
STREET_DASHBOARD = "street dashboard, 30 days (street dispatcher)"
DISTRICT_MAP = "district map data (supervisor)"


def dashboard_pages(people: Staff, *, every: bool = False) -> list[Page]:
    """The command centre as the people who open it: the city's, a district's and the busiest street's dashboard
    over 30 days; with ``every``, also the city over this month and the city's XLSX (bench_dashboard)."""
    url = reverse("dashboard:index")
    found = [
        Page(CITY_DASHBOARD, people.admin, [f"{url}?period=30"]),
        Page(DISTRICT_DASHBOARD, people.supervisor, [f"{url}?period=30"]),
        Page(STREET_DASHBOARD, people.dispatcher, [f"{url}?period=30"]),
    ]
    if every:
        found += [
            Page("city dashboard, this month", people.admin, [f"{url}?period=month"]),
            Page("city XLSX, 30 days", people.admin, [f"{reverse('dashboard:export')}?period=30"]),
        ]
    return found


def pages(city: Region, rng: random.Random) -> list[Page]:
    people = staff(city)
    street, dispatcher = people.street, people.dispatcher
    case_ids = list(Case.objects.filter(region__path__startswith=street.path).values_list("pk", flat=True)[:2000])
    return [
        Page("street queue", dispatcher, [reverse("street_queue")]),
        Page("street queue API, JSON", dispatcher, ["/api/v1/cases/?queue=street"]),
        Page("district list (supervisor, department member)", people.supervisor, [reverse("case_list")]),
        Page(
            DISTRICT_MAP,  # the case map's GeoJSON of his district, at three zooms
            people.supervisor,
            [f"{reverse('casemap:data')}?region={people.district}&zoom={z}" for z in (11, 12, 13)],
        ),
        Page("city list (city admin)", people.admin, [reverse("case_list")]),
        Page(
            "case page",
            dispatcher,
            [reverse("case_detail", args=[pk]) for pk in rng.sample(case_ids, min(50, len(case_ids)))],
        ),
        Page("department inbox", people.handler, [reverse("inbox")]),
        *dashboard_pages(people),
        Page(FLOOR, dispatcher, [f"/bench/floor/?path={street.path}"]),
    ]


def time_page(page: Page, samples: int, rng: random.Random) -> dict[str, Any]:
    gc.freeze()  # what gunicorn's workers do once loaded (gunicorn.conf.py): the loaded code is not collected
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(page.user)
    for path in page.paths[:3]:  # warm: templates, plans, caches
        client.get(path)
    seconds = []
    for _ in range(samples):
        path = rng.choice(page.paths)
        start = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise CommandError(f"{page.what}: {path} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(page.paths[0])
    ms = sorted(s * 1000 for s in seconds)
    return {
        "what": page.what,
        "median_ms": statistics.median(ms),
        "p95_ms": statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0],
        "queries": len(queries.captured_queries),
    }


class Command(BaseCommand):
    help = "Time the case pages in-process, each beside the floor (one SQL query and a minimal template)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--samples", type=int, default=200)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--json", action="store_true", help="print one JSON list (for bench_cases)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.GOVGRID_BENCH_FLOOR:
            raise CommandError("Set GOVGRID_BENCH_FLOOR=1: the floor page is mounted only then.")
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale and seed_cases first.")
        rng = random.Random(opts["seed"])
        results = [time_page(page, opts["samples"], rng) for page in pages(city, rng)]
        floor = results[-1]["median_ms"]
        for row in results:
            row["ratio"] = row["median_ms"] / floor if floor else 0.0
        if opts["json"]:
            self.stdout.write(json.dumps({"debug": settings.DEBUG, "pages": results}))
            return
        self.stdout.write(f"DEBUG={settings.DEBUG}; {opts['samples']} requests a page, in-process")
        for row in results:
            self.stdout.write(
                f"{row['what']:<50} median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                f"{row['queries']:3d} queries  {row['ratio']:.2f}× the floor"
            )
