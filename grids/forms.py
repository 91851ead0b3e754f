"""Page forms: they parse input; the rules live in grids.services."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from govgrid import safejson

from .models import Role


def apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the named field when the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def grantable_permissions():
    """Permissions that make sense on a region node: the tree's own and those of the apps placed in it."""
    return (
        Permission.objects.filter(
            Q(content_type__app_label="grids", content_type__model="region")
            | Q(content_type__app_label__in=["cases", "parties"])
        )
        .select_related("content_type")
        .order_by("content_type__app_label", "codename")
    )


# Labels in the user's language (the names stored with permissions are English).
PERMISSION_LABELS = {
    "grids.view_region": _("See the node and everything below it"),
    "grids.add_region": _("Add nodes below it"),
    "grids.change_region": _("Rename, recode, move, retire nodes"),
    "grids.delete_region": _("Delete empty nodes"),
    "grids.manage_access": _("Grant and revoke roles on this region"),
    "grids.manage_department": _("Manage departments serving this region"),
    "grids.manage_staff": _("Manage staff accounts of this region"),
}


# Django's own add/change/delete/view permissions are stored with English names; they are labelled from the
# model's (translated) name instead.
_DEFAULT_ACTIONS = {
    "add": _("Can add %(thing)s"),
    "change": _("Can change %(thing)s"),
    "delete": _("Can delete %(thing)s"),
    "view": _("Can view %(thing)s"),
}


def _permission_label(p: Permission) -> str:
    code = f"{p.content_type.app_label}.{p.codename}"
    if code in PERMISSION_LABELS:
        return f"{code} — {PERMISSION_LABELS[code]}"
    action, _sep, model = p.codename.partition("_")
    model_class = p.content_type.model_class()
    if action in _DEFAULT_ACTIONS and model_class is not None and model == model_class._meta.model_name:
        return f"{code} — {_DEFAULT_ACTIONS[action] % {'thing': model_class._meta.verbose_name}}"
    return f"{code} — {gettext(p.name)}"  # the app's own permissions: their names are msgids


def call_service(form: forms.Form, fn, **kwargs):
    """Run a service for a form; on a ValidationError show it on the form and return None."""
    try:
        return fn(**kwargs)
    except ValidationError as exc:
        apply_errors(form, exc)
        return None


def pick(queryset, message: str, *, field: str, value: str):
    """The row of a scoped queryset whose ``field`` equals what was typed, or a form error saying so.

    The queryset is already limited to what the person may see or use, so "not found" and "not yours" read
    the same (ids and codes cannot be probed).
    """
    value = (value or "").strip()
    row = queryset.filter(**{field: value}).first() if queryset is not None else None
    if row is None:
        raise ValidationError(message, params={"code": value, "name": value})
    return row


class GeoJSONField(forms.CharField):
    widget = forms.Textarea(
        attrs={"rows": 4, "class": "font-monospace", "placeholder": '{"type": "Polygon", "coordinates": [...]}'}
    )

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return safejson.loads(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value


class RegionAddForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    code = forms.CharField(
        label=_("Code"), max_length=15, help_text=_("Suggested: the next free code under the parent.")
    )
    boundary = GeoJSONField(label=_("Boundary (GeoJSON)"), required=False)
    centre_lat = forms.FloatField(label=_("Centre latitude"), required=False, min_value=-90, max_value=90)
    centre_lng = forms.FloatField(label=_("Centre longitude"), required=False, min_value=-180, max_value=180)

    def centre(self):
        lat, lng = self.cleaned_data.get("centre_lat"), self.cleaned_data.get("centre_lng")
        return (lat, lng) if lat is not None and lng is not None else None


class RegionEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    boundary = GeoJSONField(label=_("Boundary (GeoJSON)"), required=False)
    centre_lat = forms.FloatField(label=_("Centre latitude"), required=False, min_value=-90, max_value=90)
    centre_lng = forms.FloatField(label=_("Centre longitude"), required=False, min_value=-180, max_value=180)

    centre = RegionAddForm.centre


class RegionRecodeForm(forms.Form):
    code = forms.CharField(label=_("New code"), max_length=15)


class RegionMoveForm(forms.Form):
    new_parent = forms.CharField(
        label=_("New parent (code)"),
        max_length=15,
        help_text=_("Type the code of the new parent node."),
        widget=forms.TextInput(attrs={"list": "parents"}),
    )
    code = forms.CharField(
        label=_("New code"),
        max_length=15,
        required=False,
        help_text=_("Leave empty to take the next free code under the new parent."),
    )

    def __init__(self, *args, candidates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = candidates

    def clean_new_parent(self):
        message = _("No node with the code %(code)s that you may add to.")
        return pick(self.candidates, message, field="code", value=self.cleaned_data["new_parent"])


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Name or code"), required=False, max_length=50)


class GrantForm(forms.Form):
    user = forms.CharField(label=_("User (username)"), required=False, max_length=150)
    group = forms.ModelChoiceField(
        label=_("or team"), queryset=Group.objects.order_by("name"), required=False, empty_label=_("— choose —")
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.all(), required=False, empty_label=_("— choose —")
    )
    permission = forms.ModelChoiceField(
        label=_("or single permission"), queryset=Permission.objects.none(), required=False, empty_label=_("— choose —")
    )

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.users = users
        self.fields["permission"].queryset = grantable_permissions()
        self.fields["permission"].label_from_instance = _permission_label

    def clean_user(self):
        if not self.cleaned_data["user"].strip():
            return None
        message = _("No active user “%(name)s” that you may grant to.")
        return pick(self.users, message, field="username", value=self.cleaned_data["user"])

    def clean(self):
        data = super().clean()
        if bool(data.get("user")) == bool(data.get("group")) and not self.errors.get("user"):
            raise ValidationError(_("Choose either a user or a team."))
        if bool(data.get("role")) == bool(data.get("permission")):
            raise ValidationError(_("Choose either a role or a single permission."))
        return data


class AccessCheckForm(forms.Form):
    user = forms.CharField(label=_("User (username)"), max_length=150)
    permission = forms.ModelChoiceField(
        label=_("Permission"), queryset=Permission.objects.none(), empty_label=_("— choose —")
    )
    region = forms.CharField(label=_("Node (code)"), max_length=15)

    def __init__(self, *args, users=None, regions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.users, self.regions = users, regions
        self.fields["permission"].queryset = grantable_permissions()
        self.fields["permission"].label_from_instance = _permission_label

    def clean_user(self):
        return pick(
            self.users, _("No user “%(name)s” that you may see."), field="username", value=self.cleaned_data["user"]
        )

    def clean_region(self):
        message = _("No node with the code %(code)s that you may see.")
        return pick(self.regions, message, field="code", value=self.cleaned_data["region"])


class LocateForm(forms.Form):
    lat = forms.FloatField(label=_("Latitude"), min_value=-90, max_value=90)
    lng = forms.FloatField(label=_("Longitude"), min_value=-180, max_value=180)


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    code = forms.SlugField(label=_("Code"), max_length=40, help_text=_("Letters, digits, - and _; e.g. 519902-cgzf."))
    kind = forms.SlugField(
        label=_("Kind"),
        max_length=20,
        required=False,
        help_text=_("The same in every district, e.g. cgzf for 城管执法; categories name the kind that leads."),
    )
    region = forms.CharField(label=_("Serves region (code of a district or street)"), max_length=15)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, regions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = regions

    def clean_region(self):
        message = _("No node with the code %(code)s where you manage departments.")
        return pick(self.regions, message, field="code", value=self.cleaned_data["region"])


class DepartmentMembersForm(forms.Form):
    members = forms.CharField(
        label=_("Members (one username per line)"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.users = users

    def clean_members(self):
        names = [n.strip() for n in self.cleaned_data["members"].replace(",", "\n").splitlines() if n.strip()]
        found = {u.username: u for u in self.users.filter(username__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValidationError(_("Unknown or inactive users: %(names)s"), params={"names": ", ".join(missing)})
        return list(found.values())


class RoleForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    permissions = forms.ModelMultipleChoiceField(
        label=_("Permissions"), queryset=Permission.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["permissions"].queryset = grantable_permissions()
        self.fields["permissions"].label_from_instance = _permission_label


class StaffForm(forms.Form):
    username = forms.RegexField(label=_("Username"), max_length=150, regex=r"^[\w.@+-]+$")
    display_name = forms.CharField(label=_("Display name"), max_length=50)
    phone = forms.RegexField(label=_("Phone"), max_length=20, regex=r"^[0-9+\- ]{5,20}$", required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    region = forms.CharField(label=_("Main region (code)"), max_length=15)
    is_active = forms.BooleanField(label=_("Active (may log in)"), required=False, initial=True)
    password = forms.CharField(
        label=_("New password"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("Leave empty to keep the current one."),
    )
    must_change_password = forms.BooleanField(
        label=_("Must choose a new password at the next login"),
        required=False,
        help_text=_("For a password you chose for someone: they replace it with their own before anything else."),
    )

    def __init__(self, *args, regions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = regions

    def clean_region(self):
        message = _("No node with the code %(code)s where you manage staff.")
        return pick(self.regions, message, field="code", value=self.cleaned_data["region"])


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=150)
    members = DepartmentMembersForm.base_fields["members"]


class LoginForm(AuthenticationForm):
    """The login form with "keep me signed in on this phone" (a longer session on a person's own phone)."""

    remember = forms.BooleanField(label=_("Keep me signed in on this phone"), required=False)
