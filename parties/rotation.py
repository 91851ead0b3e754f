"""Key rotation of the encrypted numbers (``manage.py rotate_personal_data``).

Re-encrypts, batch by batch, every token not made under the first key of ``GOVGRID_FIELD_KEYS`` (MultiFernet's
rotate), and with ``rehash`` recomputes every keyed hash under the current ``GOVGRID_HMAC_KEY``. Each batch is one
transaction over rows locked in id order, so it is safe to stop and to run again while the app works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from grids.services import audit

from . import crypto, extensions
from .models import Organisation, Resident

FIELDS: list[tuple[Any, list[tuple[str, str, str]]]] = [
    (Resident, [("id_number_enc", "id_number_hash", "id"), ("phone_enc", "phone_hash", "phone")]),
    (Organisation, [("contact_phone_enc", "contact_phone_hash", "phone")]),
]


class _Run:
    """The target of the audit row: the rotation itself."""

    pk = ""

    def __str__(self) -> str:
        return "personal data keys"


def personal_data_rotate(
    *, batch: int = 2000, rehash: bool = False, dry_run: bool = False, report: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Rotate every stored token to the first key (and rehash); returns the numbers changed per model."""
    done: dict[str, int] = {}
    for model, fields in [*FIELDS, *extensions.encrypted_fields]:
        label = model._meta.label
        changed = 0
        last = 0
        columns = ["pk", *[f for enc, digest, _kind in fields for f in (enc, digest)]]
        while True:
            with transaction.atomic():
                rows = list(
                    model.objects.select_for_update(of=("self",))
                    .filter(pk__gt=last)
                    .order_by("pk")
                    .only(*columns)[:batch]
                )
                if not rows:
                    break
                dirty = []
                for row in rows:
                    touched = False
                    for enc, digest, kind in fields:
                        token = getattr(row, enc)
                        if not token:
                            continue
                        if not crypto.is_current(token):
                            setattr(row, enc, crypto.rotate(token))
                            touched = True
                        if rehash:
                            value = crypto.digest(kind, crypto.decrypt(getattr(row, enc)))
                            if value != getattr(row, digest):
                                setattr(row, digest, value)
                                touched = True
                    if touched:
                        dirty.append(row)
                if dirty and not dry_run:
                    model.objects.bulk_update(dirty, [f for enc, digest, _ in fields for f in (enc, digest)])
                changed += len(dirty)
                last = rows[-1].pk
            if report:
                report(f"{label}: {changed} rows {'to change' if dry_run else 'changed'} up to id {last}")
        done[label] = changed
    if not dry_run:
        with transaction.atomic():
            audit(actor=None, action="parties.rotate_keys", target=_Run(), rehash=rehash, rows=done)
    return done
