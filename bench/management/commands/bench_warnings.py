"""Run the warning rules on a seeded city and print the warnings per district per week, and the time each rule
takes (docs/performance.md, "Risk warnings")."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from grids.models import Region
from mediation.risk import rules, services
from mediation.risk.models import Warning


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Run the warning rules over the last --days nights of a seeded city (rolled back unless --keep)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--days", type=int, default=14, help="nights to run, ending with --day")
        parser.add_argument("--day", type=date.fromisoformat, help="the last night's data date; yesterday by default")
        parser.add_argument("--keep", action="store_true", help="keep the warnings (and runs) written")

    def handle(self, *args, **options) -> None:
        city = Region.objects.filter(code=options["city_code"], depth=1).first()
        if city is None:
            raise CommandError(f"No city with the code {options['city_code']}.")
        last = options["day"] or timezone.localdate() - timedelta(days=1)
        days = [last - timedelta(days=i) for i in reversed(range(options["days"]))]
        settings = services.rule_settings()
        times: dict[str, list[float]] = defaultdict(list)
        nights: list[float] = []
        try:
            with transaction.atomic():
                for day in days:
                    for code, (active, params) in settings.items():
                        if active:
                            t = time.perf_counter()
                            rules.RULES[code].run(day, params)
                            times[code].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    services.warnings_for_day(day)
                    nights.append(time.perf_counter() - t)
                self._report(city, days, times, nights)
                if not options["keep"]:
                    raise Rollback
        except Rollback:
            self.stdout.write("(rolled back; --keep keeps the warnings)")

    def _report(self, city, days, times, nights) -> None:
        w = self.stdout.write
        w(f"{len(days)} nights, {days[0]} to {days[-1]}, city {city.code}")
        for code, values in times.items():
            values = sorted(values)
            w(f"  rule {code:<13} median {values[len(values) // 2] * 1000:8.0f} ms   max {values[-1] * 1000:8.0f} ms")
        nights = sorted(nights)
        w(f"  night (rules + insert) median {nights[len(nights) // 2]:.2f} s   max {nights[-1]:.2f} s")
        districts = {r.pk: r for r in Region.objects.filter(path__startswith=city.path, depth=2)}
        found = Warning.objects.filter(
            region__path__startswith=city.path, found_on__gte=days[0], found_on__lte=days[-1]
        ).values_list("district_id", "week", "rule")
        table: dict[tuple[int, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for district, week, rule in found:
            table[(district, week)][rule] += 1
        codes = list(rules.RULES)
        w("district / week        " + " ".join(f"{c[:11]:>11}" for c in codes) + "   total")
        for (district, week), by_rule in sorted(table.items(), key=lambda kv: (kv[0][1], districts[kv[0][0]].code)):
            total = sum(by_rule.values())
            w(
                f"{districts[district].name[:10]:<10} {week}  "
                + " ".join(f"{by_rule.get(c, 0):>11}" for c in codes)
                + f"   {total:>5}"
            )
        per_week = defaultdict(int)
        for (_d, week), by_rule in table.items():
            per_week[week] += sum(by_rule.values())
        n = len(districts) or 1
        for week, total in sorted(per_week.items()):
            w(f"week {week}: {total} warnings, {total / n:.1f} per district ({n} districts)")
