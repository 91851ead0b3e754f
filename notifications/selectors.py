"""Reads of the notifications app, always of the notices the acting user may see: his own, and those of the
units he belongs to now (grids.units: his departments, the levels where he dispatches or supervises), but not
those reporting his own change.

The inbox shows unread notices first, then read ones, each newest first, paginated by keyset over the two
segments (no ``COUNT(*)``). Each segment is one query: a ``UNION ALL`` of one branch per source (his own
notices, each of his units), each read through its index in order and cut at the page's size, so a page costs
the same whatever the history. A unit notice is unread for him when it is newer than his mark
(``InboxState``, else the day his account was made) and he has not read it one by one (``NotificationRead``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.dateparse import parse_datetime

from govgrid.pager import Page
from grids import units as unit_registry

from . import channels as channel_registry
from .models import ChannelPreference, InboxState, Notification, NotificationRead

if TYPE_CHECKING:
    from .channels import Channel

UNREAD, READ, ALL = 0, 1, 2  # the inbox's segments, in display order; ALL: both, newest first (the API)
UNREAD_CAP = 100  # the navbar counts up to this many ("99+")


def _own(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def _units(user: Any) -> list[str]:
    return sorted(unit_registry.units_of(user))


def _of_unit(user: Any, units: str | list[str]) -> QuerySet[Notification]:
    rows = (
        Notification.objects.filter(unit=units)
        if isinstance(units, str)
        else Notification.objects.filter(unit__in=units)
    )
    return rows.filter(Q(actor__isnull=True) | ~Q(actor=user.pk))


def _mark(user: Any) -> Coalesce:
    """His mark, in SQL (evaluated once per query): unit notices written up to it are read."""
    state = InboxState.objects.filter(user=user.pk).values("units_read_until")[:1]
    return Coalesce(Subquery(state), Value(user.date_joined), output_field=DateTimeField())


def units_read_until(user: Any) -> Any:
    """His mark, in Python."""
    found = InboxState.objects.filter(user=user.pk).values_list("units_read_until", flat=True).first()
    return found or user.date_joined


def _read_one_by_one(user: Any) -> Exists:
    return Exists(NotificationRead.objects.filter(user=user.pk, notification=OuterRef("pk")))


def visible(*, user: Any) -> QuerySet[Notification]:
    """Every notice ``user`` may see, as one queryset (for small reads and checks; the inbox reads by source)."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    units = _units(user)
    mine = Q(recipient=user.pk)
    if units:
        mine |= Q(unit__in=units) & (Q(actor__isnull=True) | ~Q(actor=user.pk))
    return Notification.objects.filter(mine)


def unread_count(*, user: Any, cap: int = UNREAD_CAP) -> int:
    """Unread notices of ``user``, counted up to ``cap``: one query, bounded in cost.

    It reads at most ``cap`` ids of his own (the unread index) and ``cap`` of his units' (their index, from his
    mark on, skipping the few he read one by one) rather than running ``COUNT``: list pages keep no ``COUNT`` in
    their SQL, and the cost stays the same for a user with a million unread notices.
    """
    if not getattr(user, "is_authenticated", False):
        return 0
    rows = _own(user).filter(read_at__isnull=True).order_by().values_list("pk", flat=True)[:cap]
    units = _units(user)
    if not units:
        return len(rows)
    theirs = _unread_of_units(user, units).order_by().values_list("pk", flat=True)[:cap]
    if connection.features.supports_slicing_ordering_in_compound:
        return len(rows.union(theirs, all=True).order_by()[:cap])
    return min(cap, len(rows) + len(theirs))


def _unread_of_units(user: Any, units: str | list[str]) -> QuerySet[Notification]:
    return _of_unit(user, units).filter(created_at__gt=_mark(user)).exclude(_read_one_by_one(user))


def unread_unit_count(*, user: Any) -> int:
    """How many of his units' notices ``user`` has not read (for "mark all read" to say)."""
    units = _units(user)
    return _unread_of_units(user, units).count() if units else 0


def notification_get(*, user: Any, pk: int) -> Notification:
    """One notice the user may see, as he sees it; anyone else's answers 404 (ids cannot be probed)."""
    found = visible(user=user).filter(pk=pk).first() if getattr(user, "is_authenticated", False) else None
    if found is None:
        raise Http404
    if found.unit:
        read = (
            found.created_at <= units_read_until(user)
            or NotificationRead.objects.filter(user=user.pk, notification=found).exists()
        )
        found.read_at = found.created_at if read else None
    _as_seen_by([found], user)
    return found


def _as_seen_by(rows: list[Notification], user: Any) -> list[Notification]:
    """A unit notice as ``user`` reads it: in his language, named after the unit it went to."""
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    found = [n for n in rows if n.unit]
    names = unit_registry.labels({n.unit for n in found}) if found else {}
    for n in rows:
        n.unit_label = names.get(n.unit, "")
        if n.texts:
            n.title, n.body = n.text_in(language)
    return rows


# --- the inbox, keyset-paginated over (segment, created_at, id) ----------------------------------------------


@dataclass(frozen=True)
class _Position:
    segment: int
    created_at: datetime
    pk: int


def _encode(row: Notification, segments: tuple[int, ...] = (UNREAD, READ)) -> str:
    segment = segments[0] if len(segments) == 1 else UNREAD if row.read_at is None else READ
    raw = f"{segment}|{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> _Position | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        segment, when, pk = raw.split("|", 2)
        parsed = parse_datetime(when)
        if parsed is None or int(segment) not in (UNREAD, READ, ALL):
            return None
        return _Position(int(segment), parsed, int(pk))
    except (ValueError, UnicodeDecodeError):
        return None


def _sources(user: Any, segment: int) -> list[QuerySet[Notification]]:
    """One queryset per source of a segment, each annotated with ``seen_at`` (when he read it; null: unread)."""
    own = _own(user)
    if segment != ALL:
        own = own.filter(read_at__isnull=segment == UNREAD)
    sources = [own.annotate(seen_at=F("read_at"))]
    units = _units(user)
    if not units:
        return sources
    mark = _mark(user)
    one_by_one = Subquery(
        NotificationRead.objects.filter(user=user.pk, notification=OuterRef("pk")).values("read_at")[:1]
    )
    for unit in units:
        rows = _of_unit(user, unit)
        if segment == UNREAD:
            sources.append(_unread_of_units(user, unit).annotate(seen_at=Value(None, DateTimeField())))
        elif segment == READ:
            sources.append(rows.filter(created_at__lte=mark).annotate(seen_at=mark))
        else:
            seen = Case(When(created_at__lte=mark, then=mark), default=one_by_one, output_field=DateTimeField())
            sources.append(rows.annotate(seen_at=seen))
    if segment == READ:  # those newer than his mark that he read one by one: few, found from his readings
        read = NotificationRead.objects.filter(user=user.pk).values("notification_id")
        sources.append(
            _of_unit(user, units).filter(created_at__gt=mark, pk__in=Subquery(read)).annotate(seen_at=one_by_one)
        )
    return sources


def _fetch(user: Any, segment: int, position: _Position | None, backward: bool, limit: int) -> list[Notification]:
    """Up to ``limit`` rows of a segment past ``position``, in the direction of travel: one query."""
    order = ("created_at", "pk") if backward else ("-created_at", "-pk")
    branches = []
    for rows in _sources(user, segment):
        if position and segment == position.segment:
            at, pk = position.created_at, position.pk
            # The range on created_at first, the tie on the id beside it: each branch stays one ordered index scan.
            if backward:
                rows = rows.filter(Q(created_at__gte=at), Q(created_at__gt=at) | Q(pk__gt=pk))
            else:
                rows = rows.filter(Q(created_at__lte=at), Q(created_at__lt=at) | Q(pk__lt=pk))
        branches.append(rows.order_by(*order)[:limit])
    found = _merged(branches, backward=backward, limit=limit)
    for n in found:
        n.read_at = n.seen_at
    return found


def _merged(branches: list[QuerySet[Notification]], *, backward: bool, limit: int) -> list[Notification]:
    """The first ``limit`` rows of the branches together, in order: one ``UNION ALL`` of the ordered, cut
    branches where the database takes that (PostgreSQL), else one query per branch (SQLite)."""
    if len(branches) == 1:
        return list(branches[0])
    outer = ("created_at", "id") if backward else ("-created_at", "-id")
    if connection.features.supports_slicing_ordering_in_compound:
        return list(branches[0].union(*branches[1:], all=True).order_by(*outer)[:limit])
    rows = [row for branch in branches for row in branch]
    rows.sort(key=lambda n: (n.created_at, n.pk), reverse=not backward)
    return rows[:limit]


def inbox_page(
    *, user: Any, after: str = "", before: str = "", size: int = 30, segments: tuple[int, ...] = (UNREAD, READ)
) -> Page:
    """A page of the user's inbox: unread first, then read, newest first within each; ``size + 1`` rows at
    most per segment read. A bad cursor gives the first page. ``segments=(ALL,)`` lists everything newest first,
    ``(UNREAD,)`` or ``(READ,)`` one part (the API's filter)."""
    size = max(1, min(size, 200))
    backward = bool(before)
    position = _decode(before if backward else after)
    if position and position.segment not in segments:
        position = None
    if backward and position is None:
        backward = False
    fetched: list[Notification] = []
    if backward:
        order = [s for s in reversed(segments) if s <= position.segment]
    else:
        order = [s for s in segments if position is None or s >= position.segment]
    for segment in order:
        fetched += _fetch(user, segment, position, backward, size + 1 - len(fetched))
        if len(fetched) > size:
            break
    more = len(fetched) > size
    items = _as_seen_by(fetched[:size], user)
    page = Page(items=items)
    encode = lambda row: _encode(row, segments)  # noqa: E731
    if backward:
        items.reverse()
        if items:
            page.previous_cursor = encode(items[0]) if more else ""
            page.next_cursor = encode(items[-1])
        else:
            page.next_cursor = before
    elif items:
        page.next_cursor = encode(items[-1]) if more else ""
        page.previous_cursor = encode(items[0]) if position else ""
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
