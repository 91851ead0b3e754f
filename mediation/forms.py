"""Forms of the mediation pages: they parse input; the services hold every rule."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cases.forms import MultipleFileField

from .models import FollowUpOutcome, HandoverTarget, Kind, Side
from .workflow import Status


class DateInput(forms.DateInput):
    input_type = "date"


class DisputeForm(forms.Form):
    region = forms.ChoiceField(label=_("Grid"))
    kind = forms.ChoiceField(label=pgettext_lazy("dispute", "Kind"), choices=Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=120)
    summary = forms.CharField(label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    place = forms.CharField(label=_("Place"), max_length=200, required=False)

    def __init__(self, *args, grids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [(str(g.pk), f"{g.name} ({g.code})") for g in grids]


class PartyForm(forms.Form):
    side = forms.ChoiceField(label=_("Side"), choices=Side.choices)
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    phone = forms.CharField(label=_("Mobile (optional)"), max_length=20, required=False)
    claim = forms.CharField(label=_("Claim"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    resident = forms.IntegerField(required=False, widget=forms.HiddenInput)
    organisation = forms.IntegerField(required=False, widget=forms.HiddenInput)


class MediatorForm(forms.Form):
    username = forms.CharField(label=_("Mediator (username)"), max_length=150)


class SessionForm(forms.Form):
    held_on = forms.DateField(label=_("Date"), widget=DateInput)
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    attendees = forms.CharField(label=_("Attendees"), max_length=300, required=False)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 4}))
    files = MultipleFileField(label=_("Photos"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["held_on"].initial = timezone.localdate()


class AgreementForm(forms.Form):
    terms = forms.CharField(label=_("Agreed terms"), widget=forms.Textarea(attrs={"rows": 5}))
    signed_on = forms.DateField(label=_("Signed on"), widget=DateInput, required=False)


class EndForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("no_agreement", Status.NO_AGREEMENT.label), ("withdraw", Status.WITHDRAWN.label)],
    )
    comment = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class HandoverForm(forms.Form):
    target = forms.ChoiceField(label=_("Hand over to"), choices=HandoverTarget.choices)
    department = forms.ChoiceField(label=_("Department (administrative mediation)"), required=False)
    receiver = forms.CharField(label=_("Receiver (court or committee)"), max_length=120, required=False)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, departments=(), street_holds=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "—"), *[(str(d.pk), d.name) for d in departments]]
        if street_holds:  # handed up already: only out of people's mediation from here
            self.fields["target"].choices = [c for c in HandoverTarget.choices if c[0] != HandoverTarget.STREET]


class ScanForm(forms.Form):
    file = forms.FileField(
        label=_("Signed agreement (photo or PDF)"), widget=forms.FileInput(attrs={"accept": "image/*,application/pdf"})
    )


class FollowUpForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Does the agreement hold?"), choices=FollowUpOutcome.choices)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class LedgerFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=[("", _("Any status")), *Status.choices], required=False)
    kind = forms.ChoiceField(
        label=pgettext_lazy("dispute", "Kind"), choices=[("", _("Any kind")), *Kind.choices], required=False
    )
    region = forms.CharField(label=_("Region code"), max_length=20, required=False)
    start = forms.DateField(label=_("Opened from"), widget=DateInput, required=False)
    end = forms.DateField(label=_("to"), widget=DateInput, required=False)
    q = forms.CharField(label=_("Number or title"), max_length=60, required=False)
