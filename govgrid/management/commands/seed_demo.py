"""The demo city with every app's demo data: it lives above the apps, since it needs all of them (grids knows
nothing of cases)."""

from django.core.management.base import BaseCommand

from cases.demo import seed_demo_cases
from grids.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Load the fictional demo city 云川市 with one login per role and demo cases (safe to run again)."

    def handle(self, *args, **options):
        logins = seed_demo()
        cases = seed_demo_cases()
        self.stdout.write(self.style.SUCCESS(f"Demo city 云川市 is loaded. Demo logins (password: {DEMO_PASSWORD}):"))
        for username, what in logins:
            self.stdout.write(f"  {username:<12} {what}")
        if cases:
            self.stdout.write(f"{cases} demo cases at every stage of the loop were added.")
