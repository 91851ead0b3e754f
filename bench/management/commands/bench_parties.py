"""Measure the parties pages on the data of seed_parties, in-process (Django's test client, the whole request:
middleware, access checks, queries, templates): median, p95 and queries per request.

- **reference: base page**: the search page without a query, i.e. the base layout alone (the floor every page pays
  on this machine at the time of the run);
- **household list**: a grid worker's first page of his grid's households (``/parties/regions/<grid>/``);
- **ID search**: a street dispatcher's search by an exact ID number (``/parties/search/?q=…``: the number's keyed
  hash, one indexed lookup), for residents of the street;
- **coverage, community**: community staff's coverage page of their community (``/parties/regions/<c>/coverage/``);
- **coverage roll-up, district**: ``parties.coverage.region_coverage`` of a whole district (the counts of every
  grid summed per street), and the district's coverage page as a supervisor sees it.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import django
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.management.commands.bench_access import database_label, write_section
from grids.codes import Level
from grids.models import Grant, Region, User
from parties import coverage, crypto
from parties.models import Household, Keeping, Organisation, PartyMember, Resident, Visit

GOALS = {"household list": 50, "ID search": 50, "coverage, community": 50, "coverage roll-up, district": 500}


class Timer:
    def __init__(self, what: str, who: str) -> None:
        self.what, self.who = what, who
        self.ms: list[float] = []
        self.queries: list[int] = []

    def run(self, call) -> Any:
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            result = call()
            self.ms.append((time.perf_counter() - start) * 1000)
        self.queries.append(len(ctx.captured_queries))
        return result

    def row(self) -> str:
        ms = sorted(self.ms)
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
        goal = GOALS.get(self.what.split(" (")[0], 0)
        verdict = "" if not goal else ("yes" if p95 < goal else "**no**")
        return (
            f"| {self.what} | {self.who} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | "
            f"{statistics.mean(self.queries):.1f} | {goal or '—'} | {verdict} |"
        )


class Command(BaseCommand):
    help = "Benchmark the parties pages (household list, ID search, coverage) on the data of seed_parties."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--samples", type=int, default=300)
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument(
            "--import-rows", type=int, default=100_000, help="rows of the household file imported (0: skip)"
        )
        parser.add_argument("--output", help="rewrite the bench_parties section of this Markdown file")

    def handle(self, *args: Any, **opts: Any) -> None:
        rng = random.Random(opts["seed"])
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None or not Household.objects.filter(region__path__startswith=city.path).exists():
            raise CommandError(f"City {opts['city_code']} has no households: run seed_scale and seed_parties first.")
        samples = opts["samples"]
        started = time.perf_counter()
        people = self.people(city)
        lines = []

        # The floor: the search page without a query is the base layout alone (session, user, grants, menu).
        timer = Timer("reference: base page", "grid worker")
        for i in range(samples):
            user, _grid = people["grid_worker"][i % len(people["grid_worker"])]
            client = self.client(user)
            timer.run(lambda c=client: self.get(c, "/parties/search/"))
        lines.append(timer.row())

        # A grid worker's first page of his grid's households.
        timer = Timer("household list", "grid worker")
        for i in range(samples):
            user, grid = people["grid_worker"][i % len(people["grid_worker"])]
            client = self.client(user)
            timer.run(lambda c=client, g=grid: self.get(c, f"/parties/regions/{g}/"))
        lines.append(timer.row())

        # A street dispatcher searches a resident of his street by the whole ID number.
        timer = Timer("ID search", "street dispatcher")
        for i in range(samples):
            user, street = people["street_dispatcher"][i % len(people["street_dispatcher"])]
            resident = self.resident_under(street, rng)
            number = crypto.decrypt(resident.id_number_enc)
            client = self.client(user)
            body = timer.run(lambda c=client, n=number: self.get(c, "/parties/search/", {"q": n}))
            if resident.name not in body:
                raise CommandError(f"The search for resident {resident.pk} did not find them.")
        lines.append(timer.row())

        # Community staff open their community's coverage page.
        timer = Timer("coverage, community", "community staff")
        for i in range(samples):
            user, community = people["community_staff"][i % len(people["community_staff"])]
            client = self.client(user)
            timer.run(lambda c=client, r=community: self.get(c, f"/parties/regions/{r}/coverage/"))
        lines.append(timer.row())

        # The roll-up of a district: every grid's counts summed per street.
        districts = list(Region.objects.filter(path__startswith=city.path, depth=Level.DISTRICT).defer("boundary"))
        timer = Timer("coverage roll-up, district", "(function)")
        page = Timer("coverage roll-up, district (page)", "district supervisor")
        for i in range(max(20, samples // 10)):
            district = districts[i % len(districts)]
            timer.run(lambda d=district: coverage.region_coverage(region=d))
            user, node = people["supervisor"][i % len(people["supervisor"])]
            client = self.client(user)
            page.run(lambda c=client, r=node: self.get(c, f"/parties/regions/{r}/coverage/"))
        lines += [timer.row(), page.row()]

        imported = self.bench_import(city, opts["import_rows"], people) if opts["import_rows"] else ""
        body = self.report(city, samples, lines, time.perf_counter() - started) + imported
        self.stdout.write(body)
        if opts["output"]:
            write_section(Path(opts["output"]), "bench_parties", body)
            self.stdout.write(f"Wrote the bench_parties section of {opts['output']}.")

    def bench_import(self, city: Region, rows: int, people: dict) -> str:
        """A file of ``rows`` residents (2.5 a household, in every grid of one district) planned and written by the
        import task's own function, as the Celery worker runs it; then the rows are deleted again."""
        from bench.management.commands.seed_parties import id_number
        from parties import importing, transfer
        from parties.models import ImportJob

        district = Region.objects.filter(path__startswith=city.path, depth=Level.DISTRICT).order_by("path").first()
        grids = list(
            Region.objects.filter(path__startswith=district.path, depth=Level.GRID)
            .order_by("path")
            .values_list("code", flat=True)
        )
        lines = [",".join(transfer.HEADINGS[c] for c in transfer.HOUSEHOLD_COLUMNS)]
        base = 50_000_000  # far beyond the numbers seed_parties used
        for i in range(rows):
            grid, household = grids[(i // 3) % len(grids)], i // 3
            number = id_number(base + i)
            relation = "户主" if i % 3 == 0 else "配偶" if i % 3 == 1 else "子女"
            lines.append(
                f"{grid},{household % 6 + 1}栋,3,,导入{household},,自住,IMP{household},导入居民{i},,,{number},"
                f"139{i:08d},{relation},,2024-01-01"
            )
        data = ("\n".join(lines) + "\n").encode()
        admin = User.objects.filter(grants__role__code="region_admin", grants__region=city).first()
        if admin is None:
            raise CommandError("No region admin of the city: run seed_scale first.")
        started = time.perf_counter()
        plan = transfer.plan(actor=admin, kind="households", data=data)
        preview = time.perf_counter() - started
        if not plan.ok:
            raise CommandError(f"The generated file has problems: {plan.errors[:3]}")
        # The job as import_queue leaves it, without handing it to a broker: this process is the worker.
        job = ImportJob.objects.create(
            kind="households", region=plan.region, actor=admin, filename="bench.csv", data=data, total=len(plan.rows)
        )
        started = time.perf_counter()
        importing.import_run(job_id=job.pk)
        run = time.perf_counter() - started
        job.refresh_from_db()
        if job.state != "done":
            raise CommandError(f"The import failed: {job.result}")
        self.forget_import(district)
        ImportJob.objects.filter(pk=job.pk).delete()
        return (
            f"\nImport of a {rows:,}-row household file ({len(data) / 1e6:.1f} MB CSV, {job.result['households']:,} "
            f"households and {job.result['residents']:,} residents in {len(grids):,} grids of one district), as the "
            f"Celery task runs it (`parties.importing.import_run`, one transaction): **{run:.0f} s**; the page's "
            f"preview of the same file (`transfer.plan`, every row checked, nothing written) took {preview:.0f} s. "
            "The rows were deleted afterwards.\n"
        )

    @staticmethod
    def forget_import(district: Region) -> None:
        regions = "(SELECT id FROM grids_region WHERE path LIKE %s)"
        households = f"(SELECT id FROM parties_household WHERE region_id IN {regions} AND room LIKE '导入%%')"  # noqa: S608
        with connection.cursor() as cursor:
            for sql in (
                f"DELETE FROM parties_residence WHERE household_id IN {households}",  # noqa: S608
                f"DELETE FROM parties_resident WHERE household_id IN {households}",  # noqa: S608
                f"DELETE FROM parties_household WHERE id IN {households}",  # noqa: S608
            ):
                cursor.execute(sql, [district.path + "%"])

    def people(self, city: Region) -> dict[str, list[tuple[User, int]]]:
        """Up to 100 staff per role with the region of their grant (seed_scale's grants)."""
        found: dict[str, list[tuple[User, int]]] = {}
        for role in ("grid_worker", "street_dispatcher", "community_staff", "supervisor"):
            rows = list(
                Grant.objects.filter(region__path__startswith=city.path, role__code=role, user__isnull=False)
                .select_related("user")
                .order_by("id")[:100]
            )
            if not rows:
                raise CommandError(f"No {role} in city {city.code}: run seed_scale first.")
            found[role] = [(g.user, g.region_id) for g in rows]
        return found

    def client(self, user: User) -> Client:
        client = Client(SERVER_NAME="localhost", headers={"accept-language": "zh-hans"})
        client.force_login(user)
        return client

    @staticmethod
    def get(client: Client, url: str, params: dict | None = None) -> str:
        response = client.get(url, params or {})
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}")
        return response.content.decode()

    def resident_under(self, region_id: int, rng: random.Random) -> Resident:
        region = Region.objects.get(pk=region_id)
        grid = (
            Region.objects.filter(path__startswith=region.path, depth=Level.GRID)
            .order_by("path")
            .only("id")[rng.randrange(0, 100)]
        )
        rows = Resident.objects.filter(region_id=grid.pk).only("id", "name", "id_number_enc").order_by("id")
        return rows[rng.randrange(0, max(1, rows.count() - 1))]

    def report(self, city: Region, samples: int, lines: list[str], seconds: float) -> str:
        where = {"region__path__startswith": city.path}
        counts = {
            "households": Household.objects.filter(**where).count(),
            "residents": Resident.objects.filter(**where).count(),
            "organisations": Organisation.objects.filter(**where).count(),
            "members": PartyMember.objects.filter(**where).count(),
            "keepings": Keeping.objects.count(),
            "visits": Visit.objects.filter(**where).count(),
        }
        head = (
            f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z} on {database_label()}, Python "
            f"{platform.python_version()}, Django {django.get_version()}; 2 cores shared with other work.\n\n"
            f"Data: city {city.code}: {counts['households']} households, {counts['residents']} residents, "
            f"{counts['organisations']} organisations, {counts['members']} party members, {counts['keepings']} "
            f"包联, {counts['visits']} visits. `python manage.py bench_parties --samples {samples} --city-code "
            f"{city.code}` ({seconds:.0f} s). Whole requests through Django's test client in this process "
            "(middleware, access checks, queries, templates; Chinese pages), warm after the first.\n\n"
            "| measure | as | requests | median ms | p95 ms | queries | goal p95 ms | met |\n"
            "|---|---|---:|---:|---:|---:|---:|---|"
        )
        return head + "\n" + "\n".join(lines) + "\n"
