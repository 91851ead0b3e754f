"""Pages of API tokens: one's own (My account → API tokens) and integrations (admins at city level)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import selectors, tokens
from .forms import call_service
from .models import Role


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60, help_text=gettext_lazy("What it is for."))
    expires_in_days = forms.IntegerField(
        label=gettext_lazy("Expires after (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=gettext_lazy("Leave empty for a token that does not expire (revoke it when it is no longer used)."),
    )


class IntegrationForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60, help_text=gettext_lazy("e.g. 12345 hotline"))
    region = forms.ModelChoiceField(label=gettext_lazy("Region"), queryset=None)
    role = forms.ModelChoiceField(label=gettext_lazy("Role"), queryset=Role.objects.order_by("name"))
    expires_in_days = forms.IntegerField(
        label=gettext_lazy("Token expires after (days)"), min_value=1, max_value=3650, initial=365
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions


def _listed(actor) -> list:
    rows = list(tokens.integration_list(actor=actor))
    for svc in rows:
        svc.revoke_prefix = f"{reverse('integrations')}{svc.pk}/tokens/"
    return rows


def _expiry(days):
    return timezone.now() + timedelta(days=days) if days else None


@login_required
def my_tokens(request: HttpRequest) -> HttpResponse:
    """List, create (the secret is shown once) and revoke one's own tokens."""
    form = TokenForm(request.POST or None)
    secret = ""
    if request.method == "POST" and form.is_valid():
        made = call_service(
            form,
            tokens.token_create,
            actor=request.user,
            user=request.user,
            name=form.cleaned_data["name"],
            expires_at=_expiry(form.cleaned_data["expires_in_days"]),
        )
        if made is not None:
            secret = made.secret
            form = TokenForm()
    context = {"form": form, "tokens": tokens.token_list(user=request.user), "secret": secret}
    return render(request, "grids/tokens.html", context, status=201 if secret else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = tokens.token_get(user=request.user, pk=pk)
    tokens.token_revoke(actor=request.user, token=token)
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("my_tokens")


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    """Integrations (service accounts): a role on a region, tokens that expire."""
    if not tokens.may_manage_integrations(request.user):
        raise PermissionDenied(_("Only an administrator at city level manages integrations."))
    regions = selectors.region_list(user=request.user, perm="grids.manage_access").defer("boundary").order_by("path")
    form = IntegrationForm(request.POST or None, regions=regions)
    secret = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        made = call_service(
            form,
            tokens.integration_create,
            actor=request.user,
            name=data["name"],
            region=data["region"],
            role=data["role"],
            expires_at=_expiry(data["expires_in_days"]),
        )
        if made is not None:
            secret = made.secret
            form = IntegrationForm(regions=regions)
    context = {"form": form, "integrations": _listed(request.user), "secret": secret}
    return render(request, "grids/integrations.html", context, status=201 if secret else 200)


@login_required
@require_POST
def integration_token(request: HttpRequest, pk: int) -> HttpResponse:
    """A new token for an integration (e.g. before the old one expires)."""
    service = tokens.integration_get(actor=request.user, pk=pk)
    form = TokenForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["expires_in_days"]:
        messages.error(request, _("Give the token a name and an expiry."))
        return redirect("integrations")
    made = tokens.token_create(
        actor=request.user,
        user=service,
        name=form.cleaned_data["name"],
        expires_at=_expiry(form.cleaned_data["expires_in_days"]),
    )
    context = {
        "form": IntegrationForm(regions=selectors.region_list(user=request.user, perm="grids.manage_access")),
        "integrations": _listed(request.user),
        "secret": made.secret,
    }
    return render(request, "grids/integrations.html", context, status=201)


@login_required
@require_POST
def integration_token_revoke(request: HttpRequest, pk: int, token: int) -> HttpResponse:
    service = tokens.integration_get(actor=request.user, pk=pk)
    found = tokens.token_get(user=service, pk=token)
    tokens.token_revoke(actor=request.user, token=found)
    messages.success(request, _("Token %(name)s revoked.") % {"name": found.name})
    return redirect("integrations")
