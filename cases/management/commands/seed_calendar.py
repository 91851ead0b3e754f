from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.calendar import calendar_seed, default_seed_years


class Command(BaseCommand):
    help = (
        "Fill the business calendar (holidays and 调休 working days) from the holidays library, this year and the "
        "next unless --years is given. Rows an admin edited are kept. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--years", nargs="+", type=int, metavar="YEAR", help="years to seed (default: this year and the next)"
        )

    def handle(self, *args, **options):
        years = options["years"] or default_seed_years()
        try:
            results = calendar_seed(years=years)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        for r in results:
            self.stdout.write(
                f"{r.year}: {r.created} added, {r.updated} changed, {r.removed} removed, {r.kept} admin rows kept"
            )
