"""python manage.py open311_key NAME [--per-minute N]: make an Open311 api_key for a client app and print it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.open311 import services


class Command(BaseCommand):
    help = "Make an Open311 api_key for the client app NAME and print it; only its fingerprint is stored."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--per-minute", type=int, default=60, help="Requests per minute allowed (default 60).")

    def handle(self, *args, name: str, per_minute: int, **options):
        try:
            made = services.key_create(actor=None, name=name, requests_per_minute=per_minute)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(made.secret)
