from django.core.management.base import BaseCommand

from grids.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Load the fictional demo city 云川市 with one login per role (safe to run again)."

    def handle(self, *args, **options):
        logins = seed_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo city 云川市 is loaded. Demo logins (password: {DEMO_PASSWORD}):"))
        for username, what in logins:
            self.stdout.write(f"  {username:<12} {what}")
