"""The demo city with every app's demo data: it lives above the apps, since it needs all of them (grids knows
nothing of cases)."""

from django.core.management.base import BaseCommand

from cases.demo import seed_demo_cases
from grids.demo import DEMO_PASSWORD, seed_demo
from mediation.demo import seed_demo_mediation
from mediation.risk.demo import seed_demo_risk
from parties.demo import seed_demo_parties


class Command(BaseCommand):
    help = "Load the fictional demo city 云川市 with one login per role, households and party branches, and demo cases (safe to run again)."

    def handle(self, *args, **options):
        logins = seed_demo()
        households = seed_demo_parties()
        cases = seed_demo_cases()
        mediator, disputes = seed_demo_mediation()
        warnings = seed_demo_risk()
        logins = [*logins, mediator]
        self.stdout.write(self.style.SUCCESS(f"Demo city 云川市 is loaded. Demo logins (password: {DEMO_PASSWORD}):"))
        for username, what in logins:
            self.stdout.write(f"  {username:<12} {what}")
        if households:
            self.stdout.write(
                f"{households} demo households with residents, organisations, party branches, 包联 and visits were added."
            )
        if cases:
            self.stdout.write(f"{cases} demo cases at every stage of the loop were added.")
        if disputes:
            self.stdout.write(f"{disputes} demo disputes were added to the mediation ledger.")
        if warnings:
            self.stdout.write(f"{warnings} demo risk warnings are on this week's 研判 list (/mediation/risk/).")
