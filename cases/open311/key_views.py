"""The admins' page of Open311 client keys: list, make (shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cases.models import Open311Key
from grids.forms import call_service

from . import services


class KeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Client app"), max_length=80)
    requests_per_minute = forms.IntegerField(
        label=gettext_lazy("Requests per minute"), min_value=1, max_value=10000, initial=60
    )


def _require(user) -> None:
    if not services.may_manage_keys(user):
        raise PermissionDenied(_("Only an administrator at city level manages Open311 keys."))


@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    _require(request.user)
    form = KeyForm(request.POST or None)
    secret = ""
    if request.method == "POST" and form.is_valid():
        made = call_service(form, services.key_create, actor=request.user, **form.cleaned_data)
        if made is not None:
            secret, form = made.secret, KeyForm()
    keys = Open311Key.objects.order_by("name", "id")
    return render(request, "cases/open311_keys.html", {"form": form, "keys": keys, "secret": secret})


@login_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request.user)
    key = Open311Key.objects.filter(pk=pk).first()
    if key is None:
        raise Http404
    services.key_revoke(actor=request.user, key=key)
    messages.success(request, _("Key of %(name)s revoked.") % {"name": key.name})
    return redirect("open311_keys")
