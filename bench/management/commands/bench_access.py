"""Measure the access policy and the point lookup on the data of seed_scale: median, p95 and queries per call.

Each figure is one call as a request makes it: a check with a cold per-request cache (a fresh user object, so
its grants are loaded), the same check warm, a scoped region list and its count, and locating a point.
"""

from __future__ import annotations

import bisect
import copy
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from grids import access, geo
from grids.codes import Level
from grids.models import Grant, Region, RegionGroupObjectPermission, RegionUserObjectPermission, User

PERM = "grids.view_region"
POOL = 200  # users sampled per level; the samples cycle through them
# Who is measured at each level: the roles seed_scale grants there.
LEVELS: list[tuple[str, Level, tuple[str, ...]]] = [
    ("grid worker", Level.GRID, ("grid_worker",)),
    ("community", Level.COMMUNITY, ("grid_leader", "community_staff")),
    ("street dispatcher", Level.STREET, ("street_dispatcher",)),
    ("district supervisor", Level.DISTRICT, ("supervisor",)),
    ("city admin", Level.CITY, ("region_admin",)),
]
INTRO = """# Performance

Figures of the access policy (`grids/access.py`) and of the point lookup (`grids/geo.py`) at the scale GovGrid
plans for: a city of 10,000 grids and 20,000 staff. `bench/` generates the data (`seed_scale`) and measures it
(`bench_access`); the sections between the markers below are rewritten by those commands.

What is measured, per call, as a request makes it:

- **check, cold**: `access.user_can(user, "grids.view_region", region)` on a fresh user object, i.e. the first
  check of a request, which loads the user's grants (one query);
- **check, warm**: the same with the grants already cached on the user object (no query);
- **scope, first 50**: `access.scope(user, "grids.view_region", Region.objects.filter(depth=5))` ordered by path,
  first 50 rows (grants already loaded);
- **scope, count**: `.count()` of the same queryset;
- **locate**: `geo.locate(lat, lng)` for random points inside the city.

Median and 95th percentile in milliseconds, and database queries per call
(`django.test.utils.CaptureQueriesContext`), for one user at each level of the tree.

Machine: 2 CPU cores and 24 GiB of memory, **shared with other work while measuring** (other test runs and
builds), with PostgreSQL on the same machine: take the figures as an upper bound, not a tuned server.

To reproduce, on a database of its own (the seed adds 11,111 regions and 20,000 accounts):

```sh
createdb -h 127.0.0.1 -U postgres govgrid_bench
export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/govgrid_bench
python manage.py migrate
python manage.py seed_scale --grids 10000 --staff 20000 --output docs/performance.md
python manage.py bench_access --samples 2000 --output docs/performance.md
```

`seed_scale` refuses a city code that exists; `--reset` deletes that city, its `scale-` accounts and teams first.
Every generated account has the password `scale-pass-12345` (for load tests through the web pages).
"""


def write_section(path: Path, name: str, body: str) -> None:
    """Rewrite what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` (appending the markers if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else INTRO
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def database_label() -> str:
    """The database server and its version, for the figures' heading."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    return f"{connection.vendor} {connection.Database.sqlite_version}"


def write_seed_section(path: Path, name: str, command: str, timings: dict[str, float], summary: str) -> None:
    """The timing table of a seed command (``seed_scale``, ``seed_cases``) in its section of ``path``."""
    rows = "\n".join(f"| {phase} | {seconds:.1f} |" for phase, seconds in timings.items())
    when = f"{timezone.localtime():%Y-%m-%d %H:%M %Z}"
    body = (
        f"Seeded {when} on {connection.vendor}: `{command}`\n\n{summary}\n\n| phase | seconds |\n|---|---:|\n{rows}\n"
    )
    write_section(path, name, body)


class Measure:
    """Timings and query counts of one row of the table."""

    def __init__(self, what: str, who: str) -> None:
        self.what, self.who = what, who
        self.seconds: list[float] = []
        self.queries: list[int] = []
        self.results: list[float] = []

    def run(self, call: Callable[[], Any]) -> Any:
        # The query log is a bounded deque: once full, CaptureQueriesContext would see no new entries.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            result = call()
            self.seconds.append(time.perf_counter() - start)
        self.queries.append(len(ctx.captured_queries))
        self.results.append(float(result if isinstance(result, int | float) else result is not None))
        return result

    def row(self, result_label: Callable[[list[float]], str]) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
        return (
            f"| {self.what} | {self.who} | {len(ms)} | {statistics.median(ms):.3f} | {p95:.3f} | "
            f"{statistics.mean(self.queries):.2f} | {result_label(self.results)} |"
        )


def share(results: list[float]) -> str:
    return f"{100 * statistics.mean(results):.0f}% yes"


def median_rows(results: list[float]) -> str:
    return f"{statistics.median(results):.0f} rows"


class Command(BaseCommand):
    help = "Benchmark access checks, scoped lists and locate() on the data of seed_scale."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--samples", type=int, default=2000, help="calls per measure and level")
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--output", help="rewrite the bench_access section of this Markdown file")

    def handle(self, *args: Any, **opts: Any) -> None:
        samples: int = opts["samples"]
        rng = random.Random(opts["seed"])
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale first.")
        grids = sorted(
            Region.objects.filter(path__startswith=city.path, depth=Level.GRID).only("id", "path", "depth"),
            key=lambda r: r.path,
        )
        paths = [g.path for g in grids]
        lines: list[str] = []
        started = time.perf_counter()
        for who, level, roles in LEVELS:
            users = self.pool(city, level, roles, rng)
            if not users:
                raise CommandError(f"No {who} with a grant in city {city.code}: run seed_scale first.")
            cold, warm = Measure("check, cold", who), Measure("check, warm", who)
            page, count = Measure("scope, first 50", who), Measure("scope, count", who)
            warm_users = [copy.copy(u) for u in users]
            for u in warm_users:
                access.user_can(u, PERM, city)  # loads and caches the grants, as an earlier check in the request
            for i in range(samples):
                template, warm_user = users[i % len(users)], warm_users[i % len(users)]
                # Half the targets lie under the user's home node, half anywhere in the city.
                lo, hi = (
                    bisect.bisect_left(paths, template.region.path),
                    bisect.bisect_right(paths, template.region.path + "~"),
                )
                target = grids[rng.randrange(lo, hi)] if i % 2 and hi > lo else rng.choice(grids)
                fresh = copy.copy(template)  # a new request's user: no grants cached yet
                cold.run(lambda u=fresh, t=target: access.user_can(u, PERM, t))
                warm.run(lambda u=warm_user, t=target: access.user_can(u, PERM, t))
                qs = access.scope(warm_user, PERM, Region.objects.filter(depth=Level.GRID))
                page.run(lambda qs=qs: len(list(qs.order_by("path")[:50])))
                count.run(lambda qs=qs: qs.count())
            lines += [cold.row(share), warm.row(share), page.row(median_rows), count.row(median_rows)]
        locate = Measure("locate", "—")
        for _ in range(samples):
            lat = rng.uniform(city.min_lat, city.max_lat)
            lng = rng.uniform(city.min_lng, city.max_lng)
            locate.run(lambda lat=lat, lng=lng: geo.locate(lat, lng))
        lines.append(locate.row(lambda r: f"{100 * statistics.mean(r):.0f}% found"))
        body = self.report(city, samples, lines, time.perf_counter() - started)
        self.stdout.write(body)
        if opts["output"]:
            write_section(Path(opts["output"]), "bench_access", body)
            self.stdout.write(f"Wrote the bench_access section of {opts['output']}.")

    def pool(self, city: Region, level: Level, roles: tuple[str, ...], rng: random.Random) -> list[User]:
        """Up to POOL users granted one of ``roles`` at a node of ``level`` in the city (never checked yet)."""
        ids = sorted(
            set(
                Grant.objects.filter(
                    region__path__startswith=city.path, region__depth=level, role__code__in=roles, user__isnull=False
                ).values_list("user_id", flat=True)
            )
        )
        chosen = rng.sample(ids, min(POOL, len(ids)))
        return list(User.objects.filter(pk__in=chosen).select_related("region").order_by("pk"))

    def report(self, city: Region, samples: int, lines: list[str], seconds: float) -> str:
        server = database_label()
        nodes = Region.objects.filter(path__startswith=city.path).count()
        staff = User.objects.filter(region__path__startswith=city.path).count()
        guardian = RegionUserObjectPermission.objects.count() + RegionGroupObjectPermission.objects.count()
        head = (
            f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z} on {server}, Python {platform.python_version()}, "
            f"Django {django.get_version()}; 2 cores shared with other work.\n\n"
            f"Data: city {city.code}, {nodes} regions, {staff} staff, {guardian} guardian rows. "
            f"`python manage.py bench_access --samples {samples} --city-code {city.code}` ({seconds:.0f} s).\n\n"
            "| measure | user at | calls | median ms | p95 ms | queries/call | result |\n"
            "|---|---|---:|---:|---:|---:|---|"
        )
        return head + "\n" + "\n".join(lines) + "\n"
