"""Re-encrypt the stored ID and phone numbers under the first key of GOVGRID_FIELD_KEYS (see docs/parties.md)."""

from django.core.management.base import BaseCommand

from parties.rotation import personal_data_rotate


class Command(BaseCommand):
    help = "Re-encrypt personal data under the first key of GOVGRID_FIELD_KEYS, in batches (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
        parser.add_argument("--rehash", action="store_true", help="also recompute the keyed hashes (new HMAC key)")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")

    def handle(self, *args, **opts):
        done = personal_data_rotate(
            batch=max(1, opts["batch"]), rehash=opts["rehash"], dry_run=opts["dry_run"], report=self.stdout.write
        )
        total = sum(done.values())
        verb = "would change" if opts["dry_run"] else "changed"
        self.stdout.write(self.style.SUCCESS(f"{total} rows {verb}: " + ", ".join(f"{k} {v}" for k, v in done.items())))
        if not total:
            self.stdout.write("Nothing left to rotate: every number is under the first key.")
