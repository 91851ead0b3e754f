"""Writes of Open311: client keys (made, revoked, checked, rate-limited) and residents' requests, which become
ordinary reports of their grid (source "open311") through ``cases.services.case_report``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import services as case_services
from cases.models import Category, Open311Key, Open311Request, Source
from grids.codes import Level
from grids.geo import locate
from grids.models import Region

PREFIX = "o311_"
DESCRIPTION_MAX = 4000


@dataclass(frozen=True)
class NewKey:
    key: Open311Key
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def may_manage_keys(actor: Any) -> bool:
    """Client keys are city-wide: managed by those who edit the categories (city-level admins)."""
    return bool(actor is not None and case_services.may_edit_categories(actor))


def key_create(*, actor: Any, name: str, requests_per_minute: int = 60) -> NewKey:
    from grids.services import audit

    if actor is not None and not may_manage_keys(actor):
        raise PermissionDenied(_("Only an administrator at city level manages Open311 keys."))
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise ValidationError({"name": _("Name the client app (at most 80 characters).")})
    if not 1 <= int(requests_per_minute) <= 10000:
        raise ValidationError({"requests_per_minute": _("Between 1 and 10000.")})
    secret = PREFIX + secrets.token_urlsafe(24)
    with transaction.atomic():
        key = Open311Key.objects.create(
            name=name,
            prefix=secret[:9],
            key_hash=_hash(secret),
            requests_per_minute=int(requests_per_minute),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit(actor=actor, action="open311.key.create", target=key, name=name)
    return NewKey(key=key, secret=secret)


def key_revoke(*, actor: Any, key: Open311Key) -> Open311Key:
    from grids.services import audit

    if not may_manage_keys(actor):
        raise PermissionDenied(_("Only an administrator at city level manages Open311 keys."))
    with transaction.atomic():
        key = Open311Key.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit(actor=actor, action="open311.key.revoke", target=key)
    return key


def key_check(secret: str) -> Open311Key | None:
    """The live key with this secret, or None."""
    if not secret or len(secret) > 100:
        return None
    key = Open311Key.objects.filter(key_hash=_hash(secret), revoked_at__isnull=True).first()
    if key is not None and (key.last_used_at is None or (timezone.now() - key.last_used_at).total_seconds() > 300):
        Open311Key.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def over_rate(key: Open311Key) -> bool:
    """Counts one request of ``key`` in the current minute (shared cache); True when over its limit."""
    bucket = f"open311:rate:{key.key_hash[:16]}:{int(timezone.now().timestamp() // 60)}"
    if cache.add(bucket, 1, timeout=120):
        return False
    try:
        used = cache.incr(bucket)
    except ValueError:
        cache.set(bucket, 1, timeout=120)
        used = 1
    return used > key.requests_per_minute


def _grid_for(*, lat: float | None, lng: float | None, address: str) -> Region:
    if lat is not None and lng is not None:
        grid = locate(lat, lng)
        if grid is None:
            raise ValidationError(
                _(
                    "The place you gave (lat %(lat)s, long %(lng)s) is outside every grid of this city. Check the "
                    "coordinates: they are WGS 84 decimal degrees, latitude first."
                )
                % {"lat": lat, "lng": lng}
            )
        return grid
    code = getattr(settings, "OPEN311_ADDRESS_GRID", "")
    grid = Region.objects.filter(code=code, depth=Level.GRID, is_active=True).first() if code else None
    if not address or grid is None:
        raise ValidationError(
            _("Give the place as lat and long: an address alone cannot be placed on the city's grids here.")
        )
    return grid


def _check_attributes(category: Category, attributes: dict[str, list[str]]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in category.questions or []:
        code = q.get("code")
        given = [v for v in attributes.get(code, []) if v != ""]
        if q.get("required") and not given:
            raise ValidationError(
                _("Answer the question %(code)s: %(text)s") % {"code": code, "text": q.get("description", "")}
            )
        if not given:
            continue
        allowed = {str(v.get("key")) for v in q.get("values") or []}
        datatype = q.get("datatype", "string")
        if datatype in ("singlevaluelist", "multivaluelist") and not set(given) <= allowed:
            raise ValidationError(
                _("%(code)s must be one of: %(keys)s") % {"code": code, "keys": ", ".join(sorted(allowed))}
            )
        if datatype == "number":
            try:
                [float(v) for v in given]
            except ValueError:
                raise ValidationError(_("%(code)s must be a number.") % {"code": code}) from None
        answers[code] = given if datatype == "multivaluelist" else given[0]
    unknown = sorted(set(attributes) - {q.get("code") for q in category.questions or []})
    if unknown:
        raise ValidationError(_("Unknown attribute: %(codes)s") % {"codes": ", ".join(unknown)})
    return answers


def request_create(
    *,
    key: Open311Key,
    category: Category,
    lat: float | None = None,
    lng: float | None = None,
    address: str = "",
    description: str = "",
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    device_id: str = "",
    account_id: str = "",
    media_url: str = "",
    attributes: dict[str, list[str]] | None = None,
    files=(),
) -> Open311Request:
    """A resident's request: an ordinary report of the grid that contains the point (source "open311"), with the
    resident's contact kept on the case (masked on pages) and a token to poll with."""
    if not category.is_public or not category.is_active or category.parent_id is None:
        raise ValidationError(_("No such service."))
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationError(_("The description has at most 4000 characters."))
    answers = _check_attributes(category, attributes or {})
    grid = _grid_for(lat=lat, lng=lng, address=(address or "").strip())
    contact = " ".join(x for x in [f"{first_name} {last_name}".strip(), phone.strip(), email.strip()] if x)[:100]
    title = (description.splitlines()[0] if description else category.name)[:120] or category.name
    with transaction.atomic():
        case = case_services.case_report(
            reporter=None,
            category=category,
            title=title,
            region=grid,
            description=description,
            source=Source.OPEN311,
            address=(address or "").strip()[:200],
            lat=lat,
            lng=lng,
            reporter_contact=contact,
            files=files,
            origin={"via": "open311", "client": key.name, "key": key.pk},
        )
        return Open311Request.objects.create(
            case=case,
            token=secrets.token_hex(16),
            key=key,
            email=email[:254],
            first_name=first_name[:60],
            last_name=last_name[:60],
            phone=phone[:30],
            device_id=device_id[:100],
            account_id=account_id[:100],
            media_url=media_url[:500],
            attributes=answers,
        )
