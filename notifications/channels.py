"""External channels of notifications: e-mail through Django's mailer, and a WeCom / DingTalk-style webhook.

A channel is a class named in ``settings.NOTIFY_CHANNELS`` (code -> dotted path). ``send`` either returns (the
receiver took the message) or raises ``ChannelError``; ``permanent=True`` says that trying again cannot help.
Every message carries the delivery id (``X-GovGrid-Delivery`` header, e-mail Message-ID) so that a receiver can
drop a repeat.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from .models import Notification

# Receivers answer this much at most; the rest is not read.
_MAX_RESPONSE = 64 * 1024


class ChannelError(Exception):
    """The receiver did not take the message. ``permanent``: retrying cannot help (bad address, 4xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel:
    """Base class: a way to push a notification out of the app."""

    code = ""
    label: Any = ""

    def is_available(self) -> bool:
        """Configured on this installation."""
        return True

    def accepts(self, user: Any) -> bool:
        """The user can be reached this way (e.g. has an e-mail address)."""
        return True

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        """Send ``notification`` to ``notification.recipient`` (for a unit's notice: the member this delivery is
        for, with the title and text in his language)."""
        raise NotImplementedError


def registry() -> dict[str, Channel]:
    """The configured channels, by code, in settings order."""
    return {code: import_string(path)() for code, path in getattr(settings, "NOTIFY_CHANNELS", {}).items()}


def any_available() -> bool:
    """Is any channel configured here? (Without one, a unit notice has nothing to deliver.)"""
    return any(channel.is_available() for channel in registry().values())


def get(code: str) -> Channel | None:
    path = getattr(settings, "NOTIFY_CHANNELS", {}).get(code)
    return import_string(path)() if path else None


def link_of(notification: Notification) -> str:
    """The notice's page as an absolute address when NOTIFY_SITE_URL is set, else as a path."""
    if not notification.link:
        return ""
    if not notification.link.startswith("/"):
        return notification.link
    return getattr(settings, "NOTIFY_SITE_URL", "").rstrip("/") + notification.link


def _user_language(user: Any) -> str:
    return getattr(user, "language", "") or settings.LANGUAGE_CODE


def plain_text(notification: Notification) -> str:
    """The notice as plain text: title, body, what it is about and its link."""
    lines = [notification.title]
    if notification.body:
        lines += ["", notification.body]
    link = link_of(notification)
    if link:
        lines += ["", f"{notification.subject}: {link}" if notification.subject else link]
    return "\n".join(lines)


class EmailChannel(Channel):
    """E-mail through the default mailer of ``settings.MAILERS``."""

    code = "email"
    label = gettext_lazy("E-mail")

    def is_available(self) -> bool:
        # Production without EMAIL_URL/EMAIL_BACKEND sends no mail (settings.py): the channel is off.
        return getattr(settings, "GOVGRID_EMAIL_CONFIGURED", True)

    def accepts(self, user: Any) -> bool:
        return bool(getattr(user, "email", ""))

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        user = notification.recipient
        if not user.email:
            raise ChannelError("the recipient has no e-mail address", permanent=True)
        domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "govgrid.localhost"
        with translation.override(_user_language(user)):
            message = EmailMessage(
                subject=f"[{_('GovGrid')}] {notification.title}",
                body=plain_text(notification),
                to=[user.email],
                headers={
                    # The same id on every attempt: mail systems drop a second copy of one Message-ID.
                    "Message-ID": f"<govgrid.delivery.{delivery_id}@{domain}>",
                    "X-GovGrid-Delivery": str(delivery_id),
                },
            )
        try:
            message.send(using="default")
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors; ValueError: a bad address
            raise ChannelError(f"{type(exc).__name__}: {exc}", permanent=isinstance(exc, ValueError)) from exc


class WebhookChannel(Channel):
    """POST of ``{"msgtype": "text", "text": {"content": ...}}`` to settings.NOTIFY_WEBHOOK_URL (WeCom and
    DingTalk group robots take this shape). Any non-2xx answer, or a robot's non-zero ``errcode``, is a failure."""

    code = "webhook"
    label = gettext_lazy("WeCom / DingTalk robot")

    def is_available(self) -> bool:
        return bool(getattr(settings, "NOTIFY_WEBHOOK_URL", ""))

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        url = getattr(settings, "NOTIFY_WEBHOOK_URL", "")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ChannelError("NOTIFY_WEBHOOK_URL is not an http(s) address", permanent=True)
        user = notification.recipient
        with translation.override(_user_language(user)):
            content = "\n".join([f"【{_('GovGrid')}】{plain_text(notification)}", _("To: %(who)s") % {"who": user}])
        payload = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "X-GovGrid-Delivery": str(delivery_id)},
        )
        timeout = float(getattr(settings, "NOTIFY_WEBHOOK_TIMEOUT", 10))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, raw = response.status, response.read(_MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            # 4xx other than "timeout" and "too many requests" will not change by retrying. The address (which
            # holds the robot's key) never goes into the error text.
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
            raise ChannelError(f"HTTP {exc.code}", permanent=permanent) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChannelError(f"cannot reach the webhook: {reason}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"HTTP {status}")
        _check_robot_answer(raw)


def _check_robot_answer(raw: bytes) -> None:
    """WeCom and DingTalk answer 200 with {"errcode": N, "errmsg": ...}; N != 0 means the message was refused."""
    try:
        answer = json.loads(raw or b"null")
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode") not in (None, 0, "0"):
        raise ChannelError(f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}")
