"""Every write of the notifications app.

``notify`` is what other apps call, inside their own transaction: the inbox row and one pending delivery per
channel are written with the change, and the deliveries are enqueued only when it commits. A channel's failure
is recorded on its delivery and retried; it never reaches the caller.
"""

from __future__ import annotations

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

from grids.services import audit

from . import channels as channel_registry
from . import selectors
from .channels import ChannelError
from .models import ChannelPreference, Delivery, DeliveryState, Kind, Notification

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


@dataclass(frozen=True)
class Notice:
    """One notice to write with ``notify_many``: the arguments of ``notify``."""

    recipient: User
    kind: str
    title: str
    body: str = ""
    link: str = ""
    subject: str = ""
    dedup_key: str | None = None


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


def notify_many(notices: Iterable[Notice]) -> list[Notification]:
    """``notify`` for many notices at once, in a fixed number of queries whatever their number (the sweep
    writes a batch's notices with one call). Returns the notices written; those whose ``dedup_key`` was already
    taken, by an earlier call or by a concurrent one, are left out, and nothing is queued for them."""
    rows = _validated(notices)
    if not rows:
        return []
    with transaction.atomic(savepoint=False):  # inside the caller's transaction, no savepoint of its own
        written = _insert_new(rows)
        deliveries = _deliveries_for(written)
    if deliveries:
        transaction.on_commit(partial(enqueue_deliveries, [d.pk for d in deliveries]), robust=True)
    return written


def _validated(notices: Iterable[Notice]) -> list[Notification]:
    rows: list[Notification] = []
    keys: set[str] = set()
    for n in notices:
        if n.kind not in Kind.values:
            raise ValueError(f"unknown notification kind {n.kind!r}")
        if n.recipient is None or not getattr(n.recipient, "pk", None):
            raise ValueError("a notification needs a saved recipient")
        title = " ".join((n.title or "").split())[:200]
        if not title:
            raise ValueError("a notification needs a title")
        key = n.dedup_key[:200] if n.dedup_key else None
        if key is not None:
            if key in keys:
                continue  # the same event twice in one call
            keys.add(key)
        row = Notification(
            recipient=n.recipient,
            kind=n.kind,
            title=title,
            body=n.body or "",
            link=(n.link or "")[:200],
            subject=" ".join((n.subject or "").split())[:300],
        )
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
        inserted = _insert_unnest(keyed)
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


# Columns the notices are written with on PostgreSQL, and the array type each travels in.
_UNNEST = {
    "recipient": "bigint",
    "kind": "text",
    "title": "text",
    "body": "text",
    "link": "text",
    "subject": "text",
    "created_at": "timestamptz",
    "dedup_key": "text",
}


def _insert_unnest(rows: list[Notification]) -> list[tuple[int, str]]:
    """PostgreSQL: the same insert with one array per column (``unnest``), so a sweep batch of tens of thousands
    of notices is one short statement instead of one placeholder per value."""
    opts = Notification._meta
    fields = [opts.get_field(name) for name in _UNNEST]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    arrays = ", ".join(f"%s::{kind}[]" for kind in _UNNEST.values())
    sql = (
        f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - our names
        f"ON CONFLICT ({connection.ops.quote_name('dedup_key')}) DO NOTHING RETURNING id, dedup_key"
    )
    params = [[getattr(r, f.attname) for r in rows] for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _deliveries_for(written: list[Notification]) -> list[Delivery]:
    """One pending delivery per notice and channel its recipient gets (one query for everyone's choices)."""
    recipients = {n.recipient_id: n.recipient for n in written}
    channels = selectors.delivery_channels_of(users=list(recipients.values()))
    due = timezone.now() + timedelta(seconds=_setting("NOTIFY_REQUEUE_AFTER", 120))
    wanted = [
        Delivery(notification=n, channel=code, next_attempt_at=due)
        for n in written
        if n.recipient.is_active
        for code in channels.get(n.recipient_id, ())
    ]
    return Delivery.objects.bulk_create(wanted, batch_size=1000) if wanted else []


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


def enqueue_delivery(delivery_id: int) -> bool:
    """Hand a delivery to a worker. With the broker down this logs and returns False: the delivery stays due in
    the database and ``tasks.retry_due_deliveries`` enqueues it later."""
    global _broker_down_until
    from .tasks import deliver

    if time.monotonic() < _broker_down_until:
        return False
    options: dict[str, Any] = {
        # A broker that is down must not hold up the request that committed the change.
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
    }
    queue = _setting("NOTIFY_QUEUE", "")
    if queue:
        options["queue"] = queue
    try:
        deliver.apply_async((delivery_id,), **options)
    except Exception:  # noqa: BLE001 - any broker error; the database keeps the delivery due
        logger.warning("Could not enqueue delivery %s; the periodic retry will", delivery_id, exc_info=True)
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        return False
    return True


# --- the inbox ----------------------------------------------------------------------------------------------


def mark_read(*, user: User, notification: Notification) -> Notification:
    if notification.recipient_id != getattr(user, "pk", None):
        raise PermissionDenied(_("This notification is not yours."))
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def mark_all_read(*, user: User) -> int:
    """Mark every unread notice of ``user`` read; returns how many."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


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
            .select_related("notification__recipient")
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
        channel.send(delivery.notification, delivery_id=delivery.pk)
    except ChannelError as exc:
        return _record_failure_after(delivery, attempt, str(exc), permanent=exc.permanent)
    except Exception as exc:  # noqa: BLE001 - a channel bug or an unexpected library error: recorded, retried
        logger.exception("Delivery %s through %s failed", delivery.pk, delivery.channel)
        return _record_failure_after(delivery, attempt, f"{type(exc).__name__}: {exc}", permanent=False)
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, attempts=attempt).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), last_error="", next_attempt_at=None
    )
    return Outcome.SENT


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
