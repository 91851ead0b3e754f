"""Forms of the case pages: they parse input and hand it to cases.services, which decides.

Every action form carries the case's ``version`` (passed as ``expected_version``), so acting on a page that is out
of date answers 409 instead of overwriting someone else's step.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from grids.models import Department, User

from .models import STEP_LABELS, STEPS, Category, Source, Urgency, default_time_limits
from .workflow import TRANSITIONS, WORK_ORDER_STEPS, RefusalReason, Satisfaction, State

ACCEPT = "image/*,application/pdf"
FILE_ACTIONS = frozenset({"settle", "verify_ok", "verify_failed"})


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several photos or PDFs from one input; the service checks their content."""

    def __init__(self, *args: Any, capture: bool = True, **kwargs: Any) -> None:
        attrs = {"accept": ACCEPT, "multiple": True}
        if capture:
            attrs["capture"] = "environment"
        kwargs.setdefault("widget", MultipleFileInput(attrs=attrs))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        items = data if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in items if item]


def _comment(required: bool = False, label=None, rows: int = 2) -> forms.CharField:
    return forms.CharField(
        label=label or _("Comment"), required=required, max_length=2000, widget=forms.Textarea(attrs={"rows": rows})
    )


# --- reporting --------------------------------------------------------------------------------------------


class ReportForm(forms.Form):
    """上报: what, where, how urgent, with photos."""

    category = forms.TypedChoiceField(label=_("Category"), coerce=int)
    title = forms.CharField(
        label=_("Title"), max_length=120, required=False, help_text=_("Optional: the category's name when empty.")
    )
    description = _comment(label=_("Description"), rows=3)
    urgency = forms.ChoiceField(
        label=_("Urgency"), required=False, choices=[("", _("Category default")), *Urgency.choices]
    )
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices, initial=Source.PATROL)
    region = forms.ModelChoiceField(
        label=_("Grid"), queryset=None, required=False, empty_label=_("— from my location —")
    )
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    address = forms.CharField(label=_("Address"), required=False, max_length=200)
    reporter_contact = forms.CharField(label=_("Resident's contact (phone)"), required=False, max_length=100)
    files = MultipleFileField(label=_("Photos or PDF"))
    confirm_nearby = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Made on the phone for each draft (static/js/outbox.js): the same draft sent twice is one case.
    idempotency_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    MAX_GRID_OPTIONS = 300

    def __init__(self, *args: Any, categories: list[Category], grids, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.categories = {c.pk: c for c in categories}
        groups: dict[str, list] = {}
        for c in categories:
            groups.setdefault(c.parent.name, []).append((c.pk, c.name))
        self.fields["category"].choices = [("", _("— choose —")), *groups.items()]
        region = self.fields["region"]
        region.queryset = grids
        # Validation looks the grid up in the whole scoped queryset; the menu lists at most a few hundred.
        region.widget.choices = [("", region.empty_label)] + [
            (g.pk, f"{g.name} ({g.code})") for g in grids[: self.MAX_GRID_OPTIONS]
        ]

    def clean_category(self) -> Category:
        category = self.categories.get(self.cleaned_data["category"])
        if category is None:
            raise ValidationError(_("Choose an active category."))
        return category

    def clean(self):
        data = super().clean()
        # A phone report needs no typing: the title defaults to the category (and the address when given).
        category = data.get("category")
        if not (data.get("title") or "").strip() and isinstance(category, Category):
            address = (data.get("address") or "").strip()
            data["title"] = f"{category.name} · {address}"[:120] if address else category.name
        if data.get("region") is None and (data.get("lat") is None or data.get("lng") is None):
            if "region" not in self.errors:
                self.add_error("region", _("Choose the grid, or use your location."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "category": d["category"],
            "title": d["title"],
            "description": d["description"],
            "urgency": d["urgency"] or None,
            "source": d["source"],
            "region": d["region"],
            "address": d["address"],
            "lat": d["lat"],
            "lng": d["lng"],
            "reporter_contact": d["reporter_contact"],
            "files": d["files"],
            "idempotency_key": d.get("idempotency_key"),
        }


# --- case transitions -------------------------------------------------------------------------------------


def _version() -> forms.IntegerField:
    """The version of the case the person saw: a form without it (or with garbage) cannot be checked for a stale
    page, so it is refused with a message that says what to do."""
    stale_form = _("This form is incomplete or out of date: reload the case page and try again.")
    return forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=0,
        max_value=2**31 - 1,
        error_messages={
            "required": stale_form,
            "invalid": stale_form,
            "min_value": stale_form,
            "max_value": stale_form,
        },
    )


class CaseActionForm(forms.Form):
    """A transition without extra input: the version, a comment (required when the step needs a reason)."""

    version = _version()
    comment = _comment()

    def __init__(self, *args: Any, action: str, case=None, user=None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{action}_{getattr(case, 'pk', 'x')}_%s")
        super().__init__(*args, **kwargs)
        self.action, self.case, self.user = action, case, user
        if case is not None and not self.is_bound:
            self.initial["version"] = case.version
        t = TRANSITIONS.get(action)
        if t and "comment" in t.requires:
            self.fields["comment"].required = True
            self.fields["comment"].label = _("Reason")
        if action in FILE_ACTIONS:
            self.fields["files"] = MultipleFileField(label=_("Photos or PDF"))

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        kwargs: dict[str, Any] = {"comment": d.get("comment", ""), "expected_version": d["version"]}
        if "files" in self.fields:
            kwargs["files"] = d.get("files") or []
        return kwargs


class _FoundFirst:
    """A department field that takes the departments the form already read for all its fields (``found``), so a
    dispatch reads them in one query instead of one per field; anything not found is checked as usual."""

    found: dict[str, Department] | None = None

    def to_python(self, value):
        if self.found is not None and str(value) in self.found:
            return self.found[str(value)]
        return super().to_python(value)

    def _check_values(self, value):
        if self.found is not None and all(str(v) in self.found for v in value):
            return [self.found[str(v)] for v in dict.fromkeys(str(v) for v in value)]
        return super()._check_values(value)


class _DepartmentField(_FoundFirst, forms.ModelChoiceField):
    pass


class _DepartmentsField(_FoundFirst, forms.ModelMultipleChoiceField):
    pass


class DispatchForm(CaseActionForm):
    """派单 (and re-dispatch of refused work): the lead department, assisting departments, a note."""

    lead = _DepartmentField(label=_("Lead department"), queryset=Department.objects.none())
    assisting = _DepartmentsField(
        label=_("Assisting departments"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    due_at = forms.DateTimeField(
        label=_("Deadline (optional)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty to use the category's time limit."),
    )

    # Shown (as a checkbox) only after the warning that a chosen department has no active member.
    confirm_unstaffed = forms.BooleanField(
        label=_("Dispatch anyway (its region's administrators are told that nobody staffs it)"),
        required=False,
        widget=forms.HiddenInput,
    )

    field_order = ["lead", "assisting", "due_at", "comment", "confirm_unstaffed", "version"]

    def __init__(self, *args: Any, departments=None, suggested=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["comment"].label = _("Note for the departments (deadline, what to do)")
        if departments is not None:
            self.fields["lead"].queryset = departments
            self.fields["assisting"].queryset = departments
            if self.is_bound:
                many = self.data.getlist if hasattr(self.data, "getlist") else self.data.get
                assisting = many(self.add_prefix("assisting")) or []
                if not isinstance(assisting, list | tuple):
                    assisting = [assisting]
                submitted = [self.data.get(self.add_prefix("lead")), *assisting]
                submitted = [str(v.pk if isinstance(v, Department) else v) for v in submitted if v is not None]
                ids = [int(v) for v in submitted if v.isascii() and v.isdigit() and len(v) < 19]
                found = {str(d.pk): d for d in departments.filter(pk__in=ids)} if ids else {}
                self.fields["lead"].found = self.fields["assisting"].found = found
        for name in ("lead", "assisting"):
            self.fields[name].label_from_instance = staffed_label
        # The page's script hides the lead from the assisting choices (the service refuses it anyway).
        self.fields["lead"].widget.attrs["data-lead-of"] = self.add_prefix("assisting")
        if self.action == "redispatch":
            self.fields["lead"].label = _("Department")
            self.fields["assisting"].label = _("More departments")
        if suggested and not self.is_bound:
            self.initial["lead"] = suggested[0].pk

    def clean(self):
        data = super().clean()
        lead, assisting = data.get("lead"), list(data.get("assisting") or [])
        if lead is not None and lead in assisting:
            self.add_error("assisting", _("The lead department cannot also assist."))
        chosen = [d for d in [lead, *assisting] if d is not None]
        unstaffed = [d.name for d in chosen if getattr(d, "active_members", None) == 0]
        if unstaffed and not data.get("confirm_unstaffed"):
            self.fields["confirm_unstaffed"].widget = forms.CheckboxInput()
            self.add_error(
                "confirm_unstaffed",
                _(
                    "Nobody staffs %(names)s: its work order would wait with no one to sign it. Choose another "
                    "department, or tick the box to dispatch anyway."
                )
                % {"names": ", ".join(unstaffed)},
            )
        return data

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {**super().service_kwargs(), "departments": [d["lead"], *d["assisting"]], "due_at": d.get("due_at")}


def staffed_label(department: Department) -> str:
    """A department in the dispatch picker with its number of active members (when the selector counted them)."""
    count = getattr(department, "active_members", None)
    if count is None:
        return department.name
    if count == 0:
        return _("%(name)s · nobody staffs it") % {"name": department.name}
    return ngettext("%(name)s · %(count)d member", "%(name)s · %(count)d members", count) % {
        "name": department.name,
        "count": count,
    }


class ReportAgainForm(forms.Form):
    """再次上报 from the report form: the same problem, added to an open case instead of a new one."""

    title = forms.CharField(max_length=120, required=False)
    description = forms.CharField(max_length=2000, required=False)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(required=False, min_value=-180, max_value=180)
    address = forms.CharField(max_length=200, required=False)
    reporter_contact = forms.CharField(max_length=100, required=False)
    files = MultipleFileField(label=_("Photos or PDF"))

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        comment = "\n".join(x for x in (d["title"].strip(), d["description"].strip()) if x)
        return {
            "comment": comment,
            "lat": d["lat"],
            "lng": d["lng"],
            "address": d["address"],
            "reporter_contact": d["reporter_contact"],
            "files": d["files"] or [],
        }


class DuplicateForm(CaseActionForm):
    duplicate_of = forms.CharField(label=_("Number of the case it repeats"), max_length=32)

    field_order = ["duplicate_of", "comment", "version"]

    def __init__(self, *args: Any, lookup=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookup = lookup

    def clean_duplicate_of(self):
        original = self.lookup(self.cleaned_data["duplicate_of"]) if self.lookup else None
        if original is None:
            raise ValidationError(_("No such case that you may see."))
        return original

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "duplicate_of": self.cleaned_data["duplicate_of"]}


class EvaluateForm(CaseActionForm):
    satisfaction = forms.ChoiceField(
        label=_("How satisfied is the resident?"), choices=Satisfaction.choices, widget=forms.RadioSelect
    )

    field_order = ["satisfaction", "comment", "version"]

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "satisfaction": self.cleaned_data["satisfaction"]}


class AssignForm(CaseActionForm):
    assignee = forms.CharField(label=_("Person (username)"), max_length=150)

    field_order = ["assignee", "comment", "version"]

    def __init__(self, *args: Any, candidates=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Suggestions only (a <datalist>): the service decides who may be assigned.
        self.candidates = candidates
        self.datalist_id = f"assignees-{getattr(self.case, 'pk', 'x')}"
        self.fields["assignee"].widget.attrs.update({"list": self.datalist_id, "autocomplete": "off"})

    def clean_assignee(self):
        user = User.objects.filter(username=self.cleaned_data["assignee"].strip(), is_active=True).first()
        if user is None:
            raise ValidationError(_("Choose a person who may see this case."))
        return user

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "assignee": self.cleaned_data["assignee"]}


CASE_FORMS: dict[str, type[CaseActionForm]] = {
    "dispatch": DispatchForm,
    "redispatch": DispatchForm,
    "mark_duplicate": DuplicateForm,
    "evaluate": EvaluateForm,
    "assign": AssignForm,
}


def case_action_form(action: str, *args: Any, **kwargs: Any) -> CaseActionForm:
    """The form of a transition; keyword arguments a form does not take are dropped."""
    cls = CASE_FORMS.get(action, CaseActionForm)
    if cls is not DispatchForm:
        kwargs.pop("departments", None)
        kwargs.pop("suggested", None)
    if cls is not DuplicateForm:
        kwargs.pop("lookup", None)
    if cls is not AssignForm:
        kwargs.pop("candidates", None)
    return cls(*args, action=action, **kwargs)


# --- work orders ------------------------------------------------------------------------------------------


class WorkOrderActionForm(forms.Form):
    """A department's step (or the dispatcher's answer to an extension request)."""

    version = _version()
    comment = _comment()

    def __init__(self, *args: Any, action: str, order=None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_wo{getattr(order, 'pk', 'x')}_{action}_%s")
        super().__init__(*args, **kwargs)
        self.action, self.order = action, order
        if order is not None and not self.is_bound:
            self.initial["version"] = order.case.version

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {"comment": d.get("comment", ""), "expected_version": d["version"]}


class RefuseForm(WorkOrderActionForm):
    refusal_reason = forms.ChoiceField(label=_("Reason"), choices=[("", _("— choose —")), *RefusalReason.choices])

    field_order = ["refusal_reason", "comment", "version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["comment"].label = _("Note")

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "refusal_reason": self.cleaned_data["refusal_reason"]}


class ExtensionForm(WorkOrderActionForm):
    until = forms.DateTimeField(
        label=_("New due time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    field_order = ["until", "comment", "version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["comment"].required = True
        self.fields["comment"].label = _("Why more time is needed")

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "until": self.cleaned_data["until"]}


class CompleteForm(WorkOrderActionForm):
    result = forms.CharField(label=_("What was done"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    files = MultipleFileField(label=_("Photos or PDF"))

    field_order = ["result", "files", "comment", "version"]

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {**super().service_kwargs(), "result": d["result"], "files": d["files"]}


class WorkOrderAssignForm(WorkOrderActionForm):
    assignee = forms.ModelChoiceField(label=_("Member"), queryset=User.objects.none())

    field_order = ["assignee", "comment", "version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.order is not None:
            members = [m for m in self.order.department.members.all() if m.is_active]
            self.fields["assignee"].queryset = User.objects.filter(pk__in=[m.pk for m in members])
            self.fields["assignee"].choices = [("", "---------"), *[(m.pk, m.label) for m in members]]

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "assignee": self.cleaned_data["assignee"]}


WORK_ORDER_FORMS: dict[str, type[WorkOrderActionForm]] = {
    "refuse": RefuseForm,
    "request_extension": ExtensionForm,
    "complete": CompleteForm,
    "assign": WorkOrderAssignForm,
}
WORK_ORDER_ACTIONS = ("sign", "refuse", "complete", "request_extension", "assign", "grant_extension", "deny_extension")


def work_order_form(action: str, *args: Any, **kwargs: Any) -> WorkOrderActionForm:
    return WORK_ORDER_FORMS.get(action, WorkOrderActionForm)(*args, action=action, **kwargs)


# --- queues -----------------------------------------------------------------------------------------------


SORT_CHOICES = [("newest", _("Newest first")), ("oldest", _("Oldest first")), ("due", _("Due first"))]


class SortForm(forms.Form):
    """The order of a list (GET ``sort``): by report time, or earliest open deadline first (``due``).

    Each list has its own default (queues oldest first, lists newest first); a missing or unknown value is it.
    ``sorts`` leaves out orders that mean nothing on a list (no clock runs on finished work orders).
    """

    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(
        self, *args: Any, default_sort: str = "newest", sorts: tuple[str, ...] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_sort = default_sort
        choices = [(code, label) for code, label in SORT_CHOICES if sorts is None or code in sorts]
        self.fields["sort"].choices = choices
        self.fields["sort"].initial = default_sort
        valid = {code for code, _label in choices}
        if self.is_bound and self.data.get("sort") not in valid:
            # Show (and apply) the list's default rather than an empty select or an error.
            self.data = self.data.copy()
            self.data["sort"] = default_sort

    def sort_code(self) -> str:
        """The chosen order: "newest", "oldest" or "due"."""
        return self.data["sort"] if self.is_bound else self.default_sort


class QueueFilterForm(SortForm):
    """Filters and order of the street queue and the case list (GET)."""

    q = forms.CharField(label=_("Number or title"), required=False, max_length=60)
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    grid = forms.CharField(label=_("Grid code"), required=False, max_length=15)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False, choices=[("", _("Any")), *Urgency.choices])
    state = forms.ChoiceField(label=_("State"), required=False)
    older_than = forms.IntegerField(label=_("Older than (days)"), required=False, min_value=0, max_value=3650)
    light = forms.ChoiceField(
        label=_("Deadline"),
        required=False,
        choices=[("", _("Any")), ("red", _("Overdue")), ("yellow", _("Due soon")), ("green", _("In time"))],
    )

    def __init__(self, *args: Any, categories: list[Category], states=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups: dict[str, list] = {}
        for c in categories:
            groups.setdefault(c.parent.name, []).append((c.pk, c.name))
        self.fields["category"].choices = [("", _("Any")), *groups.items()]
        states = states or State.values
        self.fields["state"].choices = [("", _("Any")), *[(s, State(s).label) for s in states]]

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if k != "sort"}


class BulkForm(forms.Form):
    """Fire a bulk-safe transition (accept, close) on the ticked cases; each is fired on its own."""

    action = forms.ChoiceField(label=_("Action"), choices=[])
    cases = forms.MultipleChoiceField(label=_("Cases"), choices=[], required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(t.code, t.label) for t in TRANSITIONS.values() if t.bulk]
        self.fields["cases"].choices = [(v, v) for v in (self.data.getlist("cases") if self.is_bound else [])]

    def clean_cases(self) -> dict[int, int]:
        """{case pk: version seen}; the checkbox value is "pk:version"."""
        picked: dict[int, int] = {}
        for value in self.cleaned_data["cases"]:
            pk, _sep, version = value.partition(":")
            if not pk.isdigit() or not version.isdigit():
                raise ValidationError(_("Tick the cases again."))
            picked[int(pk)] = int(version)
        return picked


# --- categories and response templates (admin pages) --------------------------------------------------------


class CategoryForm(forms.Form):
    """A category or a group; time limits as one number field per urgency and step."""

    code = forms.SlugField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=60)
    parent = forms.ModelChoiceField(
        label=_("Group"), queryset=Category.objects.none(), required=False, empty_label=_("— none: this is a group —")
    )
    default_urgency = forms.ChoiceField(label=_("Default urgency"), choices=Urgency.choices)
    lead_street = forms.SlugField(
        label=_("Lead department kind when the street dispatches"), required=False, max_length=20
    )
    lead_district = forms.SlugField(
        label=_("Lead department kind when the district dispatches"), required=False, max_length=20
    )
    escalation_grace_hours = forms.FloatField(
        label=_("Grace before escalation (hours)"), min_value=0, max_value=720, initial=8
    )
    sort_order = forms.IntegerField(label=_("Order"), min_value=0, initial=0)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, category=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups = Category.objects.filter(parent=None).order_by("sort_order", "code")
        self.fields["parent"].queryset = groups.exclude(pk=getattr(category, "pk", None))
        limits = category.time_limits if category else default_time_limits()
        for urgency, label in Urgency.choices:
            for step in STEPS:
                self.fields[f"tl_{urgency}_{step}"] = forms.FloatField(
                    label=f"{label} · {STEP_LABELS[step]}", min_value=0.1, max_value=2160, initial=limits[urgency][step]
                )

    def main_fields(self):
        return [self[name] for name in self.fields if not name.startswith("tl_") and name != "is_active"]

    def time_limit_rows(self):
        return [(label, [self[f"tl_{urgency}_{step}"] for step in STEPS]) for urgency, label in Urgency.choices]

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "code": d["code"],
            "name": d["name"],
            "parent": d["parent"],
            "default_urgency": d["default_urgency"],
            "lead_department_kinds": {"3": d["lead_street"], "2": d["lead_district"]},
            "time_limits": {u: {s: d[f"tl_{u}_{s}"] for s in STEPS} for u in Urgency.values},
            "escalation_grace_hours": d["escalation_grace_hours"],
            "is_active": d["is_active"],
            "sort_order": d["sort_order"],
        }


class ResponseTemplateForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False, empty_label=_("— every category —")
    )
    transition = forms.ChoiceField(label=_("Used in"))
    text = forms.CharField(label=_("Phrase"), max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.exclude(parent=None).select_related("parent")
        steps = [
            (f"wo_{code}", step.label)
            for code, step in WORK_ORDER_STEPS.items()
            if code in ("refuse", "complete", "request_extension")
        ]
        self.fields["transition"].choices = [(t.code, t.label) for t in TRANSITIONS.values()] + steps
