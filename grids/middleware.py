import time
from urllib.parse import quote

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _


class UserLanguageMiddleware:
    """Use the language a signed-in user chose (stored on the account), over the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language:
            response.headers.setdefault("Content-Language", language)
        return response


# Paths a person who must change their password may still use.
_PASSWORD_CHANGE_EXEMPT = ("/password/", "/logout/", "/language/", "/static/", "/healthz")


class PasswordChangeRequiredMiddleware:
    """An account whose password an admin chose must set its own before doing anything else."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.must_change_password
            and not request.path.startswith(_PASSWORD_CHANGE_EXEMPT)
        ):
            if request.path.startswith(("/api/", "/open311/")):
                from django.http import JsonResponse

                return JsonResponse(
                    {"detail": str(_("Set your own password in the browser before using the API."))}, status=403
                )
            return redirect(f"{reverse('password_change')}?next={quote(request.get_full_path())}")
        return self.get_response(request)


SESSION_REMEMBER_KEY = "govgrid_remember"
_SESSION_TOUCH_KEY = "govgrid_seen"
_TOUCH_EVERY = 60  # seconds: how stale the idle clock may be, so that not every request writes the session


class SessionIdleMiddleware:
    """Sign a session out after GOVGRID_SESSION_IDLE_MINUTES without a request, or after
    GOVGRID_SESSION_REMEMBER_DAYS when the person chose "keep me signed in on this phone".

    The session's expiry is relative to its last save; the session is saved again at most once a minute, which
    keeps the idle clock running without writing the session store on every request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            if int(time.time()) - int(session.get(_SESSION_TOUCH_KEY, 0)) >= _TOUCH_EVERY:
                start_idle_clock(session)
        return self.get_response(request)


def start_idle_clock(session) -> None:
    """(Re)start the session's lifetime from now (at login, then at most once a minute)."""
    session[_SESSION_TOUCH_KEY] = int(time.time())
    session.set_expiry(session_lifetime(remember=bool(session.get(SESSION_REMEMBER_KEY))))


def session_lifetime(*, remember: bool) -> int:
    if remember:
        return settings.GOVGRID_SESSION_REMEMBER_DAYS * 24 * 3600
    return settings.GOVGRID_SESSION_IDLE_MINUTES * 60
