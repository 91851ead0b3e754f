"""Write (again) the monthly reports of one month, for every district and street or for the regions named:

    python manage.py monthly_reports --month 2026-11 [--region 529902 --region 529902001]

Without --month, the month just ended. Reports that exist are rewritten from today's roll-up (e.g. after
``rebuild_rollup``); supervisors already told of a report are not told again.
"""

from __future__ import annotations

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from dashboard import services


class Command(BaseCommand):
    help = "Write (again) the monthly reports (月报) of a month, for every district and street or the regions named."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--month", help="YYYY-MM (default: the month just ended)")
        parser.add_argument("--region", action="append", default=[], help="a district's or street's code (repeatable)")

    def handle(self, *args, month: str | None, region: list[str], **options) -> None:
        if month:
            try:
                first = date.fromisoformat(f"{month}-01")
            except ValueError as exc:
                raise CommandError("--month takes YYYY-MM, e.g. 2026-11") from exc
        else:
            first = services.last_completed_month()
        regions = services.report_regions(region or None)
        unknown = set(region) - {r.code for r in regions}
        if unknown:
            raise CommandError(f"no region with code {', '.join(sorted(unknown))}")
        started = time.monotonic()
        for r in regions:
            try:
                services.monthly_report_regenerate(region=r, month=first)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"{len(regions)} reports of {first:%Y-%m} written in {time.monotonic() - started:.1f} s")
