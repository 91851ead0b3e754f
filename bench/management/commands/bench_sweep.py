"""How long the deadline sweep takes when a great many steps fall due at once, with one worker and with two.

The steps are real ``StepDeadline`` rows on the open cases of a ``seed_cases`` city: copies of the city's open
steps (accept, dispatch, sign, complete, verify at their own levels and departments), as many as asked, all
falling due at the same minute. Each run calls ``cases.deadlines.sweep`` in one process, or in two processes at
once (two Celery workers taking consecutive beat ticks do the same: ``SKIP LOCKED`` shares the rows between
them), and reports the wall time, steps per second, notices written and database queries per step. Each notice
goes to a unit (the department, the level's dispatchers, the supervisors above), so it is one row whatever the
unit's size; the run checks that every step got its 催办 and that no notice was written twice. The rows and
notices the run adds are deleted afterwards.

By default the grace before escalation has not run out, so a run measures what every late step costs: the 催办
to the holder and the 督办 to the level above. ``--escalate`` lets the grace run out too, so case-level steps
also escalate their case through the workflow service; that changes the generated cases for good (a new level
and an immutable timeline event), so it is off unless asked.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, transaction
from django.db.models import Max
from django.utils import timezone

from bench.management.commands.bench_access import database_label, write_section
from cases import deadlines
from cases.models import StepDeadline
from grids.models import Region
from notifications.models import Delivery, Notification, NotificationRead

SECTION = "bench_sweep"


def _worker(now_iso: str, batch: int, results: Any, profile: str = "") -> None:
    """One sweep process: a fresh connection, the sweep, its figures on the queue (and, with ``profile``, where its
    time went, as pstats data in that file)."""
    from django.conf import settings
    from django.utils.dateparse import parse_datetime

    connections.close_all()  # never share the parent's socket
    # As production runs it whatever the command's own DEBUG: no log of every query kept in memory.
    settings.DEBUG = False
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    try:
        with connection.execute_wrapper(count):
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                done = profiler.runcall(deadlines.sweep, now=parse_datetime(now_iso), batch=batch)
                profiler.dump_stats(profile)
            else:
                done = deadlines.sweep(now=parse_datetime(now_iso), batch=batch)
        results.put({"done": done, "queries": queries, "seconds": time.perf_counter() - started})
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        connections.close_all()


class Command(BaseCommand):
    help = "Measure the deadline sweep: --steps steps falling due at once, with one and with two sweep processes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--steps", type=int, default=100_000)
        parser.add_argument("--workers", default="1,2", help="comma-separated process counts, e.g. 1,2")
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--batch", type=int, default=500, help="rows per sweep transaction")
        parser.add_argument("--escalate", action="store_true", help="let the grace run out too (changes cases)")
        parser.add_argument("--output", type=Path, help="write the figures into this Markdown file")
        parser.add_argument("--profile", type=Path, help="profile the one-process run; print where its time went")

    def handle(self, *args: Any, **opts: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The sweep benchmark needs PostgreSQL (SKIP LOCKED, several processes).")
        try:
            workers = [int(w) for w in str(opts["workers"]).split(",") if w.strip()]
        except ValueError:
            raise CommandError("--workers takes numbers separated by commas, e.g. 1,2") from None
        if not workers or min(workers) < 1 or opts["steps"] < 1:
            raise CommandError("--steps and every --workers figure must be at least 1.")
        city = Region.objects.filter(code=opts["city_code"], depth=1).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale and seed_cases first.")
        patterns = self.patterns(city)
        if not patterns:
            raise CommandError(f"City {city.code} has no open steps: run seed_cases first.")

        rows = []
        for n in workers:
            self.stdout.write(f"{opts['steps']} steps due at once, {n} sweep process(es)…")
            profile = str(opts["profile"]) if opts["profile"] and n == 1 else ""
            row = self.run(patterns, opts["steps"], n, opts["batch"], opts["escalate"], profile=profile)
            if profile:
                import pstats

                pstats.Stats(profile, stream=self.stdout).sort_stats("tottime").print_stats(25)
            rows.append(row)
            self.stdout.write(
                f"  {row['seconds']:.1f} s (floor {row['floor']:.1f} s, {row['ratio']:.1f}×), {row['rate']:.0f} steps/s, "
                f"{row['notices']} notices "
                f"({row['notices_per_step']:.1f} per step), {row['queries_per_step']:.2f} queries per step, "
                f"{row['escalated']} escalated"
            )
        if opts["output"]:
            self.record(opts["output"], opts, rows)
            self.stdout.write(f"Wrote the {SECTION} section of {opts['output']}.")

    # --- the rows ---------------------------------------------------------------------------------------------

    @staticmethod
    def patterns(city: Region) -> list[tuple[int, int | None, str, int, float]]:
        """(case, work order, step, level, hours) of the city's open steps, in a stable order."""
        return list(
            StepDeadline.objects.filter(
                closed_at__isnull=True, paused_since__isnull=True, case__region__path__startswith=city.path
            )
            .exclude(step="evaluate")
            .order_by("id")
            .values_list("case_id", "work_order_id", "step", "level", "hours")
        )

    def make_due(self, patterns: list, steps: int, now, escalate: bool) -> tuple[int, int]:
        """Insert ``steps`` rows falling due at ``now``; returns the range of their ids (first, last)."""
        floor = (StepDeadline.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        due = now - timedelta(minutes=1)
        escalate_at = due if escalate else now + timedelta(days=30)
        fresh = [
            StepDeadline(
                case_id=case_id,
                work_order_id=order_id,
                step=step,
                level=level,
                hours=hours,
                started_at=now - timedelta(hours=8),
                yellow_at=now - timedelta(hours=2),
                due_at=due,
                escalate_at=escalate_at,
            )
            for i in range(steps)
            for case_id, order_id, step, level, hours in [patterns[i % len(patterns)]]
        ]
        StepDeadline.objects.bulk_create(fresh, batch_size=5000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_stepdeadline")
        return floor, StepDeadline.objects.aggregate(m=Max("id"))["m"]

    @staticmethod
    def clean(ours: tuple[int, int], notice_floor: int) -> None:
        """Delete the rows the run added and the notices written meanwhile. Steps opened by escalations stay with
        their cases (ids above the range)."""
        # Plain SQL: the ORM's delete() would load a million and a half notices to collect their deliveries. When
        # the database held no notices before the run (a benchmark database), TRUNCATE empties the two tables at
        # once; a DELETE pays a foreign-key check per notice at commit (minutes for a run's 1.5 million).
        tables = [Delivery._meta.db_table, NotificationRead._meta.db_table, Notification._meta.db_table]
        with transaction.atomic(), connection.cursor() as cursor:
            if not Notification.objects.filter(id__lt=notice_floor).exists():
                cursor.execute(f"TRUNCATE {', '.join(tables)}")
            else:
                for table in tables[:2]:
                    cursor.execute(f"DELETE FROM {table} WHERE notification_id >= %s", [notice_floor])  # noqa: S608
                cursor.execute(f"DELETE FROM {tables[2]} WHERE id >= %s", [notice_floor])  # noqa: S608
            cursor.execute(f"DELETE FROM {StepDeadline._meta.db_table} WHERE id BETWEEN %s AND %s", list(ours))  # noqa: S608

    # --- one run ----------------------------------------------------------------------------------------------

    def run(
        self, patterns: list, steps: int, workers: int, batch: int, escalate: bool, profile: str = ""
    ) -> dict[str, Any]:
        now = timezone.now()
        notice_floor = (Notification.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        ours = self.make_due(patterns, steps, now, escalate)
        try:
            connections.close_all()
            ctx = multiprocessing.get_context("fork")
            results = ctx.Queue()
            procs = [
                ctx.Process(target=_worker, args=(now.isoformat(), batch, results, profile)) for _ in range(workers)
            ]
            started = time.perf_counter()
            for p in procs:
                p.start()
            outcomes = [results.get() for _ in procs]
            seconds = time.perf_counter() - started
            for p in procs:
                p.join()
            errors = [o["error"] for o in outcomes if "error" in o]
            if errors:
                raise CommandError("A sweep process failed: " + "; ".join(errors))
            left = StepDeadline.objects.filter(id__range=ours, urged_at__isnull=True, closed_at__isnull=True).count()
            if left:
                raise CommandError(f"{left} steps were not urged: the sweep stopped early.")
            written = Notification.objects.filter(id__gte=notice_floor).count()
            keyed = Notification.objects.filter(id__gte=notice_floor, dedup_key__isnull=False)
            twice = keyed.count() - keyed.values("dedup_key").distinct().count()
            if twice:
                raise CommandError(f"{twice} notices were written twice.")
            unurged = self.without_urge(ours, notice_floor)
            if unurged:
                raise CommandError(f"{unurged} urged steps have no 催办 notice.")
            done = [o["done"] for o in outcomes]
            queries = sum(o["queries"] for o in outcomes)
            floor = self.floor(ours, notice_floor, written, batch)
            return {
                "floor": floor,
                "ratio": seconds / floor if floor else 0.0,
                "steps": steps,
                "workers": workers,
                "seconds": seconds,
                "rate": steps / seconds,
                "notices": written,
                "notices_per_step": written / steps,
                "queries": queries,
                "queries_per_step": queries / steps,
                "escalated": sum(d["escalated"] for d in done),
                "shares": [d["urged"] for d in done],
            }
        finally:
            self.clean(ours, notice_floor)

    @staticmethod
    def floor(ours: tuple[int, int], notice_floor: int, notices: int, batch: int) -> float:
        """The least the database must do for the same steps, in one process, by hand-written SQL: per batch, lock
        the due rows (``FOR UPDATE SKIP LOCKED``), insert as many notice rows as the sweep wrote (copies of one of
        them) and mark the rows; in a transaction rolled back, so nothing is left. Seconds."""
        table, steps = Notification._meta.db_table, StepDeadline._meta.db_table
        columns = [f.column for f in Notification._meta.concrete_fields if f.column not in ("id", "dedup_key")]
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        lo, hi = ours
        per_batch = max(1, round(notices / max(1, hi - lo + 1) * batch))
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT min(id) FROM {table} WHERE id >= %s", [notice_floor])  # noqa: S608
            (template,) = cursor.fetchone()
            if template is None:
                return 0.0
            n = 0
            while True:
                cursor.execute(
                    f"WITH due AS (SELECT id FROM {steps} WHERE id BETWEEN %s AND %s AND reminded_at IS NOT NULL "  # noqa: S608
                    f"ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED), "
                    f"marked AS (UPDATE {steps} SET reminded_at = NULL WHERE id IN (SELECT id FROM due) RETURNING 1) "
                    f"INSERT INTO {table} ({cols}, dedup_key) SELECT {cols}, 'floor:' || %s || ':' || g "
                    f"FROM {table}, generate_series(1, (SELECT count(*) FROM marked) * %s / %s) g WHERE id = %s",
                    [lo, hi, batch, n, per_batch, batch, template],
                )
                n += 1
                if cursor.rowcount == 0:
                    break
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
        return seconds

    @staticmethod
    def without_urge(ours: tuple[int, int], notice_floor: int) -> int:
        """Steps of the run marked urged without a 催办 notice to their holder (keys are "urge:<step>:<unit>")."""
        sql = (
            f"SELECT count(*) FROM {StepDeadline._meta.db_table} s WHERE s.id BETWEEN %s AND %s "  # noqa: S608
            "AND s.urged_at IS NOT NULL AND s.id NOT IN (SELECT split_part(n.dedup_key, ':', 2)::bigint FROM "
            f"{Notification._meta.db_table} n WHERE n.id >= %s AND n.kind = 'urge' AND n.dedup_key LIKE 'urge:%%')"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*ours, notice_floor])
            return cursor.fetchone()[0]

    def record(self, path: Path, opts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        command = (
            f"python manage.py bench_sweep --steps {opts['steps']} --workers {opts['workers']} "
            f"--city-code {opts['city_code']} --batch {opts['batch']}" + (" --escalate" if opts["escalate"] else "")
        )
        table = "\n".join(
            f"| {r['workers']} | {r['steps']:,} | {r['seconds']:.1f} | {r['floor']:.1f} | {r['ratio']:.1f}× "
            f"| {r['rate']:,.0f} | {r['notices']:,} "
            f"({r['notices_per_step']:.1f}) | {r['queries_per_step']:.2f} | {r['escalated']:,} | "
            f"{' / '.join(f'{s:,}' for s in r['shares'])} |"
            for r in rows
        )
        body = (
            f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z} on {database_label()}: `{command}`\n\n"
            "| sweep processes | steps due | seconds | floor s | × floor | steps/s | notices (per step) | queries per step "
            "| escalated | steps per process |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
            f"{table}\n"
        )
        write_section(path, SECTION, body)
