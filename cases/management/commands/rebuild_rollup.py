import time

from django.core.management.base import BaseCommand

from cases import rollup


class Command(BaseCommand):
    help = (
        "Recompute the daily roll-up (CaseDaily, DepartmentDaily) and the live open counts (OpenCount) from every "
        "case event, in one transaction (the dashboard shows the old figures until it commits); on PostgreSQL in "
        "SQL, by ranges of case ids over --workers connections. Run it after a "
        "migration that adds the roll-up to a database with cases, after a subtree of regions moved, or after "
        "loading cases outside the case service."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=20000, help="case ids per range (default 20000)")
        parser.add_argument(
            "--workers", type=int, default=2, help="connections computing ranges at once, PostgreSQL (default 2)"
        )

    def handle(self, *args, **options):
        started = time.monotonic()

        def progress(done: int, top: int) -> None:
            if options["verbosity"] > 1:
                self.stdout.write(f"  cases up to id {min(done, top)} of {top}")

        result = rollup.rebuild(batch=options["batch"], workers=options["workers"], progress=progress)
        self.stdout.write(
            f"Roll-up rebuilt from {result['events']} events: {result['rows']} rows in "
            f"{time.monotonic() - started:.1f} s."
        )
