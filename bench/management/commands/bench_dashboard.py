"""Time the dashboard in-process on the data of seed_scale and seed_cases (whose last phase fills the roll-up).

Each page is requested through Django's test client in this process, as the person who opens it: the city admin's
dashboard and a street dispatcher's (the busiest street), a district supervisor's, each over 30 days, the city's over
this month, and the city's XLSX export (the pages and people of bench_pages, which times the first three beside the
case pages). The floor is one hand-written SQL query summing the city's own roll-up rows over the same 30 days,
timed the same way in the same run (no template, no Python around it)::

    python manage.py bench_dashboard --samples 200 --city-code 529900
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from bench.management.commands import bench_pages
from cases import overdue
from cases.models import CaseDaily
from grids.codes import Level
from grids.models import Region

FLOOR = "floor: one SQL sum of the city's roll-up rows"


def floor(city: Region, samples: int) -> dict[str, Any]:
    start = timezone.localdate() - timezone.timedelta(days=29)
    sql = (
        f"SELECT sum(new), sum(closed), sum(cohort_closed) FROM {CaseDaily._meta.db_table} "  # noqa: S608
        "WHERE region_id = %s AND day >= %s"
    )
    seconds = []
    with connection.cursor() as cursor:
        for _ in range(samples + 3):
            t = time.perf_counter()
            cursor.execute(sql, [city.pk, start])
            cursor.fetchall()
            seconds.append(time.perf_counter() - t)
    ms = sorted(s * 1000 for s in seconds[3:])
    return {"what": FLOOR, "median_ms": statistics.median(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))], "queries": 1}


class Command(BaseCommand):
    help = "Time the dashboard in-process (city admin, district supervisor, street dispatcher; 30 days), with a floor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--samples", type=int, default=100)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args: Any, **opts: Any) -> None:
        if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
            # the test client's host, in this process only
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale and seed_cases first.")
        if not CaseDaily.objects.filter(region=city).exists():
            raise CommandError("The roll-up of this city is empty: run rebuild_rollup (seed_cases does it).")
        pages = bench_pages.dashboard_pages(bench_pages.staff(city), every=True)
        rng = random.Random(opts["seed"])
        # beat's minute job that counts "overdue now" (cases.overdue), run before each page as beat would keep it fresh
        minute_jobs = []
        results = []
        for page in pages:
            minute_jobs.append(overdue.count_overdue())
            results.append(bench_pages.time_page(page, opts["samples"], rng))
        results.append(floor(city, opts["samples"]))
        base = results[-1]["median_ms"]
        self.stdout.write(f"{opts['samples']} requests a page, in-process; roll-up rows: {CaseDaily.objects.count()}")
        seconds = sorted(j["seconds"] for j in minute_jobs if j)
        if seconds:
            self.stdout.write(
                f"overdue now counted once a minute: {minute_jobs[0]['cases']} overdue cases, "
                f"{minute_jobs[0]['rows']} rows, {seconds[len(seconds) // 2]:.2f} s a run (median of {len(seconds)})"
            )
        for row in results:
            ratio = row["median_ms"] / base if base else 0.0
            self.stdout.write(
                f"{row['what']:<46} median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                f"{row['queries']:3d} queries  {ratio:6.1f}× the floor"
            )
