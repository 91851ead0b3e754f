"""Measure the case pages through HTTP with concurrent clients, on the data of seed_scale and seed_cases.

The command starts the app itself in production mode (DEBUG off, the static files built as the Dockerfile builds
them, gunicorn with gunicorn.conf.py, on a free loopback port, the same database), signs in as staff of the scale
city, and has N client threads fire one kind of request each for a bounded time: the street queue, the case list of
a district supervisor who is also a department member and of the city admin, a case page, a department inbox, the
case map's data of the supervisor's district, the dashboard of the city (its admin) and of the busiest street (its
dispatcher) over 30 days, reporting a case, dispatching an accepted case, and the floor (one SQL query for the street queue's rows and a
minimal template, bench/views.py). It reports the median and 95th percentile latency seen by the clients, the
throughput and each page's ratio to the floor, then times the same pages in-process (bench_pages, same
production settings). Reports and dispatches change the data; ``seed_cases --reset`` starts over.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from bench.management.commands import bench_pages
from bench.management.commands.bench_access import database_label, write_section
from bench.management.commands.seed_cases import require_migrated
from bench.management.commands.seed_scale import SCALE_PASSWORD, user_prefix
from cases import overdue, services
from cases.models import Case, CaseEvent, Category, WorkOrder
from cases.workflow import State
from grids.codes import Level
from grids.models import Department, Grant, Region, User

HOST = "127.0.0.1"  # the server and the clients stay on this machine
MAX_CLIENTS = 64
CASES_PER_VIEWER = 300  # case pages each client picks from
MAX_DISPATCHES = 600  # accepted cases held ready per client (a client that runs out stops)
WARMUP = 2  # requests per client before timing (templates, connections, plans)
TIMEOUT = 60


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Time the POST itself: the redirect to the case page is the sign of success, not a second request."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """One person's browser: a cookie jar, the CSRF cookie sent back as the form token, no redirects followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path: str, data: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        """(status, body, Location) of one request; a 3xx or 4xx is an answer, not an exception."""
        body = None
        if data is not None:
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf()}, doseq=True).encode()
        req = urllib.request.Request(self.base + path, data=body, headers={"Accept-Language": "zh-hans"})  # noqa: S310 - loopback
        try:
            with self.opener.open(req, timeout=TIMEOUT) as resp:
                return resp.status, resp.read(), resp.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Location", "")

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == settings.CSRF_COOKIE_NAME), "")

    def login(self, username: str, password: str) -> None:
        path = reverse("login")
        self.request(path)  # sets the CSRF cookie
        status, body, location = self.request(path, {"username": username, "password": password})
        if status != 302:
            raise CommandError(f"Could not sign in as {username} (HTTP {status}): is the password {password}?")


@dataclass
class Viewer:
    """A client's identity and what it works on."""

    username: str
    label: str
    case_ids: list[int] = field(default_factory=list)
    to_dispatch: list[tuple[int, int, int]] = field(default_factory=list)  # (case id, version, lead department)
    grid_id: int = 0
    grid_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class Result:
    what: str
    clients: int
    seconds: list[float] = field(default_factory=list)
    failed: int = 0
    wall: float = 0.0
    client_cpu: float = 0.0  # CPU seconds of this process (all client threads) while measuring
    first_failure: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, ok: bool, detail: str) -> None:
        with self.lock:
            if ok:
                self.seconds.append(seconds)
            else:
                self.failed += 1
                self.first_failure = self.first_failure or detail

    @property
    def median(self) -> float:
        return statistics.median(s * 1000 for s in self.seconds) if self.seconds else 0.0

    def row(self, floor: Result | None = None) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        cpu = f"{100 * self.client_cpu / self.wall:.0f}%" if self.wall else "–"
        if not ms:
            return f"| {self.what} | {self.clients} | 0 | – | – | – | – | – | {self.failed} | {cpu} |"
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
        rate = len(ms) / self.wall if self.wall else 0
        if floor is not None and floor.median and "(GET)" in self.what:
            versus = f"{floor.median:.0f} | {statistics.median(ms) / floor.median:.1f}×"
        else:
            versus = "– | –"
        return (
            f"| {self.what} | {self.clients} | {len(ms)} | {statistics.median(ms):.0f} | {p95:.0f} | {rate:.1f} | "
            f"{versus} | {self.failed} | {cpu} |"
        )


# A call takes (client, viewer, rng, n) and returns (ok, detail); None when the client has nothing left to do.
Call = Callable[[Client, Viewer, random.Random, int], tuple[bool, str] | None]


def expect(status: int, wanted: int, body: bytes, location: str = "") -> tuple[bool, str]:
    ok = status == wanted
    return ok, "" if ok else f"HTTP {status} {location} {body[:300].decode('utf-8', 'replace')!r}"


@contextlib.contextmanager
def minute_counts(out) -> Iterator[None]:
    """Stand in for beat's minute job that counts "overdue now" (cases.overdue), which the dashboard reads: run it
    now and every 60 s while the server is measured, so its cost is part of the load as it is in production."""
    stop = threading.Event()
    first = overdue.count_overdue()
    out.write(f"overdue now counted: {first}")

    def loop() -> None:
        try:
            while not stop.wait(60):
                overdue.count_overdue()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Command(BaseCommand):
    help = "Benchmark the street queue, the case page, reporting and dispatching over HTTP with concurrent clients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clients", default="1,10", help="concurrent clients, or a list such as 1,10 (one run each)"
        )
        parser.add_argument("--duration", type=float, default=20.0, help="seconds per measure and client count")
        parser.add_argument("--requests", type=int, default=1000, help="at most this many requests per measure")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--output", help="rewrite the bench_cases section of this Markdown file")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            counts = sorted({int(c) for c in str(opts["clients"]).split(",") if c.strip()})
        except ValueError as exc:
            raise CommandError("--clients takes numbers, e.g. 8 or 1,8.") from exc
        if not counts or counts[0] < 1 or counts[-1] > MAX_CLIENTS:
            raise CommandError(f"Give between 1 and {MAX_CLIENTS} clients.")
        if opts["duration"] <= 0 or opts["duration"] > 600 or opts["requests"] < 1:
            raise CommandError("Give --duration between 0 and 600 seconds and --requests ≥ 1.")
        require_migrated()  # the server would answer 500 on every page
        rng = random.Random(opts["seed"])
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale and seed_cases first.")
        # Each run (one client count) has people of its own, so one run's dispatches do not eat the next one's.
        wants = [max(10, min(MAX_DISPATCHES, opts["requests"] // c + 1)) for c in counts for _ in range(c)]
        dispatchers = self.dispatchers(city, wants, rng)
        workers = self.grid_workers(city, len(wants), rng)
        categories = list(Category.objects.filter(parent__isnull=False, is_active=True).values_list("pk", flat=True))
        data = self.data_size(city)
        self.stdout.write(data)

        started = time.perf_counter()
        load_before = os.getloadavg()
        self.static_root = tempfile.mkdtemp(prefix="govgrid-bench-static-")
        results: list[Result] = []
        page_kinds = bench_pages.pages(city, rng)
        with self.server(opts["workers"]) as base, minute_counts(self.stdout):
            sessions = {v.username: self.session(base, v) for v in dispatchers + workers}
            queue_path = reverse("street_queue")
            api_path = "/api/v1/cases/?queue=street"  # the same rows as JSON, through the REST API

            def street_queue(client: Client, viewer: Viewer, rng: random.Random, i: int):
                status, body, location = client.request(queue_path)
                return expect(status, 200, body, location)

            def street_queue_api(client: Client, viewer: Viewer, rng: random.Random, i: int):
                status, body, location = client.request(api_path)
                return expect(status, 200, body, location)

            def page_of(kind: bench_pages.Page) -> Call:
                def call(client: Client, viewer: Viewer, rng: random.Random, i: int):
                    status, body, location = client.request(rng.choice(kind.paths))
                    return expect(status, 200, body, location)

                return call

            def team_of(kind: bench_pages.Page) -> list[Viewer]:
                """As many clients as the largest run, each its own session of the page's person."""
                team = []
                for k in range(sum(counts)):
                    viewer = Viewer(kind.user.username, kind.what)
                    sessions[f"{kind.user.username}#{k}"] = self.session(base, viewer)
                    viewer.username = f"{kind.user.username}#{k}"
                    team.append(viewer)
                return team

            def case_page(client: Client, viewer: Viewer, rng: random.Random, i: int):
                status, body, location = client.request(reverse("case_detail", args=[rng.choice(viewer.case_ids)]))
                return expect(status, 200, body, location)

            def report(client: Client, viewer: Viewer, rng: random.Random, i: int):
                lat0, lat1, lng0, lng1 = viewer.grid_box
                form = {
                    "category": rng.choice(categories),
                    "title": f"基准测试上报 {i}",
                    "description": "bench_cases: 网格员巡查发现。",
                    "urgency": "",
                    "source": "patrol",
                    "region": viewer.grid_id,
                    "lat": f"{rng.uniform(lat0, lat1):.6f}",
                    "lng": f"{rng.uniform(lng0, lng1):.6f}",
                    "address": "基准测试路 1 号",
                    "reporter_contact": "",
                    "confirm_nearby": "1",  # the page has asked report/nearby/ before submitting
                }
                status, body, location = client.request(reverse("case_report"), form)
                return expect(status, 302, body, location)

            def dispatch(client: Client, viewer: Viewer, rng: random.Random, i: int):
                if not viewer.to_dispatch:
                    return None
                pk, version, lead = viewer.to_dispatch.pop()
                form = {"version": version, "lead": lead, "comment": "请于时限内到场处置。"}
                status, body, location = client.request(reverse("case_action", args=[pk, "dispatch"]), form)
                return expect(status, 302, body, location)

            by_name = {kind.what: kind for kind in page_kinds}
            measures: list[tuple[str, Call, list[Viewer]]] = [
                ("street queue (GET)", street_queue, dispatchers),
                ("street queue API, JSON (GET)", street_queue_api, dispatchers),
                ("case page (GET)", case_page, dispatchers),
                *[
                    (f"{what} (GET)", page_of(by_name[what]), team_of(by_name[what]))
                    for what in (
                        "district list (supervisor, department member)",
                        "city list (city admin)",
                        "department inbox",
                        bench_pages.DISTRICT_MAP,
                        bench_pages.CITY_DASHBOARD,
                        bench_pages.STREET_DASHBOARD,
                        bench_pages.FLOOR,
                    )
                ],
                ("report a case (POST)", report, workers),
                ("dispatch a case (POST)", dispatch, dispatchers),
            ]
            for what, call, viewers in measures:
                for k in range(len(counts)):
                    team = viewers[sum(counts[:k]) : sum(counts[: k + 1])]
                    result = self.measure(what, call, team, sessions, rng, opts)
                    results.append(result)
                    self.stdout.write(result.row())
                    if result.first_failure:
                        self.stderr.write(f"  first failure: {result.first_failure}")
        in_process = self.in_process(opts)
        shutil.rmtree(self.static_root, ignore_errors=True)
        load_after = os.getloadavg()
        body = self.report(opts, counts, results, data, time.perf_counter() - started, load_before, load_after)
        body += self.in_process_table(in_process, opts)
        self.stdout.write(body)
        broken = [r.what for r in results if not r.seconds]
        if broken:  # keep the figures of the last good run
            raise CommandError(f"No request succeeded for {', '.join(sorted(set(broken)))}: nothing written.")
        if opts["output"]:
            write_section(Path(opts["output"]), "bench_cases", body)
            self.stdout.write(f"Wrote the bench_cases section of {opts['output']}.")

    def in_process(self, opts: dict[str, Any]) -> list[dict[str, Any]]:
        """bench_pages in a process of its own with the production settings (DEBUG off, the floor mounted)."""
        result = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "manage.py",
                "bench_pages",
                "--json",
                "--city-code",
                opts["city_code"],
                "--samples",
                "200",
            ],
            cwd=settings.BASE_DIR,
            env=production_env(self.static_root),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if result.returncode != 0:
            raise CommandError(f"bench_pages failed:\n{result.stderr[-3000:]}")
        found = json.loads(result.stdout.strip().splitlines()[-1])
        if found["debug"]:
            raise CommandError("bench_pages ran with DEBUG on: the figures would not be production's.")
        return found["pages"]

    def in_process_table(self, rows: list[dict[str, Any]], opts: dict[str, Any]) -> str:
        lines = [
            "",
            "In-process, the same settings (Django's test client in one process, 200 requests a page, no network): "
            f"`DEBUG=0 GOVGRID_BENCH_FLOOR=1 python manage.py bench_pages --city-code {opts['city_code']}`.",
            "",
            "| page | median ms | p95 ms | queries | × floor |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in rows:
            lines.append(
                f"| {row['what']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | {row['queries']} | {row['ratio']:.2f}× |"
            )
        return "\n".join(lines) + "\n"

    # --- who does what ----------------------------------------------------------------------------------------

    def dispatchers(self, city: Region, wants: list[int], rng: random.Random) -> list[Viewer]:
        """Street dispatchers of the streets with the most accepted cases, each with case pages to open and
        ``wants[i]`` accepted cases of their street to dispatch (topped up through the services if too few)."""
        n = len(wants)
        streets = list(Region.objects.filter(path__startswith=city.path, depth=Level.STREET).only("id", "path", "code"))
        accepted = dict(
            Case.objects.filter(region__path__startswith=city.path, state=State.ACCEPTED, level=Level.STREET)
            .values_list("region__path")
            .annotate(n=Count("id"))
        )
        per_street: dict[str, int] = {}
        for path, count in accepted.items():
            key = path[: Level.STREET * Region.steplen]
            per_street[key] = per_street.get(key, 0) + count
        streets.sort(key=lambda s: (-per_street.get(s.path, 0), s.path))
        viewers = []
        for street in streets:
            grant = (
                Grant.objects.filter(region=street, role__code="street_dispatcher", user__isnull=False)
                .select_related("user")
                .order_by("user_id")
                .first()
            )
            if grant is None or not grant.user.username.startswith(user_prefix(city.code)):
                continue
            viewer = Viewer(grant.user.username, "street dispatcher")
            ids = list(Case.objects.filter(region__path__startswith=street.path).values_list("pk", flat=True))
            viewer.case_ids = rng.sample(ids, min(CASES_PER_VIEWER, len(ids)))
            if not viewer.case_ids:
                continue
            viewer.to_dispatch = self.accepted_cases(street, grant.user, wants[len(viewers)])
            viewers.append(viewer)
            if len(viewers) == n:
                return viewers
        raise CommandError(f"Found {len(viewers)} street dispatchers with cases, {n} needed: run seed_cases first.")

    def accepted_cases(self, street: Region, dispatcher: User, want: int) -> list[tuple[int, int, int]]:
        """(case, version, lead department) of accepted cases held by the street, creating the missing ones as
        the app would (report, call the street, accept)."""
        rows = list(
            Case.objects.filter(region__path__startswith=street.path, state=State.ACCEPTED, level=Level.STREET)
            .select_related("region", "category")
            .order_by("-created_at")[:want]
        )
        missing = want - len(rows)
        if missing > 0:
            rows += self.make_accepted(street, dispatcher, missing)
        found = []
        fallback = Department.objects.filter(
            region__path__in=[street.path, street.path[: Level.DISTRICT * Region.steplen]], is_active=True
        ).first()
        for case in rows:
            lead = services.suggest_departments(case=case) or ([fallback] if fallback else [])
            if lead:
                found.append((case.pk, case.version, lead[0].pk))
        return found

    def make_accepted(self, street: Region, dispatcher: User, count: int) -> list[Case]:
        grants = Grant.objects.filter(region__path__startswith=street.path, user__isnull=False).select_related(
            "user", "region", "role"
        )
        triagers = [g for g in grants if g.role and g.role.code in ("grid_leader", "community_staff")]
        worker = triage = None
        for g in grants:
            if g.role and g.role.code == "grid_worker":
                # Whoever calls the street must triage in the grid's own community.
                triage = next((t for t in triagers if g.region.path.startswith(t.region.path)), None)
                if triage is not None:
                    worker = g
                    break
        if worker is None or triage is None:
            return []
        category = Category.objects.filter(parent__isnull=False, is_active=True).order_by("sort_order").first()
        made = []
        for i in range(count):
            case = services.case_report(
                reporter=worker.user, category=category, title=f"基准测试待派单 {i}", region=worker.region
            )
            case = services.case_transition(case=case, action="call_street", actor=triage.user, comment="需街道协调")
            made.append(services.case_transition(case=case, action="accept", actor=dispatcher))
        return made

    def grid_workers(self, city: Region, n: int, rng: random.Random) -> list[Viewer]:
        grants = list(
            Grant.objects.filter(
                region__path__startswith=city.path,
                region__depth=Level.GRID,
                role__code="grid_worker",
                user__username__startswith=user_prefix(city.code),
            )
            .select_related("user", "region")
            .order_by("id")[: max(50, n * 5)]
        )
        if len(grants) < n:
            raise CommandError(f"Found {len(grants)} grid workers, {n} needed: run seed_scale first.")
        viewers = []
        for g in rng.sample(grants, n):
            r = g.region
            viewer = Viewer(g.user.username, "grid worker", grid_id=r.pk)
            viewer.grid_box = (r.min_lat, r.max_lat, r.min_lng, r.max_lng)
            viewers.append(viewer)
        return viewers

    # --- the server and the clients ---------------------------------------------------------------------------

    def server(self, workers: int) -> _Server:
        self.running_server = _Server(workers, self.stdout, self.static_root)
        return self.running_server

    def session(self, base: str, viewer: Viewer) -> Client:
        client = Client(base)
        client.login(viewer.username.partition("#")[0], SCALE_PASSWORD)
        return client

    def measure(
        self,
        what: str,
        call: Call,
        viewers: list[Viewer],
        sessions: dict[str, Client],
        rng: random.Random,
        opts: dict[str, Any],
    ) -> Result:
        result = Result(what, len(viewers))
        budget = threading.Semaphore(opts["requests"])
        seeds = [rng.randrange(2**32) for _ in viewers]
        window: list[float] = []
        # Everyone starts timing together, after the warm-up; the barrier's action runs before anyone goes on.
        ready = threading.Barrier(
            len(viewers), action=lambda: window.extend((time.perf_counter(), time.process_time()))
        )

        def attempt(client: Client, viewer: Viewer, local: random.Random, i: int) -> tuple[bool, str] | None:
            try:
                return call(client, viewer, local, i)
            except Exception as exc:  # refused, reset, timed out, garbled: a failed request
                return False, repr(exc)

        def run(k: int) -> None:
            viewer, client, local = viewers[k], sessions[viewers[k].username], random.Random(seeds[k])
            for i in range(WARMUP):
                if attempt(client, viewer, local, -1 - i) is None:
                    break
            ready.wait()
            stop_at, i = window[0] + opts["duration"], 0
            while time.perf_counter() < stop_at and budget.acquire(blocking=False):
                start = time.perf_counter()
                outcome = attempt(client, viewer, local, i)
                if outcome is None:  # nothing left for this client (no accepted case to dispatch)
                    return
                result.add(time.perf_counter() - start, *outcome)
                i += 1

        threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(len(viewers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result.wall = time.perf_counter() - window[0]
        result.client_cpu = time.process_time() - window[1]
        return result

    # --- the report -------------------------------------------------------------------------------------------

    def data_size(self, city: Region) -> str:
        cases = Case.objects.filter(region__path__startswith=city.path)
        open_cases = cases.exclude(state__in=[State.CLOSED, State.CANCELLED]).count()
        grids = Region.objects.filter(path__startswith=city.path, depth=Level.GRID).count()
        staff = User.objects.filter(username__startswith=user_prefix(city.code)).count()
        return (
            f"Data: city {city.code}, {grids} grids, {staff} staff, {cases.count()} cases ({open_cases} open); "
            f"{CaseEvent.objects.count()} case events and {WorkOrder.objects.count()} work orders in the database."
        )

    def report(
        self,
        opts: dict[str, Any],
        counts: list[int],
        results: list[Result],
        data: str,
        seconds: float,
        load_before: tuple[float, ...],
        load_after: tuple[float, ...],
    ) -> str:
        server = database_label()
        clients = ",".join(str(c) for c in counts)
        command = (
            f"python manage.py bench_cases --clients {clients} --duration {opts['duration']:g} "
            f"--requests {opts['requests']} --workers {opts['workers']} --city-code {opts['city_code']}"
        )
        head = (
            f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z} on {server}, Python {platform.python_version()}, "
            f"Django {django.get_version()}; production mode (DEBUG off, collected static files, gunicorn.conf.py with "
            f"{opts['workers']} sync workers), on the same "
            f"{os.cpu_count()} shared cores as PostgreSQL and the clients (load average {load_before[0]:.1f} before, "
            f"{load_after[0]:.1f} after).\n\n"
            f"{data}\n\n`{command}` ({seconds:.0f} s). Latency is what a client sees, from sending the request to "
            "the last byte of the answer (redirects not followed), queueing for a free worker included; "
            "*client CPU* is what the client threads themselves took of one core meanwhile; *floor* is the median of "
            "the floor page (one SQL query for the street queue's rows and a minimal template) at the same number of "
            "clients in the same run, and *× floor* a page's median over it.\n\n"
            "| what | clients | requests | median ms | p95 ms | req/s | floor ms | × floor | failed | client CPU |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
        floors = {r.clients: r for r in results if r.what.startswith(bench_pages.FLOOR)}
        return head + "\n" + "\n".join(r.row(floors.get(r.clients)) for r in results) + "\n"


def production_env(static_root: str) -> dict[str, str]:
    """The environment of production mode for the server and the in-process timings: DEBUG off, fresh keys, the
    same database and cache as this command, the floor page mounted."""
    import base64

    if "DATABASE_URL" not in os.environ:
        raise CommandError("Set DATABASE_URL (the server must use the same database as this command).")
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GOVGRID_FIELD_KEYS": os.environ.get("GOVGRID_FIELD_KEYS") or base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "GOVGRID_HMAC_KEY": os.environ.get("GOVGRID_HMAC_KEY") or secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": f"{HOST},testserver",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "STATIC_ROOT": static_root,
        "GOVGRID_BENCH_FLOOR": "1",
        # A benchmark sends far more than a person: the API's per-user throttle would answer 429.
        "GOVGRID_API_RATE_USER": "1000000/min",
    }


def build_static(env: dict[str, str]) -> None:
    """The production static files (hashed names, compressed), as the Dockerfile builds them."""
    marker = Path(env["STATIC_ROOT"]) / "staticfiles.json"
    if marker.exists():
        return
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise CommandError(f"collectstatic failed:\n{result.stderr[-2000:]}")


class _Server:
    """gunicorn serving this project in production mode on a free loopback port, stopped on exit."""

    def __init__(self, workers: int, out: Any, static_root: str) -> None:
        self.workers, self.out, self.static_root = workers, out, static_root
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> str:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        env = production_env(self.static_root)
        env.update({"GUNICORN_BIND": f"{HOST}:{port}", "WEB_CONCURRENCY": str(self.workers), "GUNICORN_TIMEOUT": "120"})
        build_static(env)
        cmd = [sys.executable, "-m", "gunicorn", "govgrid.wsgi:application", "--config", "gunicorn.conf.py"]
        cmd += ["--access-logfile", "/dev/null", "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=self.log)  # noqa: S603
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CommandError(f"gunicorn exited with {self.proc.returncode}:\n{self._log()}")
            try:
                with urllib.request.urlopen(base + reverse("login"), timeout=5) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        self.out.write(f"Server up at {base} (gunicorn, {self.workers} workers, DEBUG off).")
                        return base
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise CommandError(f"gunicorn did not answer within 60 s:\n{self._log()}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:].decode("utf-8", "replace")
