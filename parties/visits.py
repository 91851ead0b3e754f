"""Recording visits (走访) to households and organisations, with photos checked by content.

``visit_record`` is the only writer of visits: it checks ``parties.record_visit`` at the grid, keeps the
household's (or organisation's) date of last visit for the coverage counts, stores the photos inside the
transaction and removes them again if it rolls back.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from grids.services import audit

from .models import Household, Organisation, PartyMember, Resident, Visit, VisitNeed, VisitPhoto
from .services import clean_text, require

try:  # HEIC photos from phones
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - the requirement is pinned
    pass

if TYPE_CHECKING:
    from grids.models import User

RECORD = "parties.record_visit"
FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp")}
FORMATS["HEIF"] = ("image/heic", ".heic")


@dataclass(frozen=True)
class Photo:
    name: str
    content_type: str
    extension: str
    data: bytes
    sha256: str


def check_photos(files: Sequence) -> list[Photo]:
    """Photos from the phone, read and checked before any write: images only, within the size and count limits."""
    files = [f for f in files or [] if f]
    if len(files) > settings.GOVGRID_ATTACHMENT_MAX_FILES:
        raise ValidationError(
            {"photos": _("At most %(n)d photos at once.") % {"n": settings.GOVGRID_ATTACHMENT_MAX_FILES}}
        )
    checked = []
    for upload in files:
        name = str(getattr(upload, "name", "photo"))[:100]
        data = upload.read(settings.GOVGRID_ATTACHMENT_MAX_BYTES + 1)
        if len(data) > settings.GOVGRID_ATTACHMENT_MAX_BYTES:
            raise ValidationError({"photos": _("%(name)s is too large.") % {"name": name}})
        try:
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ValidationError(
                {"photos": _("%(name)s is not a photo (JPEG, PNG, WebP, HEIC) or it is damaged.") % {"name": name}}
            ) from exc
        if fmt not in FORMATS:
            raise ValidationError({"photos": _("%(name)s is not a JPEG, PNG, WebP or HEIC photo.") % {"name": name}})
        content_type, extension = FORMATS[fmt]
        checked.append(Photo(name, content_type, extension, data, hashlib.sha256(data).hexdigest()))
    return checked


def _needs(needs: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(needs or []))
    unknown = [n for n in chosen if n not in VisitNeed.values]
    if unknown:
        raise ValidationError({"needs": _("Unknown needs: %(codes)s") % {"codes": ", ".join(unknown)}})
    return chosen


def visit_record(
    *,
    actor: User,
    household: Household | None = None,
    organisation: Organisation | None = None,
    visited_on: date | None = None,
    people_met: Iterable[Resident] = (),
    people_met_text: str = "",
    notes: str = "",
    needs: Iterable[str] = (),
    needs_text: str = "",
    lat: float | None = None,
    lng: float | None = None,
    photos: Sequence = (),
) -> Visit:
    """Record a visit by ``actor`` (a grid worker, or a party member with the permission) to one household or
    organisation: date, people met, notes, needs found, photos and the phone's location."""
    if (household is None) == (organisation is None):
        raise ValidationError(_("Choose the household or the organisation visited."))
    visited_on = visited_on or timezone.localdate()
    errors: dict[str, str] = {}
    if visited_on > timezone.localdate():
        errors["visited_on"] = _("A visit cannot be in the future.")
    if (lat is None) != (lng is None):
        errors["lat"] = _("Give both latitude and longitude, or neither.")
    elif lat is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        errors["lat"] = _("Latitude must be within ±90 and longitude within ±180.")
    if errors:
        raise ValidationError(errors)
    people_met_text = clean_text(people_met_text, field="people_met_text", max_length=200)
    notes = clean_text(notes, field="notes", max_length=4000)
    needs_text = clean_text(needs_text, field="needs_text", max_length=300)
    chosen_needs = _needs(needs)
    checked = check_photos(photos)
    stored: list[str] = []
    try:
        with transaction.atomic():
            model = Household if household is not None else Organisation
            target = (
                model.objects.select_for_update(of=("self",))
                .select_related("region")
                .get(pk=(household or organisation).pk)
            )
            require(actor, RECORD, target)
            if not target.region.is_active:
                raise ValidationError(_("%(name)s is retired.") % {"name": target.region.name})
            met = list(people_met or [])
            if met:
                if household is None:
                    raise ValidationError({"people_met": _("Choose people met only on a household visit.")})
                allowed = set(
                    Resident.objects.filter(Q(household=target) | Q(residences__household=target)).values_list(
                        "pk", flat=True
                    )
                )
                if any(r.pk not in allowed for r in met):
                    raise ValidationError({"people_met": _("Choose people of this household.")})
            member = PartyMember.objects.filter(user=actor, is_active=True).first()
            visit = Visit.objects.create(
                region=target.region,
                household=target if household is not None else None,
                organisation=target if organisation is not None else None,
                visited_on=visited_on,
                visitor=actor,
                member=member,
                people_met_text=people_met_text,
                notes=notes,
                needs=chosen_needs,
                needs_text=needs_text,
                lat=lat,
                lng=lng,
            )
            if met:
                visit.people_met.set(met)
            for photo in checked:
                row = VisitPhoto(
                    visit=visit,
                    content_type=photo.content_type,
                    extension=photo.extension,
                    size=len(photo.data),
                    sha256=photo.sha256,
                )
                row.file.save(photo.name, ContentFile(photo.data), save=False)
                stored.append(row.file.name)
                row.save()
            if target.last_visited_on is None or target.last_visited_on < visited_on:
                model.objects.filter(pk=target.pk).update(last_visited_on=visited_on)
            audit(
                actor=actor,
                action="visit.record",
                target=visit,
                region=target.region,
                what=model.__name__.lower(),
                what_id=target.pk,
                visited_on=visited_on.isoformat(),
                needs=chosen_needs,
                photos=len(checked),
            )
            return visit
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
