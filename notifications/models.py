"""Notifications (通知): the in-app inbox of every user, and the deliveries of each notice to external channels.

Writes go through notifications/services.py. "Exactly once" is held by the database: a notice with a
``dedup_key`` exists at most once, and each notice has at most one delivery per channel.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    REMINDER = "reminder", _("Reminder")  # 到期提醒
    URGE = "urge", _("Urge")  # 催办
    SUPERVISION = "supervision", _("Supervision")  # 督办
    ESCALATED = "escalated", _("Escalated")  # 上报上级
    ASSIGNED = "assigned", _("Assigned")  # 派单 / 指派
    GENERIC = "generic", _("Notice")  # 通知


class Notification(models.Model):
    """One notice, to one person (``recipient``) or to a unit (``unit``: a department, the dispatchers of a street,
    the supervisors of a district; see grids.units). A person's notice is in his inbox; a unit's is in the inbox
    of everyone who belongs to the unit now, and each member reads it for himself (``NotificationRead``,
    ``InboxState``). Always shown in the inbox, whatever the channels do."""

    # No index of its own: notification_inbox_idx starts with the recipient.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
        null=True,
        blank=True,
    )
    # A grids.units key ("d:12", "r:345:dispatch_case"); "" for a person's notice.
    unit = models.CharField(_("to unit"), max_length=60, blank=True, default="")
    # Who made the change a unit notice reports: not shown it, and not sent it, though he may be a member.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # A unit's members read in their own languages: the title and text in each other language of the site
    # ({"en": ["title", "text"]}); ``title`` and ``body`` are in the site's language.
    texts = models.JSONField(default=dict, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.GENERIC)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    # What the notice is about, as the sender describes it (a case's page and number): notifications knows no
    # case code.
    link = models.CharField(_("link"), max_length=200, blank=True)
    subject = models.CharField(_("about"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    # A person's notice only; each member's reading of a unit notice is his own (NotificationRead, InboxState).
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # A unit notice's deliveries are made for the unit's members of the moment by a task (services.fan_out);
    # set when they are, so that the periodic retry can make those whose task was lost.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # Unique over all notices: a key names one event for one person or unit (e.g. "urge:42:r:7:dispatch_case").
    # A constraint rather than unique=True: the key is only ever matched whole, so it needs no LIKE index beside it.
    dedup_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], name="notification_dedup_key_uniq"),
            # To a person or to a unit, never both, never neither.
            models.CheckConstraint(
                condition=Q(recipient__isnull=False, unit="") | Q(recipient__isnull=True) & ~Q(unit=""),
                name="notification_person_or_unit",
            ),
        ]
        indexes = [
            # A person's inbox, newest first, keyset-paginated.
            models.Index(
                fields=["recipient", "-created_at", "-id"],
                condition=Q(recipient__isnull=False),
                name="notification_inbox_idx",
            ),
            # A person's unread only (the (recipient, read_at IS NULL) index): the navbar count and the inbox's top.
            models.Index(
                fields=["recipient", "-created_at", "-id"],
                condition=Q(recipient__isnull=False, read_at__isnull=True),
                name="notification_unread_idx",
            ),
            # A unit's notices, newest first: each unit of a member is one range of it (read ones below his
            # InboxState mark, unread ones above).
            models.Index(fields=["unit", "-created_at", "-id"], condition=~Q(unit=""), name="notification_unit_idx"),
            # Unit notices whose deliveries are still to be made (the periodic retry).
            models.Index(
                fields=["created_at"],
                condition=~Q(unit="") & Q(fanned_out_at__isnull=True),
                name="notification_fanout_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id or self.unit}: {self.title}"

    @property
    def is_read(self) -> bool:
        """Read by the person reading it: the selectors set ``read_at`` of a unit notice to his own reading."""
        return self.read_at is not None

    def text_in(self, language: str) -> tuple[str, str]:
        """(title, text) in ``language`` when the notice has them, else as written."""
        found = (self.texts or {}).get(language)
        return (found[0], found[1]) if found else (self.title, self.body)


class NotificationRead(models.Model):
    """A member's reading of one unit notice newer than his InboxState mark (a person's own notice keeps its
    ``read_at``). "Mark all read" moves the mark and drops these rows."""

    # No index of its own: notificationread_once starts with the user.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("notice read")
        verbose_name_plural = _("notices read")
        constraints = [models.UniqueConstraint(fields=["user", "notification"], name="notificationread_once")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.notification_id}"


class InboxState(models.Model):
    """A person's reading of his units' notices: those written up to ``units_read_until`` are read ("mark all
    read" moves it); without a row, those written before the account was made. Newer ones are unread unless
    read one by one (NotificationRead), so the unread count is one range per unit, whatever the history."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    units_read_until = models.DateTimeField()

    class Meta:
        verbose_name = _("inbox state")
        verbose_name_plural = _("inbox states")

    def __str__(self) -> str:
        return f"{self.user_id}: read up to {self.units_read_until}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("waiting")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    # The worker stopped during the call: the receiver may or may not have it (see services.delivery_send).
    UNCONFIRMED = "unconfirmed", _("outcome unknown")


class Delivery(models.Model):
    """One notice through one external channel: its attempts, last error and when to try again."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    # The person it goes to: the notice's recipient, or one member of its unit.
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=20)  # a code of settings.NOTIFY_CHANNELS
    state = models.CharField(_("state"), max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    sending_at = models.DateTimeField(_("last attempt started"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the periodic retry may enqueue it again (null: nothing more to do).
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["notification", "recipient", "channel"], name="delivery_once_per_channel")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "failed"]),
                name="delivery_due_idx",
            ),
            models.Index(fields=["sending_at"], condition=Q(state="sending"), name="delivery_sending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} → {self.channel}: {self.state}"


class ChannelPreference(models.Model):
    """A user's choice of one external channel. Without a row, settings.NOTIFY_DEFAULT_CHANNELS decides."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_channels")
    channel = models.CharField(_("channel"), max_length=20)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("channel preference")
        verbose_name_plural = _("channel preferences")
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="channel_preference_uniq")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.channel}: {'on' if self.enabled else 'off'}"


class Subscription(models.Model):
    """An integration's subscription to events (the 12345 hotline, a residents' app): each event of the kinds it
    wants, in its region scope, is POSTed to ``url`` as JSON signed with HMAC-SHA256 under ``secret``."""

    name = models.CharField(_("name"), max_length=80)
    url = models.URLField(_("address"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    events = models.JSONField(_("events"), default=list)
    # Region path prefix ("" = everywhere): events placed under it are sent.
    region_path = models.CharField(_("region scope"), max_length=255, blank=True)
    region_label = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("event subscription")
        verbose_name_plural = _("event subscriptions")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class EventDelivery(models.Model):
    """One event to one subscription: at most once per (subscription, event key), retried with backoff."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=40)
    key = models.CharField(max_length=120)  # the event's identity, e.g. "case.closed:1234" (a case event id)
    payload = models.JSONField(default=dict)
    state = models.CharField(_("state"), max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["subscription", "key"], name="eventdelivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(state__in=["pending", "failed"]), name="eventdelivery_due_idx"
            ),
            models.Index(fields=["subscription", "-created_at"], name="eventdelivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.key}: {self.state}"
