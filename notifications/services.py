"""Every write of the notifications app.

``notify`` is what other apps call, inside their own transaction: the inbox row and one pending delivery per
channel are written with the change, and the deliveries are enqueued only when it commits. A channel's failure
is recorded on its delivery and retried; it never reaches the caller.

A notice may go to a unit instead of a person (``notify_unit``, ``Notice(unit=...)``: a department, the
dispatchers of a street, see grids.units): one row, in the inbox of everyone in the unit. Its deliveries are made
after the commit by a task (``fan_out``) for the unit's members of that moment, one per member and channel.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from grids import units as unit_registry
from grids.services import audit

from . import channels as channel_registry
from . import selectors
from .channels import ChannelError
from .models import ChannelPreference, Delivery, DeliveryState, InboxState, Kind, Notification, NotificationRead

if TYPE_CHECKING:
    from grids.models import User

logger = logging.getLogger(__name__)

# Upper bound of Celery's retry countdown for deliveries (tasks.deliver uses the same figure).
RETRY_BACKOFF_MAX = 300


class Outcome(StrEnum):
    """What one call of ``delivery_send`` did (returned by the task, for logs and tests)."""

    SENT = "sent"
    FAILED = "failed"  # recorded; tried again later
    GAVE_UP = "gave_up"  # recorded; not tried again (permanent error or attempts used up)
    SKIPPED = "skipped"  # already sent, given up, or unconfirmed: nothing to do
    BUSY = "busy"  # another worker is sending it right now
    UNCONFIRMED = "unconfirmed"  # an earlier attempt was interrupted mid-call; not repeated
    MISSING = "missing"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- notify -------------------------------------------------------------------------------------------------

_TRANSLATED: dict[tuple[str, str], str] = {}


def in_language_of(user: User, message: str, **params: Any) -> str:
    """``message`` (a msgid marked with ``gettext_noop``, with ``%(name)s`` fields) in the language ``user`` chose,
    else the site's: a notice is read by its recipient, whatever language the sender's request or the sweep had.
    Each message is looked up once per language and process."""
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    key = (message, language)
    text = _TRANSLATED.get(key)
    if text is None:
        with translation.override(language):
            text = _TRANSLATED[key] = translation.gettext(message)
    return text % params if params else text


def in_languages(message: str, **params: Any) -> dict[str, str]:
    """``message`` in every language of the site (``settings.LANGUAGES``): the title or text of a unit notice,
    which each member reads in his own language."""
    return {code: _in_language(code, message, params) for code, _name in settings.LANGUAGES}


def _in_language(language: str, message: str, params: dict[str, Any]) -> str:
    key = (message, language)
    text = _TRANSLATED.get(key)
    if text is None:
        with translation.override(language):
            text = _TRANSLATED[key] = translation.gettext(message)
    return text % params if params else text


# A title or text: one string, or one per language (``in_languages``) for a unit notice.
Text = str | dict[str, str]


@dataclass(frozen=True)
class Notice:
    """One notice to write with ``notify_many``: to a person (``recipient``) or to a unit (``unit``, a
    grids.units key; then ``title`` and ``body`` may be given per language and ``actor`` is not shown it)."""

    recipient: User | None
    kind: str
    title: Text
    body: Text = ""
    link: str = ""
    subject: str = ""
    dedup_key: str | None = None
    unit: str = ""
    actor: User | None = None


def notify(
    *,
    recipient: User,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    subject: str = "",
    dedup_key: str | None = None,
) -> Notification | None:
    """Put a notice in ``recipient``'s inbox and queue it on the channels they chose.

    Call it inside the transaction of the change it reports. With a ``dedup_key`` the notice is written at most
    once, ever (the key is unique in the database, so two sweeps racing cannot both write it): the second call
    returns None and queues nothing. When one event notifies several people, put the recipient in the key.
    Deliveries are enqueued on commit, so a rolled-back change sends nothing.
    """
    written = notify_many([Notice(recipient, kind, title, body, link, subject, dedup_key)])
    return written[0] if written else None


def notify_unit(
    *,
    unit: str,
    kind: str,
    title: Text,
    body: Text = "",
    link: str = "",
    subject: str = "",
    dedup_key: str | None = None,
    actor: User | None = None,
) -> Notification | None:
    """``notify`` for a unit (a grids.units key): one notice in the inbox of everyone in the unit now, delivered
    to each member's channels after the commit. With a ``dedup_key`` written at most once: put the unit in it."""
    written = notify_many([Notice(None, kind, title, body, link, subject, dedup_key, unit=unit, actor=actor)])
    return written[0] if written else None


def notify_many(notices: Iterable[Notice]) -> list[Notification]:
    """``notify`` for many notices at once, in a fixed number of queries whatever their number. Returns the
    notices written; those whose ``dedup_key`` was already taken, by an earlier call or by a concurrent one, are
    left out, and nothing is queued for them."""
    rows = _validated(notices)
    if not rows:
        return []
    with transaction.atomic(savepoint=False):  # inside the caller's transaction, no savepoint of its own
        written = _insert_new(rows)
        deliveries = _deliveries_for([n for n in written if not n.unit])
    if deliveries:
        transaction.on_commit(partial(enqueue_deliveries, [d.pk for d in deliveries]), robust=True)
    _fan_out_on_commit([n.pk for n in written if n.unit and n.fanned_out_at is None])
    return written


def notify_batch(notices: Iterable[Notice]) -> int:
    """``notify_many`` for a sweep's batch, returning only how many notices were written: the keyed unit notices
    (on PostgreSQL) go straight from their values into one insert, without a model object each. The rows, the
    checks, "at most once" and what is queued are those of ``notify_many``."""
    notices = list(notices)
    if connection.vendor != "postgresql":
        return len(notify_many(notices))
    fast = [n for n in notices if n.unit and n.dedup_key]
    written = len(notify_many([n for n in notices if not (n.unit and n.dedup_key)])) if len(fast) < len(notices) else 0
    if not fast:
        return written
    deliverable = channel_registry.any_available()
    now = timezone.now()
    columns: dict[str, list[Any]] = {name: [] for name in _UNNEST}
    keys: set[str] = set()
    languages = _languages()
    for n in fast:
        values = _checked(n, languages)
        if values["dedup_key"] in keys:
            continue  # the same event twice in one call
        keys.add(values["dedup_key"])
        values.update(
            recipient=None,
            actor=getattr(n.actor, "pk", None),
            created_at=now,
            fanned_out_at=None if deliverable else now,
        )
        for name, column in columns.items():
            column.append(values[name])
    inserted = _insert_unnest(list(columns.values()))
    _fan_out_on_commit([pk for pk, _key in inserted] if deliverable else [])
    return written + len(inserted)


def _fan_out_on_commit(notification_ids: list[int]) -> None:
    if notification_ids:
        transaction.on_commit(partial(enqueue_fan_out, notification_ids), robust=True)


def _texts(title: Text, body: Text, languages: tuple[str, ...] = ()) -> tuple[str, str, dict[str, list[str]]]:
    """(title, text) in the site's language, and the other languages' pairs where they differ ({} for plain
    strings). ``languages``: the site's codes, its own first (``_languages()``)."""
    if isinstance(title, str) and isinstance(body, str):
        return title, body, {}
    site, *_others = languages or _languages()

    def pick(text: Text, code: str) -> str:
        if isinstance(text, str):
            return text
        return text.get(code) or text.get(site) or next(iter(text.values()), "")

    base = [_one_line(pick(title, site), 200), pick(body, site)]
    others = {code: [_one_line(pick(title, code), 200), pick(body, code)] for code in _others}
    return base[0], base[1], {code: pair for code, pair in others.items() if pair != base}


def _languages() -> tuple[str, ...]:
    site = settings.LANGUAGE_CODE
    return (site, *(code for code, _name in settings.LANGUAGES if code != site))


def _one_line(text: str, length: int) -> str:
    return " ".join(text.split())[:length]


_KINDS = frozenset(Kind.values)


def _checked(n: Notice, languages: tuple[str, ...] = ()) -> dict[str, Any]:
    """The column values of a notice, checked (ValueError when it cannot be written)."""
    if n.kind not in _KINDS:
        raise ValueError(f"unknown notification kind {n.kind!r}")
    if n.unit:
        if n.recipient is not None or unit_registry.parse(n.unit) is None:
            raise ValueError(f"a unit notice needs a unit key and no recipient, not {n.unit!r}")
    elif n.recipient is None or not getattr(n.recipient, "pk", None):
        raise ValueError("a notification needs a saved recipient")
    title, body, texts = _texts(n.title or "", n.body or "", languages)
    title = _one_line(title, 200)
    if not title:
        raise ValueError("a notification needs a title")
    return {
        "unit": n.unit,
        "kind": n.kind,
        "title": title,
        "body": body,
        "texts": texts,
        "link": (n.link or "")[:200],
        "subject": _one_line(n.subject or "", 300),
        "dedup_key": n.dedup_key[:200] if n.dedup_key else None,
    }


def _validated(notices: Iterable[Notice]) -> list[Notification]:
    languages = _languages()
    checked = [(n, _checked(n, languages)) for n in notices]  # every notice checked before any is written
    rows: list[Notification] = []
    keys: set[str] = set()
    deliverable = None
    for n, values in checked:
        key = values.pop("dedup_key")
        if key is not None:
            if key in keys:
                continue  # the same event twice in one call
            keys.add(key)
        row = Notification(recipient=n.recipient, actor=n.actor if n.unit else None, **values)
        if n.unit:
            deliverable = channel_registry.any_available() if deliverable is None else deliverable
            row.fanned_out_at = None if deliverable else row.created_at  # nothing to deliver: done
        row.dedup_key = key
        rows.append(row)
    return rows


def _insert_new(rows: list[Notification]) -> list[Notification]:
    """Insert the rows; a row whose key exists is skipped by the database (``ON CONFLICT DO NOTHING``), which
    answers with the ids of the rows it did insert (``RETURNING``), so a notice another transaction wrote first
    is never taken for ours. This is the insert ``bulk_create`` runs, asked to return what it wrote."""
    keyed = [r for r in rows if r.dedup_key]
    plain = [r for r in rows if not r.dedup_key]
    written = Notification.objects.bulk_create(plain) if plain else []
    if not keyed:
        return written
    by_key = {r.dedup_key: r for r in keyed}
    if connection.vendor == "postgresql":
        columns = [[getattr(r, _ATTNAMES.get(name, name)) for r in keyed] for name in _UNNEST]
        inserted = _insert_unnest(columns)
    else:
        opts = Notification._meta
        fields = [f for f in opts.concrete_fields if not f.primary_key]
        returning = [opts.pk, opts.get_field("dedup_key")]
        inserted = []
        for start in range(0, len(keyed), 1000):
            inserted += Notification.objects._insert(
                keyed[start : start + 1000], fields=fields, returning_fields=returning, on_conflict=OnConflict.IGNORE
            )
    for pk, key in inserted:
        row = by_key[key]
        row.pk = pk
        row._state.adding = False
        written.append(row)
    return written


# Columns the notices are written with on PostgreSQL, and their types.
_UNNEST = {
    "recipient": "bigint",
    "unit": "text",
    "actor": "bigint",
    "texts": "jsonb",
    "kind": "text",
    "title": "text",
    "body": "text",
    "link": "text",
    "subject": "text",
    "created_at": "timestamptz",
    "fanned_out_at": "timestamptz",
    "dedup_key": "text",
}
_ATTNAMES = {"recipient": "recipient_id", "actor": "actor_id"}


def _insert_unnest(columns: list[list[Any]]) -> list[tuple[int, str]]:
    """PostgreSQL: the keyed insert of the rows whose values are ``columns`` (one list per column of ``_UNNEST``),
    sent as one JSON document that the database turns back into rows (``jsonb_to_recordset``): a sweep batch of
    thousands of notices is one short statement with one parameter, instead of one placeholder per value."""
    if not columns or not columns[0]:
        return []
    opts = Notification._meta
    quote = connection.ops.quote_name
    names = ", ".join(quote(opts.get_field(name).column) for name in _UNNEST)
    shape = ", ".join(f"{name} {kind}" for name, kind in _UNNEST.items())
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({names}) SELECT {', '.join(_UNNEST)} "  # noqa: S608 - our names
        f"FROM jsonb_to_recordset(%s::jsonb) AS u({shape}) "
        f"ON CONFLICT ({quote('dedup_key')}) DO NOTHING RETURNING id, dedup_key"
    )
    rows = [dict(zip(_UNNEST, values, strict=True)) for values in zip(*columns, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, ensure_ascii=False, default=_json_value)])
        return cursor.fetchall()


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _deliveries_for(written: list[Notification]) -> list[Delivery]:
    """One pending delivery per notice and channel its recipient gets (one query for everyone's choices)."""
    if not written:
        return []
    recipients = {n.recipient_id: n.recipient for n in written}
    channels = selectors.delivery_channels_of(users=list(recipients.values()))
    due = timezone.now() + timedelta(seconds=_setting("NOTIFY_REQUEUE_AFTER", 120))
    wanted = [
        Delivery(notification=n, recipient=n.recipient, channel=code, next_attempt_at=due)
        for n in written
        if n.recipient.is_active
        for code in channels.get(n.recipient_id, ())
    ]
    return Delivery.objects.bulk_create(wanted, batch_size=1000) if wanted else []


# --- a unit notice's deliveries ---------------------------------------------------------------------------------


def enqueue_fan_out(notification_ids: list[int]) -> bool:
    """Hand unit notices to a worker that makes their deliveries (on commit of the change that wrote them). With
    the broker down this logs and returns False: the notices stay due and the periodic retry hands them on."""
    global _broker_down_until
    from .tasks import fan_out

    if time.monotonic() < _broker_down_until:
        return False
    try:
        fan_out.apply_async((notification_ids,), **_publish_options())
    except Exception:  # noqa: BLE001 - any broker error; the database keeps the notices due
        logger.warning("Could not enqueue the deliveries of %s unit notices", len(notification_ids), exc_info=True)
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        return False
    return True


def deliveries_fan_out(*, notification_ids: list[int]) -> list[int]:
    """Make the deliveries of unit notices: one per member of the unit *now* (active, not the notice's actor)
    and channel he gets; returns the ids of the deliveries made (enqueued on commit).

    Exactly once: each notice is locked (``skip_locked``: a notice another worker is on is left to it) and
    marked ``fanned_out_at`` in the transaction that writes its deliveries, so a repeated task finds it done;
    the database holds one delivery per (notice, member, channel) besides. A fixed number of queries for any
    number of notices and members."""
    with transaction.atomic():
        notices = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=notification_ids, fanned_out_at__isnull=True)
            .exclude(unit="")
            .order_by("pk")
        )
        if not notices:
            return []
        people = unit_registry.members({n.unit for n in notices})
        everyone = {u.pk: u for found in people.values() for u in found}
        channels = selectors.delivery_channels_of(users=list(everyone.values()))
        due = timezone.now() + timedelta(seconds=_setting("NOTIFY_REQUEUE_AFTER", 120))
        wanted = [
            Delivery(notification=n, recipient=u, channel=code, next_attempt_at=due)
            for n in notices
            for u in people.get(n.unit, ())
            if u.pk != n.actor_id
            for code in channels.get(u.pk, ())
        ]
        made = Delivery.objects.bulk_create(wanted, batch_size=1000) if wanted else []
        Notification.objects.filter(pk__in=[n.pk for n in notices]).update(fanned_out_at=timezone.now())
        ids = [d.pk for d in made]
        if ids:
            transaction.on_commit(partial(enqueue_deliveries, ids), robust=True)
    return ids


# After a failed publish, skip publishing for a few seconds: a sweep that commits a thousand deliveries while the
# broker is down should not wait on a thousand connection attempts. The periodic retry catches them up.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue_deliveries(delivery_ids: list[int]) -> int:
    """Hand deliveries to the workers (on commit of the change that wrote them); returns how many were
    published. Stops at the first broker error: the rest stay due and the periodic retry enqueues them."""
    published = 0
    for delivery_id in delivery_ids:
        if not enqueue_delivery(delivery_id):
            break
        published += 1
    return published


def _publish_options() -> dict[str, Any]:
    options: dict[str, Any] = {
        # A broker that is down must not hold up the request that committed the change.
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
    }
    queue = _setting("NOTIFY_QUEUE", "")
    if queue:
        options["queue"] = queue
    return options


def enqueue_delivery(delivery_id: int) -> bool:
    """Hand a delivery to a worker. With the broker down this logs and returns False: the delivery stays due in
    the database and ``tasks.retry_due_deliveries`` enqueues it later."""
    global _broker_down_until
    from .tasks import deliver

    if time.monotonic() < _broker_down_until:
        return False
    try:
        deliver.apply_async((delivery_id,), **_publish_options())
    except Exception:  # noqa: BLE001 - any broker error; the database keeps the delivery due
        logger.warning("Could not enqueue delivery %s; the periodic retry will", delivery_id, exc_info=True)
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        return False
    return True


# --- the inbox ----------------------------------------------------------------------------------------------


def mark_read(*, user: User, notification: Notification) -> Notification:
    """Mark one notice read for ``user``: his own, or one of a unit he belongs to (for him alone)."""
    if notification.unit:
        if notification.unit not in unit_registry.units_of(user) or notification.actor_id == user.pk:
            raise PermissionDenied(_("This notification is not yours."))
        if notification.created_at > selectors.units_read_until(user):
            NotificationRead.objects.bulk_create(
                [NotificationRead(user=user, notification=notification)], ignore_conflicts=True
            )
        notification.read_at = notification.read_at or timezone.now()
        return notification
    if notification.recipient_id != getattr(user, "pk", None):
        raise PermissionDenied(_("This notification is not yours."))
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def mark_all_read(*, user: User) -> int:
    """Mark every unread notice of ``user`` read, his own and his units'; returns how many.

    His units' notices are marked by moving his mark (``InboxState``) to now and dropping his one-by-one
    readings below it: two writes, whatever the number of notices."""
    now = timezone.now()
    with transaction.atomic():
        units = selectors.unread_unit_count(user=user)
        own = Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=now)
        if units or unit_registry.units_of(user):
            InboxState.objects.update_or_create(user=user, defaults={"units_read_until": now})
            NotificationRead.objects.filter(user=user).delete()
    return own + units


def set_channels(*, user: User, channels: Iterable[str]) -> list[str]:
    """Choose the external channels ``user`` gets (the inbox is always on); returns the chosen codes."""
    known = channel_registry.registry()
    chosen = sorted(set(channels))
    unknown = [code for code in chosen if code not in known]
    if unknown:
        raise ValidationError({"channels": _("Unknown channel: %(codes)s") % {"codes": ", ".join(unknown)}})
    with transaction.atomic():
        for code in known:
            ChannelPreference.objects.update_or_create(user=user, channel=code, defaults={"enabled": code in chosen})
        audit(actor=user, action="notifications.channels", target=user, channels=chosen)
    return chosen


# --- delivery -----------------------------------------------------------------------------------------------


def retry_countdown(attempts: int) -> int:
    """Seconds before attempt ``attempts + 1``: 1, 2, 4 … capped at RETRY_BACKOFF_MAX (Celery's retry_backoff)."""
    return get_exponential_backoff_interval(
        factor=1, retries=max(attempts - 1, 0), maximum=RETRY_BACKOFF_MAX, full_jitter=False
    )


def delivery_send(*, delivery_id: int) -> Outcome:
    """Make one attempt at a delivery; returns an ``Outcome``. Never raises for a channel's failure.

    Exactly once, as far as the database can tell: under a row lock the attempt is recorded as "sending" (and
    committed) before anything leaves, and "sent" after the receiver took it. A repeat of the task (a message
    redelivered after its worker died) finds "sent" and does nothing, or finds "sending": then either a live
    worker is on it (within NOTIFY_SENDING_LEASE: leave it) or the worker died during the call, and nobody
    can know whether the receiver got it. Such an attempt is marked "unconfirmed" and not repeated (unless
    NOTIFY_RESEND_INTERRUPTED). The windows left: a worker killed between committing "sending" and the
    request leaving loses that one message (the inbox still has it); one killed after the receiver took it
    but before "sent" commits is recorded "unconfirmed", not resent. A failed call (timeout, 5xx) is retried,
    so a receiver that took a request but did not answer in time may see it again: the delivery id in every
    message lets it drop the repeat.
    """
    now = timezone.now()
    lease = timedelta(seconds=_setting("NOTIFY_SENDING_LEASE", 300))
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notification", "recipient")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return Outcome.MISSING
        if delivery.state in (DeliveryState.SENT, DeliveryState.UNCONFIRMED):
            return Outcome.SKIPPED
        if delivery.state == DeliveryState.FAILED and delivery.next_attempt_at is None:
            return Outcome.SKIPPED
        if delivery.state == DeliveryState.SENDING:
            if delivery.sending_at and delivery.sending_at > now - lease:
                return Outcome.BUSY
            if not _setting("NOTIFY_RESEND_INTERRUPTED", False):
                _mark_unconfirmed(delivery)
                return Outcome.UNCONFIRMED
        channel = channel_registry.get(delivery.channel)
        if channel is None or not channel.is_available():
            return _record_failure(delivery, "channel not configured", permanent=True, now=now)
        delivery.state = DeliveryState.SENDING
        delivery.sending_at = now
        delivery.attempts += 1
        delivery.save(update_fields=["state", "sending_at", "attempts"])
    attempt = delivery.attempts
    # No transaction and no lock are held during the call: a slow receiver blocks nothing else.
    try:
        channel.send(_as_sent_to(delivery), delivery_id=delivery.pk)
    except ChannelError as exc:
        return _record_failure_after(delivery, attempt, str(exc), permanent=exc.permanent)
    except Exception as exc:  # noqa: BLE001 - a channel bug or an unexpected library error: recorded, retried
        logger.exception("Delivery %s through %s failed", delivery.pk, delivery.channel)
        return _record_failure_after(delivery, attempt, f"{type(exc).__name__}: {exc}", permanent=False)
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, attempts=attempt).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), last_error="", next_attempt_at=None
    )
    return Outcome.SENT


def _as_sent_to(delivery: Delivery) -> Notification:
    """The notice as this delivery's person gets it: to him, in his language (a unit notice goes to each member)."""
    notice = delivery.notification
    if notice.unit:
        notice.recipient = delivery.recipient
        notice.title, notice.body = notice.text_in(
            getattr(delivery.recipient, "language", "") or settings.LANGUAGE_CODE
        )
    return notice


def _mark_unconfirmed(delivery: Delivery) -> None:
    delivery.state = DeliveryState.UNCONFIRMED
    delivery.next_attempt_at = None
    delivery.last_error = "interrupted during the call (worker stopped); not repeated, the receiver may have it"
    delivery.save(update_fields=["state", "next_attempt_at", "last_error"])


def _record_failure(delivery: Delivery, error: str, *, permanent: bool, now: datetime) -> Outcome:
    give_up = permanent or delivery.attempts >= _setting("NOTIFY_MAX_ATTEMPTS", 9)
    delivery.state = DeliveryState.FAILED
    delivery.last_error = error[:1000]
    delivery.next_attempt_at = (
        None
        if give_up
        else now + timedelta(seconds=retry_countdown(delivery.attempts) + _setting("NOTIFY_REQUEUE_AFTER", 120))
    )
    delivery.save(update_fields=["state", "last_error", "next_attempt_at"])
    if give_up:
        logger.warning("Delivery %s through %s given up: %s", delivery.pk, delivery.channel, error)
    return Outcome.GAVE_UP if give_up else Outcome.FAILED


def _record_failure_after(delivery: Delivery, attempt: int, error: str, *, permanent: bool) -> Outcome:
    with transaction.atomic():
        current = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if current is None or current.state != DeliveryState.SENDING or current.attempts != attempt:
            return Outcome.SKIPPED  # someone else has settled this attempt meanwhile
        return _record_failure(current, error, permanent=permanent, now=timezone.now())


def deliveries_requeue_due(*, limit: int = 500) -> list[int]:
    """Enqueue again the deliveries whose task never ran or whose retry got lost (broker down, worker gone), and
    settle attempts left "sending" past the lease; returns the ids enqueued (on commit).

    Rows are claimed with ``skip_locked``, so several runs at once share the work instead of repeating it.
    """
    now = timezone.now()
    lease = timedelta(seconds=_setting("NOTIFY_SENDING_LEASE", 300))
    later = now + timedelta(seconds=_setting("NOTIFY_REQUEUE_AFTER", 120))
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.SENDING, sending_at__lt=now - lease)
            .order_by("sending_at")[:limit]
        )
        resend = _setting("NOTIFY_RESEND_INTERRUPTED", False)
        for delivery in stale:
            if resend:
                delivery.state = DeliveryState.FAILED
                delivery.last_error = "interrupted during the call (worker stopped); repeated"
                delivery.next_attempt_at = now
                delivery.save(update_fields=["state", "last_error", "next_attempt_at"])
            else:
                _mark_unconfirmed(delivery)
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state__in=[DeliveryState.PENDING, DeliveryState.FAILED], next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if due:
            Delivery.objects.filter(pk__in=due).update(next_attempt_at=later)
        if due:
            transaction.on_commit(partial(enqueue_deliveries, due), robust=True)
    return due


def fan_outs_requeue_due(*, limit: int = 500) -> list[int]:
    """Hand on again the unit notices whose deliveries were never made (their task was lost with the broker, or
    its worker): those written more than NOTIFY_REQUEUE_AFTER ago and not fanned out. Returns their ids (enqueued
    on commit). The task is idempotent, so one also running now changes nothing."""
    if not channel_registry.any_available():
        return []
    since = timezone.now() - timedelta(seconds=_setting("NOTIFY_REQUEUE_AFTER", 120))
    unmade = list(
        Notification.objects.filter(fanned_out_at__isnull=True, created_at__lte=since)
        .exclude(unit="")
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if unmade:
        transaction.on_commit(partial(enqueue_fan_out, unmade), robust=True)
    return unmade
