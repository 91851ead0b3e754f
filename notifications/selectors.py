"""Reads of the notifications app, always of the acting user's own notices.

The inbox shows unread notices first, then read ones, each newest first, paginated by keyset over the two
segments (no ``COUNT(*)``); each segment is read through its own index.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.dateparse import parse_datetime

from govgrid.pager import Page

from . import channels as channel_registry
from .models import ChannelPreference, Notification

if TYPE_CHECKING:
    from .channels import Channel

UNREAD, READ = 0, 1  # the inbox's segments, in display order
UNREAD_CAP = 100  # the navbar counts up to this many ("99+")


def _own(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def unread_count(*, user: Any, cap: int = UNREAD_CAP) -> int:
    """Unread notices of ``user``, counted up to ``cap``: one query on the unread index, bounded in cost.

    It reads at most ``cap`` ids (an index-only scan) rather than running ``COUNT``: list pages keep no
    ``COUNT`` in their SQL, and the cost stays the same for a user with a million unread notices.
    """
    if not getattr(user, "is_authenticated", False):
        return 0
    return len(_own(user).filter(read_at__isnull=True).values_list("pk", flat=True)[:cap])


def notification_get(*, user: Any, pk: int) -> Notification:
    """One of the user's own notices; anyone else's answers 404 (ids cannot be probed)."""
    found = _own(user).filter(pk=pk).first() if getattr(user, "is_authenticated", False) else None
    if found is None:
        raise Http404
    return found


# --- the inbox, keyset-paginated over (segment, created_at, id) ----------------------------------------------


@dataclass(frozen=True)
class _Position:
    segment: int
    created_at: datetime
    pk: int


def _encode(row: Notification) -> str:
    segment = UNREAD if row.read_at is None else READ
    raw = f"{segment}|{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> _Position | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        segment, when, pk = raw.split("|", 2)
        parsed = parse_datetime(when)
        if parsed is None or int(segment) not in (UNREAD, READ):
            return None
        return _Position(int(segment), parsed, int(pk))
    except (ValueError, UnicodeDecodeError):
        return None


def _segment(user: Any, segment: int) -> QuerySet[Notification]:
    return _own(user).filter(read_at__isnull=segment == UNREAD)


def inbox_page(*, user: Any, after: str = "", before: str = "", size: int = 30) -> Page:
    """A page of the user's inbox: unread first, then read, newest first within each; ``size + 1`` rows at
    most per segment read. A bad cursor gives the first page."""
    size = max(1, min(size, 200))
    backward = bool(before)
    position = _decode(before if backward else after)
    if backward and position is None:
        backward = False
    fetched: list[Notification] = []
    segments = range(position.segment, UNREAD - 1, -1) if backward else range(position.segment if position else 0, 2)
    for segment in segments:
        rows = _segment(user, segment)
        if position and segment == position.segment:
            at, pk = position.created_at, position.pk
            if backward:
                rows = rows.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk))
            else:
                rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
        order = ("created_at", "pk") if backward else ("-created_at", "-pk")
        fetched += list(rows.order_by(*order)[: size + 1 - len(fetched)])
        if len(fetched) > size:
            break
    more = len(fetched) > size
    items = fetched[:size]
    page = Page(items=items)
    if backward:
        items.reverse()
        if items:
            page.previous_cursor = _encode(items[0]) if more else ""
            page.next_cursor = _encode(items[-1])
        else:
            page.next_cursor = before
    elif items:
        page.next_cursor = _encode(items[-1]) if more else ""
        page.previous_cursor = _encode(items[0]) if position else ""
    return page


# --- channels -----------------------------------------------------------------------------------------------


def _chosen_of(users: list[Any], registry: dict[str, Channel]) -> dict[int, dict[str, bool]]:
    """Each user's choice per channel code: their own rows, else settings.NOTIFY_DEFAULT_CHANNELS (one query)."""
    defaults = set(getattr(settings, "NOTIFY_DEFAULT_CHANNELS", []))
    own: dict[int, dict[str, bool]] = {}
    rows = ChannelPreference.objects.filter(user_id__in=[u.pk for u in users]).values_list(
        "user_id", "channel", "enabled"
    )
    for user_id, code, enabled in rows:
        own.setdefault(user_id, {})[code] = enabled
    return {u.pk: {code: own.get(u.pk, {}).get(code, code in defaults) for code in registry} for u in users}


def _chosen(user: Any, registry: dict[str, Channel]) -> dict[str, bool]:
    return _chosen_of([user], registry)[user.pk]


def delivery_channels(*, user: Any) -> list[str]:
    """Codes of the channels a notice to ``user`` goes out on: chosen, configured, and able to reach them."""
    return delivery_channels_of(users=[user]).get(user.pk, [])


def delivery_channels_of(*, users: list[Any]) -> dict[int, list[str]]:
    """``delivery_channels`` for many users at once: user id → channel codes, one query for all their choices."""
    registry = channel_registry.registry()
    if not users or not registry:
        return {}
    chosen = _chosen_of(users, registry)
    available = {code: channel for code, channel in registry.items() if channel.is_available()}
    return {
        u.pk: [code for code, channel in available.items() if chosen[u.pk][code] and channel.accepts(u)] for u in users
    }


@dataclass(frozen=True)
class ChannelOption:
    code: str
    label: str
    enabled: bool  # the user's choice
    available: bool  # configured on this installation
    reachable: bool  # the user can be reached this way (e.g. has an e-mail address)


def channel_options(*, user: Any) -> list[ChannelOption]:
    """Every configured channel with the user's choice and whether it can work for them (settings page)."""
    registry = channel_registry.registry()
    chosen = _chosen(user, registry)
    return [
        ChannelOption(
            code=code,
            label=str(channel.label or code),
            enabled=chosen[code],
            available=channel.is_available(),
            reachable=channel.accepts(user),
        )
        for code, channel in registry.items()
    ]
