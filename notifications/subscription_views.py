"""Admins' pages of event subscriptions: list and create, one subscription's delivery log, replay, delete."""

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

from grids.forms import call_service
from grids.models import Region

from . import subscriptions
from .models import EventDelivery, Subscription


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80, help_text=gettext_lazy("e.g. 12345 hotline"))
    url = forms.URLField(label=gettext_lazy("Address"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(label=gettext_lazy("Events"), widget=forms.CheckboxSelectMultiple, choices=[])
    region = forms.CharField(
        label=gettext_lazy("Region code"),
        max_length=15,
        required=False,
        help_text=gettext_lazy("Only events under this region; empty for the whole city."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [(code, label) for code, label in subscriptions.EVENTS.items()]

    def clean_region(self):
        code = self.cleaned_data["region"].strip()
        if not code:
            return None
        region = Region.objects.filter(code=code).defer("boundary").first()
        if region is None:
            raise forms.ValidationError(_("No region with this code."))
        return region


def _require(user) -> None:
    if not subscriptions.may_manage(user):
        raise PermissionDenied(_("Only an administrator at city level manages event subscriptions."))


@login_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    _require(request.user)
    form = SubscriptionForm(request.POST or None)
    made = None
    if request.method == "POST" and form.is_valid():
        region = form.cleaned_data["region"]
        made = call_service(
            form,
            subscriptions.subscription_save,
            actor=request.user,
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            region_path=region.path if region else "",
            region_label=f"{region.name} ({region.code})" if region else "",
        )
        if made is not None:
            return redirect("notifications:subscription", pk=made.pk)
    rows = Subscription.objects.order_by("name", "id")
    return render(request, "notifications/subscriptions.html", {"form": form, "subscriptions": rows})


@login_required
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request.user)
    sub = Subscription.objects.filter(pk=pk).first()
    if sub is None:
        raise Http404
    log = list(EventDelivery.objects.filter(subscription=sub).order_by("-created_at", "-id")[:100])
    labels = subscriptions.EVENTS
    context = {"sub": sub, "log": log, "event_labels": [labels.get(e, e) for e in sub.events]}
    return render(request, "notifications/subscription_detail.html", context)


@login_required
@require_POST
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request.user)
    sub = Subscription.objects.filter(pk=pk).first()
    if sub is None:
        raise Http404
    subscriptions.subscription_delete(actor=request.user, subscription=sub)
    messages.success(request, _("Subscription %(name)s deleted.") % {"name": sub.name})
    return redirect("notifications:subscriptions")


@login_required
@require_POST
def delivery_replay(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request.user)
    delivery = EventDelivery.objects.filter(pk=pk).first()
    if delivery is None:
        raise Http404
    subscriptions.delivery_replay(actor=request.user, delivery=delivery)
    messages.success(request, _("Delivery %(id)s will be sent again.") % {"id": delivery.pk})
    return redirect("notifications:subscription", pk=delivery.subscription_id)
