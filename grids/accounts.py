"""Signing in (登录) and the security of staff accounts: the login lockout, the audit of every sign-in, forced
password changes and ending sessions.

Failed logins are counted by django-axes (per account and per address); this module decides what counts as locked
(``LoginAttemptHandler``), says until when, lets an admin unlock an account, and writes every login, failed login,
lockout, logout, unlock and "sign out everywhere" to the audit trail in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from govgrid.net import client_ip

from . import access
from .models import User
from .services import audit


class LoginAttemptHandler(AxesDatabaseHandler):
    """Counts failures per account and per address, each against its own limit.

    A whole office often reaches the app through one address, so the address limit
    (``GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT``) is higher than the account limit (``AXES_FAILURE_LIMIT``). Axes
    compares one number with one limit: the address count is scaled to the account limit before the larger
    of the two is returned.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        ip = getattr(request, "axes_ip_address", None) or client_ip(request)
        account, address = _failure_counts(username=username, ip=ip)
        limit = settings.AXES_FAILURE_LIMIT
        per_address = max(1, settings.GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT)
        scaled = address * limit // per_address if address < per_address else max(limit, address)
        return max(account, scaled)


def _recent() -> Any:
    cool_off = get_cool_off()
    rows = AccessAttempt.objects.all()
    return rows.filter(attempt_time__gte=timezone.now() - cool_off) if cool_off else rows


def _failure_counts(*, username: str | None, ip: str | None) -> tuple[int, int]:
    recent = _recent()
    account = recent.filter(username=username).aggregate(n=Sum("failures_since_start"))["n"] or 0 if username else 0
    address = recent.filter(ip_address=ip).aggregate(n=Sum("failures_since_start"))["n"] or 0 if ip else 0
    return account, address


@dataclass(frozen=True)
class Lockout:
    locked: bool
    until: datetime | None = None
    failures: int = 0


def lockout_of(*, username: str | None = None, ip: str | None = None) -> Lockout:
    """Whether an account (or an address) is locked out now, and until when."""
    account, address = _failure_counts(username=username, ip=ip)
    locked = account >= settings.AXES_FAILURE_LIMIT or address >= settings.GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT
    if not locked:
        return Lockout(False, failures=account)
    cool_off = get_cool_off()
    last = _recent().filter(Q(username=username) | Q(ip_address=ip)).aggregate(t=Max("attempt_time"))["t"]
    until = last + cool_off if (last and cool_off) else None
    return Lockout(True, until=until, failures=account)


# --- audit of sign-ins (called from the auth signals wired in apps.py) ---------------------------------------


def _user_by_name(username: str | None) -> User | None:
    if not username:
        return None
    return User.objects.filter(username=username).select_related("region").first()


def record_login(*, request: Any, user: User) -> None:
    with transaction.atomic():
        audit(
            actor=user,
            action="auth.login",
            target=user,
            region=user.region,
            ip=client_ip(request) if request is not None else "",
        )


def record_logout(*, request: Any, user: User | None) -> None:
    if user is None or not getattr(user, "pk", None):
        return
    with transaction.atomic():
        audit(actor=user, action="auth.logout", target=user, region=user.region, ip=client_ip(request))


def record_login_failed(*, request: Any, username: str | None, locked_out: bool) -> None:
    """A failed attempt (wrong password, unknown name, or refused during a lockout). The password is never
    stored; the name is stored as typed (it may be a mistyped real name, which is what an admin wants to see)."""
    user = _user_by_name(username)
    with transaction.atomic():
        audit(
            actor=None,
            action="auth.login_refused" if locked_out else "auth.login_failed",
            target=user or AttemptTarget(username or ""),
            region=user.region if user else None,
            ip=client_ip(request) if request is not None else "",
            username=(username or "")[:150],
        )


def record_lockout(*, request: Any, username: str | None, ip: str | None) -> None:
    user = _user_by_name(username)
    lock = lockout_of(username=username, ip=ip)
    with transaction.atomic():
        audit(
            actor=None,
            action="auth.locked_out",
            target=user or AttemptTarget(username or ""),
            region=user.region if user else None,
            ip=ip or "",
            username=(username or "")[:150],
            until=lock.until.isoformat() if lock.until else None,
        )


class AttemptTarget:
    """What a failed login names when no account has that name."""

    def __init__(self, username: str) -> None:
        self.pk = ""
        self.username = username

    def __str__(self) -> str:
        return self.username or "?"


# --- what admins and people do to accounts --------------------------------------------------------------


def _require_staff_admin(actor: User, staff: User) -> None:
    if actor.pk == staff.pk:
        return
    if staff.region_id is None and not actor.is_superuser:
        raise PermissionDenied(_("Only a superuser can act on an account without a main region."))
    if staff.region_id is not None and not access.user_can(actor, "grids.manage_staff", staff.region):
        raise PermissionDenied(_("You do not manage this account."))


def staff_unlock(*, actor: User, staff: User) -> int:
    """End the login lockout of an account now (its failed attempts are forgotten)."""
    _require_staff_admin(actor, staff)
    with transaction.atomic():
        removed, _rows = AccessAttempt.objects.filter(username=staff.username).delete()
        audit(actor=actor, action="auth.unlock", target=staff, region=staff.region, attempts=removed)
    return removed


def user_sign_out_everywhere(*, actor: User, user: User) -> None:
    """End every session of ``user`` (on every browser and phone), by the person or an admin of the account."""
    _require_staff_admin(actor, user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
        user.refresh_from_db(fields=["session_epoch"])
        audit(actor=actor, action="auth.sign_out_everywhere", target=user, region=user.region)


def user_password_changed(*, user: User) -> None:
    """The person set their own password (the change view has saved it): the forced change is done."""
    with transaction.atomic():
        if user.must_change_password:
            User.objects.filter(pk=user.pk).update(must_change_password=False)
            user.must_change_password = False
        audit(actor=user, action="auth.password_change", target=user, region=user.region)
