"""Soak: the app in production mode under a steady mix of pages and posts, watching each worker's memory.

Ten clients (by default) each pick, request after request, one of the street queue, a case page, a district
supervisor's list and his district's map data, the city admin's list, a department inbox, the city's and the busiest
street's dashboard (30 days), reporting a case and dispatching one, for 30 minutes.
Every ten seconds the resident memory (VmRSS) of each gunicorn worker is read from /proc. Workers are not recycled
during the run (``max_requests`` off), so a leak would show. The command reports each worker's memory after the first
minute and at the end, the growth, the requests and any 5xx, and fails when a worker grew more than ``--max-growth``
percent or any request answered 5xx::

    DEBUG=1 DATABASE_URL=... python manage.py bench_soak --minutes 30 --clients 10 --output docs/performance.md
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from bench.management.commands import bench_cases, bench_pages
from bench.management.commands.bench_access import write_section
from bench.management.commands.seed_cases import require_migrated
from cases.models import Category
from grids.codes import Level
from grids.models import Region


def workers_of(master: int) -> list[int]:
    """The gunicorn workers: the master's children."""
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Command(BaseCommand):
    help = "Run a mixed load against the app in production mode and check that no worker's memory keeps growing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=30.0)
        parser.add_argument("--clients", type=int, default=10)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--max-growth", type=float, default=10.0, help="percent, from the first minute to the end")
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--output", help="rewrite the bench_soak section of this Markdown file")

    def handle(self, *args: Any, **opts: Any) -> None:
        require_migrated()
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale and seed_cases first.")
        rng = random.Random(opts["seed"])
        n = opts["clients"]
        bench = bench_cases.Command(stdout=self.stdout, stderr=self.stderr)
        minutes = opts["minutes"]
        dispatchers = bench.dispatchers(city, [max(50, int(minutes * 20))] * n, rng)
        workers = bench.grid_workers(city, n, rng)
        kinds = {p.what: p for p in bench_pages.pages(city, rng)}
        categories = list(Category.objects.filter(parent__isnull=False, is_active=True).values_list("pk", flat=True))
        bench.static_root = tempfile.mkdtemp(prefix="govgrid-soak-static-")
        os.environ["GUNICORN_MAX_REQUESTS"] = "0"  # no recycling: a leak must show
        counts = {"requests": 0, "5xx": 0, "failed": 0}
        lock = threading.Lock()
        samples: dict[int, list[tuple[float, float]]] = {}
        with bench.server(opts["workers"]) as base:
            master = bench.running_server.proc.pid
            sessions = []
            for k in range(n):
                d, w = dispatchers[k], workers[k]
                sessions.append(
                    (
                        bench.session(base, d),
                        bench.session(base, w),
                        {
                            what: bench.session(base, bench_cases.Viewer(p.user.username, what))
                            for what, p in kinds.items()
                        },
                        d,
                        w,
                    )
                )

            started = time.monotonic()  # the clock starts once everyone is signed in
            stop_at = started + minutes * 60

            def client(k: int) -> None:
                local = random.Random(rng.randrange(2**32) + k)
                dispatcher_client, worker_client, by_kind, d, w = sessions[k]
                i = 0
                while time.monotonic() < stop_at:
                    choice = local.random()
                    if choice < 0.25:
                        status, _b, _l = dispatcher_client.request(reverse("street_queue"))
                    elif choice < 0.45:
                        status, _b, _l = dispatcher_client.request(
                            reverse("case_detail", args=[local.choice(d.case_ids)])
                        )
                    elif choice < 0.75:
                        what = local.choice(
                            [
                                "district list (supervisor, department member)",
                                "city list (city admin)",
                                "department inbox",
                                bench_pages.DISTRICT_MAP,
                                bench_pages.CITY_DASHBOARD,
                                bench_pages.STREET_DASHBOARD,
                            ]
                        )
                        status, _b, _l = by_kind[what].request(local.choice(kinds[what].paths))
                    elif choice < 0.9:
                        lat0, lat1, lng0, lng1 = w.grid_box
                        form = {
                            "category": local.choice(categories),
                            "title": f"浸泡测试上报 {k}-{i}",
                            "source": "patrol",
                            "region": w.grid_id,
                            "lat": f"{local.uniform(lat0, lat1):.6f}",
                            "lng": f"{local.uniform(lng0, lng1):.6f}",
                            "confirm_nearby": "1",
                        }
                        status, _b, _l = worker_client.request(reverse("case_report"), form)
                    elif d.to_dispatch:
                        pk, version, lead = d.to_dispatch.pop()
                        form = {"version": version, "lead": lead, "comment": "请处置。"}
                        status, _b, _l = dispatcher_client.request(reverse("case_action", args=[pk, "dispatch"]), form)
                    else:
                        status, _b, _l = dispatcher_client.request(reverse("street_queue"))
                    with lock:
                        counts["requests"] += 1
                        counts["5xx"] += status >= 500
                        counts["failed"] += status >= 400
                    i += 1

            threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(n)]
            for t in threads:
                t.start()
            while time.monotonic() < stop_at:
                now = time.monotonic() - started
                for pid in workers_of(master):
                    samples.setdefault(pid, []).append((now, rss_mb(pid)))
                time.sleep(10)
            for t in threads:
                t.join()
        body, grew = self.report(opts, samples, counts, time.monotonic() - started)
        self.stdout.write(body)
        if opts["output"]:
            write_section(Path(opts["output"]), "bench_soak", body)
        if counts["5xx"] or grew:
            raise CommandError(f"{counts['5xx']} answers were 5xx; workers that grew too much: {grew}")

    def report(self, opts: dict[str, Any], samples: dict, counts: dict, seconds: float) -> tuple[str, list[int]]:
        lines = [
            f"`python manage.py bench_soak --minutes {opts['minutes']:g} --clients {opts['clients']} --workers "
            f"{opts['workers']} --city-code {opts['city_code']}`: production mode, {counts['requests']} requests in "
            f"{seconds / 60:.1f} minutes ({counts['requests'] / seconds:.1f}/s), {counts['5xx']} answered 5xx, "
            f"{counts['failed']} 4xx or worse; load average {os.getloadavg()[0]:.1f} at the end.",
            "",
            "| worker | RSS after 1 min (MB) | RSS at the end (MB) | growth | median over the run (MB) |",
            "|---|---:|---:|---:|---:|",
        ]
        grew = []
        for pid, points in sorted(samples.items()):
            after = [mb for t, mb in points if t >= 60 and mb]
            if not after:
                continue
            first, last = after[0], after[-1]
            growth = 100 * (last - first) / first if first else 0.0
            if growth > opts["max_growth"]:
                grew.append(pid)
            lines.append(
                f"| {pid} | {first:.0f} | {last:.0f} | {growth:+.1f}% | {statistics.median(mb for _t, mb in points):.0f} |"
            )
        return "\n".join(lines) + "\n", grew
