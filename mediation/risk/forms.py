"""The forms of the risk pages: which week and region, a supervisor's mark on a warning, a rule's settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Category

from . import rules
from .models import RiskRun, WarningStatus


def this_week():
    """The week of the latest night the rules ran over (yesterday's data, as a rule), or of yesterday before any."""
    latest = RiskRun.objects.filter(finished_at__isnull=False).aggregate(day=Max("run_date"))["day"]
    return rules.week_of(latest or timezone.localdate() - timedelta(days=1))


class ListForm(forms.Form):
    region = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    week = forms.DateField(label=_("Week of"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any")), *WarningStatus.choices])

    def week_value(self):
        day = self.cleaned_data.get("week") if self.is_valid() else None
        return rules.week_of(day) if day else this_week()


class PeriodForm(forms.Form):
    """The map's period of warnings: two days (inclusive), at most 366 days apart; the last 28 days by default."""

    region = forms.IntegerField(required=False, min_value=1)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        until = data.get("date_to") or timezone.localdate()
        since = data.get("date_from") or until - timedelta(days=27)
        if since > until:
            raise forms.ValidationError({"date_to": _("The range ends before it begins.")})
        if (until - since).days > 366:
            raise forms.ValidationError({"date_to": _("A range spans at most %(n)d days.") % {"n": 366}})
        data["since"], data["until"] = since, until
        return data

    def error_text(self) -> str:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items())


class ActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("follow_up", _("Followed up")), ("dismiss", _("Dismiss")), ("to_case", _("Turn into a case"))]
    )
    reason = forms.CharField(
        label=_("Reason or note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    category = forms.ModelChoiceField(label=_("Category of the case"), required=False, queryset=Category.objects.none())
    title = forms.CharField(label=_("Title of the case"), required=False, max_length=120)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = (
            Category.objects.filter(is_active=True)
            .exclude(parent=None)
            .select_related("parent")
            .order_by("parent__sort_order", "sort_order", "code")
        )
        self.fields["category"].label_from_instance = lambda c: f"{c.parent.name} › {c.name}"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "to_case" and not data.get("category"):
            self.add_error("category", _("Choose the category of the case."))
        return data


class RuleForm(forms.Form):
    """One rule's settings: on or off and its parameters (fields made from the rule's defaults)."""

    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, rule: rules.Rule, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule = rule
        for name, default in rule.defaults.items():
            label = rule.labels.get(name, name)
            if isinstance(default, list):
                self.fields[name] = forms.CharField(label=label, help_text=_("Separated by commas."))
            elif isinstance(default, float):
                self.fields[name] = forms.FloatField(label=label, min_value=0.1, max_value=100)
            else:
                self.fields[name] = forms.IntegerField(label=label, min_value=1, max_value=10_000)

    def params(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.rule.defaults}
