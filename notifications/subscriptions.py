"""Signed event subscriptions (outbound webhooks for integrations).

Other apps register the events they publish (``register_event``) and call ``publish`` inside the transaction of
the change: one ``EventDelivery`` per matching subscription is written with the change (unique per subscription
and event key, so an event is delivered once), and handed to a worker on commit. A delivery is a POST of JSON with

    X-GovGrid-Event:      the event code, e.g. case.closed
    X-GovGrid-Delivery:   the delivery id (a receiver drops a repeat)
    X-GovGrid-Timestamp:  Unix seconds when it was signed
    X-GovGrid-Signature:  sha256=HEX, HMAC-SHA256 under the subscription's secret of "TIMESTAMP." + body

A receiver recomputes the signature and refuses old timestamps (replay). Failures are recorded and retried with
exponential backoff; admins read the log and replay a delivery. This module knows no case code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from govgrid import versioned_cache

from .models import DeliveryState, EventDelivery, Subscription

logger = logging.getLogger(__name__)

EVENTS: dict[str, Any] = {}  # code → label, filled by the apps that publish
MAX_ATTEMPTS = 9
BACKOFF_MAX = 300


def register_event(code: str, label: Any) -> None:
    EVENTS[code] = label


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + HMAC-SHA256(secret, "TIMESTAMP." + body) in hex."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (shown in docs/api.md): the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


# --- subscriptions (admins) ---------------------------------------------------------------------------------


def may_manage(actor: Any) -> bool:
    from grids.tokens import may_manage_integrations

    return may_manage_integrations(actor)


def subscription_save(
    *,
    actor: Any,
    name: str,
    url: str,
    events: list[str],
    region_path: str = "",
    region_label: str = "",
    subscription: Subscription | None = None,
    is_active: bool = True,
) -> Subscription:
    from grids.services import audit

    if not may_manage(actor):
        raise PermissionDenied(_("Only an administrator at city level manages event subscriptions."))
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = [_("A name is required.")]
    if urlsplit(url or "").scheme not in ("http", "https"):
        errors["url"] = [_("An http(s) address is required.")]
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        errors["events"] = [_("Choose at least one known event.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        sub = subscription or Subscription(secret=secrets.token_urlsafe(32), created_by=actor)
        sub.name, sub.url, sub.events = name, url, sorted(set(events))
        sub.region_path, sub.region_label, sub.is_active = region_path, region_label, is_active
        sub.save()
        versioned_cache.changed(SUBSCRIPTIONS)
        audit(actor=actor, action="subscription.save", target=sub, url=url, events=sub.events, scope=region_label)
    return sub


def subscription_delete(*, actor: Any, subscription: Subscription) -> None:
    from grids.services import audit

    if not may_manage(actor):
        raise PermissionDenied(_("Only an administrator at city level manages event subscriptions."))
    with transaction.atomic():
        audit(actor=actor, action="subscription.delete", target=subscription)
        subscription.delete()
        versioned_cache.changed(SUBSCRIPTIONS)


# --- publishing ---------------------------------------------------------------------------------------------


def publish(*, event: str, key: str, region_path: str, payload: dict[str, Any]) -> list[int]:
    """Queue ``event`` for every active subscription that wants it and whose scope holds ``region_path``. Call it
    inside the change's transaction; returns the delivery ids written (sent on commit). A key already delivered
    to a subscription is not queued again."""
    if event not in EVENTS:
        raise ValueError(f"unregistered event {event!r}")
    wanted = [s for s in active_subscriptions() if event in s[2] and region_path.startswith(s[1])]
    if not wanted:
        return []
    due = timezone.now() + timedelta(seconds=getattr(settings, "NOTIFY_REQUEUE_AFTER", 120))
    rows = [
        EventDelivery(subscription_id=s[0], event=event, key=key[:120], payload=payload, next_attempt_at=due)
        for s in wanted
    ]
    with transaction.atomic():
        EventDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        ids = list(
            EventDelivery.objects.filter(
                subscription_id__in=[s[0] for s in wanted], key=key[:120], state=DeliveryState.PENDING, attempts=0
            ).values_list("pk", flat=True)
        )
    if ids:
        transaction.on_commit(partial(enqueue, ids), robust=True)
    return ids


SUBSCRIPTIONS = "event-subscriptions"  # versioned_cache kind, raised by every change of a subscription


def active_subscriptions() -> list[tuple[int, str, list[str]]]:
    """(id, region path, events) of the active subscriptions, from the shared cache: every case transition asks."""
    return versioned_cache.get_or_build(
        SUBSCRIPTIONS,
        "active",
        lambda: list(Subscription.objects.filter(is_active=True).values_list("pk", "region_path", "events")),
    )


def enqueue(ids: list[int]) -> int:
    from .tasks import deliver_event

    queue = getattr(settings, "NOTIFY_QUEUE", "")
    options: dict[str, Any] = {
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
    }
    if queue:
        options["queue"] = queue
    sent = 0
    for pk in ids:
        try:
            deliver_event.apply_async((pk,), **options)
        except Exception:  # noqa: BLE001 - the broker is down: the periodic retry picks it up
            logger.warning("Could not enqueue event delivery %s", pk, exc_info=True)
            break
        sent += 1
    return sent


# --- sending ------------------------------------------------------------------------------------------------


def body_of(delivery: EventDelivery) -> bytes:
    message = {
        "id": delivery.key,
        "event": delivery.event,
        "delivery": delivery.pk,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(message, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _backoff(attempts: int) -> int:
    return min(BACKOFF_MAX, 2 ** max(attempts - 1, 0))


def delivery_send(*, delivery_id: int) -> str:
    """One attempt; returns "sent", "failed" (to retry), "gave_up", "skipped" or "busy". Never raises for the
    receiver's failure. As for notices, the attempt is recorded before the call and settled after it."""
    now = timezone.now()
    with transaction.atomic():
        d = EventDelivery.objects.select_for_update().select_related("subscription").filter(pk=delivery_id).first()
        if d is None or d.state == DeliveryState.SENT or not d.subscription.is_active:
            return "skipped"
        if d.state == DeliveryState.FAILED and d.next_attempt_at is None:
            return "skipped"
        if d.state == DeliveryState.SENDING and d.sending_at and d.sending_at > now - timedelta(seconds=300):
            return "busy"
        d.state, d.sending_at, d.attempts = DeliveryState.SENDING, now, d.attempts + 1
        d.save(update_fields=["state", "sending_at", "attempts"])
    body = body_of(d)
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked when the subscription is saved
        d.subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "GovGrid-Webhooks/1",
            "X-GovGrid-Event": d.event,
            "X-GovGrid-Delivery": str(d.pk),
            "X-GovGrid-Timestamp": str(timestamp),
            "X-GovGrid-Signature": sign(d.subscription.secret, timestamp, body),
        },
    )
    status, error, permanent = None, "", False
    try:
        with urllib.request.urlopen(request, timeout=float(getattr(settings, "NOTIFY_WEBHOOK_TIMEOUT", 10))) as r:  # noqa: S310
            status = r.status
            r.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = f"cannot reach the receiver: {getattr(exc, 'reason', exc)}"
    if status is not None and 200 <= status < 300 and not error:
        EventDelivery.objects.filter(pk=d.pk).update(
            state=DeliveryState.SENT,
            sent_at=timezone.now(),
            last_error="",
            next_attempt_at=None,
            response_status=status,
        )
        return "sent"
    give_up = permanent or d.attempts >= MAX_ATTEMPTS
    EventDelivery.objects.filter(pk=d.pk).update(
        state=DeliveryState.FAILED,
        last_error=error[:1000] or f"HTTP {status}",
        response_status=status,
        next_attempt_at=None if give_up else timezone.now() + timedelta(seconds=_backoff(d.attempts) + 60),
    )
    return "gave_up" if give_up else "failed"


def requeue_due(*, limit: int = 500) -> list[int]:
    """Enqueue again the deliveries whose retry is due (the periodic task); attempts stuck "sending" past five
    minutes are tried again (the receiver drops a repeat by its delivery id)."""
    now = timezone.now()
    with transaction.atomic():
        EventDelivery.objects.filter(state=DeliveryState.SENDING, sending_at__lt=now - timedelta(seconds=300)).update(
            state=DeliveryState.FAILED, next_attempt_at=now, last_error="interrupted; tried again"
        )
        due = list(
            EventDelivery.objects.select_for_update(skip_locked=True)
            .filter(state__in=[DeliveryState.PENDING, DeliveryState.FAILED], next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if due:
            EventDelivery.objects.filter(pk__in=due).update(next_attempt_at=now + timedelta(seconds=120))
            transaction.on_commit(partial(enqueue, due), robust=True)
    return due


def delivery_replay(*, actor: Any, delivery: EventDelivery) -> EventDelivery:
    """Send a delivery again (an admin, after the receiver was fixed): same event, same id, a new signature."""
    from grids.services import audit

    if not may_manage(actor):
        raise PermissionDenied(_("Only an administrator at city level manages event subscriptions."))
    with transaction.atomic():
        d = EventDelivery.objects.select_for_update().get(pk=delivery.pk)
        d.state, d.next_attempt_at, d.last_error = DeliveryState.PENDING, timezone.now(), ""
        d.save(update_fields=["state", "next_attempt_at", "last_error"])
        audit(actor=actor, action="subscription.replay", target=d.subscription, delivery=d.pk, key=d.key)
        transaction.on_commit(partial(enqueue, [d.pk]), robust=True)
    return d
