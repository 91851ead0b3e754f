"""python manage.py api_token USERNAME NAME [--days N]: make a personal API token and print it (once)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from grids import tokens
from grids.models import User


class Command(BaseCommand):
    help = "Make a personal API token for USERNAME and print it; only its fingerprint is stored."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="What the token is for.")
        parser.add_argument("--days", type=int, default=None, help="Expire after this many days.")

    def handle(self, *args, username: str, name: str, days: int | None, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account named {username!r}.")
        expires = timezone.now() + timedelta(days=days) if days else None
        try:
            made = tokens.token_create(actor=user, user=user, name=name, expires_at=expires)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(made.secret)
