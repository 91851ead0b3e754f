"""Plant the patterns the warning rules must find in a seeded city (see bench/risk_patterns.py)."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from bench.risk_patterns import plant
from grids.demo import system_actor
from grids.models import Region


class Command(BaseCommand):
    help = (
        "Plant a rising grid, a repeat household, a cluster of reports, an unvisited lonely elder and a dispute "
        "that fell apart twice in the city, for the rules run over the data up to --day (yesterday by default)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--day", type=date.fromisoformat, help="YYYY-MM-DD; yesterday by default")
        parser.add_argument("--seed", type=int, default=11)

    def handle(self, *args, **options) -> None:
        city = Region.objects.filter(code=options["city_code"], depth=1).first()
        if city is None:
            raise CommandError(f"No city with the code {options['city_code']}.")
        day = options["day"] or timezone.localdate() - timedelta(days=1)
        planted = plant(city=city, day=day, visitor=system_actor(), seed=options["seed"])
        grid, category = planted.rising_grid
        self.stdout.write(
            f"planted for {day}: rising grid {Region.objects.get(pk=grid).code} (category {category}), "
            f"repeat household {planted.repeat_household}, cluster of cases {planted.cluster}, "
            f"lonely elder {planted.lonely_elder}, dispute {planted.fell_apart}"
        )
