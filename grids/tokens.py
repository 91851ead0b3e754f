"""API tokens (接口令牌): personal tokens people make on their account page, and integrations (service accounts
with grants on regions and tokens that expire) that admins make.

A token is ``gg_`` + 40 random characters; only its SHA-256 is stored, so a stolen database gives no usable token.
Every change is audited in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import access
from .models import ApiToken, Region, Role, User

PREFIX = "gg_"
# Tokens are checked on every request; their "last used" is written at most this often.
TOUCH_EVERY = timedelta(minutes=5)
MAX_TOKENS_PER_USER = 20


@dataclass(frozen=True)
class NewToken:
    """A token just made: the row and the secret, which is shown this once and never again."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": _("Give the token a name (what it is for).")})
    if len(name) > 60:
        raise ValidationError({"name": _("A name has at most 60 characters.")})
    return name


def token_create(*, actor: Any, user: User, name: str, expires_at: datetime | None = None) -> NewToken:
    """Make a token for ``user`` (one's own, or an integration's by an admin who manages it)."""
    from .services import audit

    if actor.pk != user.pk and not _may_manage_integration(actor, user):
        raise PermissionDenied(_("You may not make tokens for this account."))
    if not user.is_active:
        raise ValidationError(_("The account is not active."))
    name = _clean_name(name)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    if user.is_service and expires_at is None:
        raise ValidationError({"expires_at": _("An integration's token must have an expiry.")})
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True).count()
        if live >= MAX_TOKENS_PER_USER:
            raise ValidationError(_("At most %(n)d tokens per account: revoke one first.") % {"n": MAX_TOKENS_PER_USER})
        secret = PREFIX + secrets.token_urlsafe(30)
        token = ApiToken.objects.create(
            user=user, name=name, prefix=secret[:10], key_hash=hash_secret(secret), expires_at=expires_at
        )
        audit(actor=actor, action="token.create", target=token, user=user.username, name=name)
    return NewToken(token=token, secret=secret)


def token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    from .services import audit

    if actor.pk != token.user_id and not _may_manage_integration(actor, token.user):
        raise PermissionDenied(_("You may not revoke this token."))
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit(actor=actor, action="token.revoke", target=token, user=token.user.username)
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The live token with this secret (and its active user), or None. Marks it used now and then."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
    if token is None or not token.is_live or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_list(*, user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (the secrets are not stored)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def token_get(*, user: Any, pk: int) -> ApiToken:
    from django.http import Http404

    found = token_list(user=user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


# --- integrations (service accounts) ------------------------------------------------------------------------


def _may_manage_integration(actor: Any, service: User | None = None) -> bool:
    """Integrations are made by admins who manage access at the city (the roots of the tree)."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    if service is not None and not service.is_service:
        return False
    return any(len(p) == Region.steplen for p in access.granted_paths(actor, "grids.manage_access"))


def may_manage_integrations(actor: Any) -> bool:
    return _may_manage_integration(actor)


def integration_create(
    *, actor: Any, name: str, region: Region, role: Role, expires_at: datetime, token_name: str = ""
) -> NewToken:
    """An integration: a service account with ``role`` granted on ``region`` and a first token until
    ``expires_at``. What the integration may see and do is what the grant allows, as for a person."""
    from .services import audit, grant_create

    if not _may_manage_integration(actor):
        raise PermissionDenied(_("Only an administrator at city level makes integrations."))
    name = _clean_name(name)
    if expires_at is None or expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    username = "svc-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())[:40].strip("-")
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            username = f"{username}-{secrets.token_hex(3)}"
        user = User(username=username, display_name=name, is_service=True)
        user.set_unusable_password()
        user.save()
        grant_create(actor=actor, region=region, user=user, role=role)
        audit(actor=actor, action="integration.create", target=user, region=region, role=role.code)
        return token_create(actor=actor, user=user, name=token_name or name, expires_at=expires_at)


def integration_list(*, actor: Any) -> QuerySet[User]:
    if not _may_manage_integration(actor):
        return User.objects.none()
    return User.objects.filter(is_service=True).prefetch_related("api_tokens").order_by("username")


def integration_get(*, actor: Any, pk: int) -> User:
    from django.http import Http404

    found = integration_list(actor=actor).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found
