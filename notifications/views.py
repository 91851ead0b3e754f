"""Inbox pages: thin views that parse input, call one service or selector, and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from grids.forms import call_service

from . import selectors, services
from .forms import ChannelsForm

PAGE_SIZE = 30


def _back(request: HttpRequest) -> HttpResponse:
    """Back to where the button was (a page of this site), else to the inbox."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    return redirect(target or "notifications:inbox")


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    page = selectors.inbox_page(
        user=request.user, after=request.GET.get("after", ""), before=request.GET.get("before", ""), size=PAGE_SIZE
    )
    return render(request, "notifications/inbox.html", {"page": page})


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = selectors.notification_get(user=request.user, pk=pk)
    services.mark_read(user=request.user, notification=notification)
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = services.mark_all_read(user=request.user)
    if count:
        messages.success(
            request,
            ngettext("%(n)d notification marked read.", "%(n)d notifications marked read.", count) % {"n": count},
        )
    return _back(request)


@login_required
def channel_settings(request: HttpRequest) -> HttpResponse:
    options = selectors.channel_options(user=request.user)
    form = ChannelsForm(request.POST if request.method == "POST" else None, options=options)
    if request.method == "POST" and form.is_valid():
        saved = call_service(form, services.set_channels, user=request.user, channels=form.cleaned_data["channels"])
        if saved is not None:
            messages.success(request, _("Your notification channels are saved."))
            return redirect("notifications:settings")
    return render(request, "notifications/settings.html", {"form": form, "options": options})
