"""Page forms of the parties app: they parse input; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    Gender,
    HouseholdKind,
    OrganisationKind,
    PartyOrgKind,
    PersonalField,
    Relation,
    VisitNeed,
)

DATE = forms.DateInput(attrs={"type": "date"})


def _no_nul(form: forms.Form) -> None:
    for name, value in form.cleaned_data.items():
        if isinstance(value, str) and "\x00" in value:
            form.add_error(name, _("The text contains a NUL character; remove it."))


class CleanForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        _no_nul(self)
        return cleaned


class TagField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Tags"))
        super().__init__(*args, queryset=None, **kwargs)


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos from one input (the phone's camera); the service checks their content."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": "image/*", "capture": "environment"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        items = data if isinstance(data, list | tuple) else [data]
        return [super(PhotosField, self).clean(item, initial) for item in items if item]


class BuildingForm(CleanForm):
    name = forms.CharField(label=_("Building"), max_length=60, help_text=_("e.g. 3栋 or 和平小区3栋"))
    address = forms.CharField(label=_("Street address"), max_length=200, required=False)


class HouseholdForm(CleanForm):
    building = forms.ModelChoiceField(label=_("Building"), queryset=None, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=10, required=False)
    floor = forms.IntegerField(label=_("Floor"), required=False)
    room = forms.CharField(label=_("Room"), max_length=20, required=False)
    address = forms.CharField(
        label=_("Address line"), max_length=200, required=False, help_text=_("For a house without a building.")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=HouseholdKind.choices)
    tags = TagField()
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, buildings, tags, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["building"].queryset = buildings
        self.fields["tags"].queryset = tags


class ResidentForm(CleanForm):
    name = forms.CharField(label=_("Name"), max_length=50)
    id_number = forms.CharField(label=_("ID number"), max_length=24, required=False)
    gender = forms.ChoiceField(
        label=_("Gender"), choices=[("", _("— from the ID number —")), *Gender.choices], required=False
    )
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DATE)
    phone = forms.CharField(label=_("Mobile phone"), max_length=20, required=False)
    relation = forms.ChoiceField(
        label=_("Relation to the head"), choices=[("", "—"), *Relation.choices], required=False
    )
    moved_in_on = forms.DateField(label=_("Moved in"), required=False, widget=DATE)
    tags = TagField()
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, tags, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tags"].queryset = tags
        self.fields["id_number"].widget.attrs.update({"autocomplete": "off", "inputmode": "text"})
        self.fields["phone"].widget.attrs.update({"autocomplete": "off", "inputmode": "tel"})
        if editing:
            keep = _("Leave empty to keep the number on record.")
            self.fields["id_number"].help_text = keep
            self.fields["phone"].help_text = keep
            del self.fields["moved_in_on"]


class MoveForm(CleanForm):
    household = forms.ModelChoiceField(
        label=_("New household"), queryset=None, required=False, empty_label=_("— moves out of the grid's records —")
    )
    relation = forms.ChoiceField(
        label=_("Relation to the head"), choices=[("", "—"), *Relation.choices], required=False
    )
    on = forms.DateField(label=_("Date"), initial=timezone.localdate, widget=DATE)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, households, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["household"].queryset = households


class DateForm(forms.Form):
    on = forms.DateField(label=_("Date"), initial=timezone.localdate, widget=DATE)


class OrganisationForm(CleanForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    uscc = forms.CharField(label=_("Unified social credit code"), max_length=30, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=OrganisationKind.choices)
    building = forms.ModelChoiceField(label=_("Building"), queryset=None, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    legal_representative = forms.CharField(label=_("Legal representative"), max_length=50, required=False)
    contact_name = forms.CharField(label=_("Contact"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("Contact's mobile phone"), max_length=20, required=False)
    tags = TagField()
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, buildings, tags, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["building"].queryset = buildings
        self.fields["tags"].queryset = tags
        if editing:
            self.fields["contact_phone"].help_text = _("Leave empty to keep the number on record.")


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)


class HouseholdFilterForm(forms.Form):
    q = forms.CharField(label=_("Room or address"), max_length=100, required=False)
    building = forms.ModelChoiceField(label=_("Building"), queryset=None, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("Any kind")), *HouseholdKind.choices], required=False)
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=None, required=False, empty_label=_("Any tag"))
    uncovered = forms.BooleanField(label=_("Without a keeper"), required=False)

    def __init__(self, *args: Any, buildings, tags, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["building"].queryset = buildings
        self.fields["tag"].queryset = tags

    def filters(self) -> dict:
        return self.cleaned_data if self.is_valid() else {}


class PartyOrgForm(CleanForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=PartyOrgKind.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    region = forms.ModelChoiceField(label=_("Serves region"), queryset=None)
    building = forms.ModelChoiceField(label=_("Building (for a building party group)"), queryset=None, required=False)

    def __init__(self, *args: Any, kinds, regions, buildings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, PartyOrgKind(k).label) for k in kinds]
        self.fields["region"].queryset = regions
        self.fields["building"].queryset = buildings


class PartyMemberForm(CleanForm):
    name = forms.CharField(label=_("Name"), max_length=50)
    resident_id_number = forms.CharField(
        label=_("Resident's ID number"),
        max_length=24,
        required=False,
        help_text=_("Links the member to the resident record (found through the keyed hash, never stored here)."),
    )
    username = forms.CharField(label=_("Staff account (username)"), max_length=150, required=False)
    joined_on = forms.DateField(label=_("Joined the party"), required=False, widget=DATE)
    household_limit = forms.IntegerField(
        label=_("At most households (包联户)"), min_value=0, max_value=500, required=False
    )
    organisation_limit = forms.IntegerField(
        label=_("At most organisations (包联企业)"), min_value=0, max_value=500, required=False
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class VisitForm(CleanForm):
    visited_on = forms.DateField(label=_("Date"), initial=timezone.localdate, widget=DATE)
    people_met = forms.ModelMultipleChoiceField(
        label=_("People met"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    people_met_text = forms.CharField(label=_("Others met"), max_length=200, required=False)
    needs = forms.MultipleChoiceField(
        label=_("Needs found"), choices=VisitNeed.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    needs_text = forms.CharField(label=_("Other needs"), max_length=300, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    photos = PhotosField(label=_("Photos"))
    lat = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-90, max_value=90)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-180, max_value=180)

    def __init__(self, *args: Any, people, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["people_met"].queryset = people
        if not people.exists():
            del self.fields["people_met"]


class AccessLogFilterForm(forms.Form):
    person = forms.CharField(label=_("Who (username)"), max_length=150, required=False)
    record = forms.CharField(label=_("Record (name)"), max_length=100, required=False)
    target_type = forms.ChoiceField(
        label=_("Kind of record"),
        required=False,
        choices=[
            ("", _("Any")),
            ("resident", _("Resident")),
            ("organisation", _("Organisation")),
            ("case_party", _("Person named by a case")),
            ("export", _("Export")),
        ],
    )
    target_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    since = forms.DateField(label=_("From"), required=False, widget=DATE)
    until = forms.DateField(label=_("To"), required=False, widget=DATE)

    def filters(self) -> dict:
        return self.cleaned_data if self.is_valid() else {}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What"),
        choices=[("households", _("Households with residents")), ("organisations", _("Organisations"))],
    )
    file = forms.FileField(label=_("CSV or XLSX file"))


FIELD_LABELS = dict(PersonalField.choices)
