"""The map's filters (GET): region, zoom, category, state, traffic light and period. The page and the data
endpoint read the same form, so a bad value is refused the same way (a form error on the page, a 400 with the
message from the endpoint)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.workflow import State

from . import geometry
from .selectors import CLOSED, OPEN, MapFilters

PERIODS = [
    ("", _("Any time")),
    ("today", _("Today")),
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
    ("month", _("This month")),
    ("custom", _("Date range")),
]
# Closed and cancelled cases pile up for years: the map shows them for a period of at most this many days.
MAX_CLOSED_DAYS = 366


class MapFilterForm(forms.Form):
    region = forms.IntegerField(label=_("Region"), required=False, min_value=1, widget=forms.HiddenInput)
    zoom = forms.IntegerField(required=False, min_value=0, max_value=22, widget=forms.HiddenInput)
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    state = forms.ChoiceField(label=_("State"), required=False)
    light = forms.ChoiceField(
        label=_("Deadline"),
        required=False,
        choices=[("", _("Any")), ("red", _("Overdue")), ("yellow", _("Due soon")), ("green", _("In time"))],
    )
    period = forms.ChoiceField(label=_("Reported in"), required=False, choices=PERIODS)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, categories: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups: dict[Any, list] = {}
        for c in categories:
            groups.setdefault(c.parent, []).append((c.pk, c.name))
        # A group's own entry first (its every category), then its categories.
        self.fields["category"].choices = [
            ("", _("Any")),
            *[(g.name, [(g.pk, _("%(group)s: all") % {"group": g.name}), *items]) for g, items in groups.items()],
        ]
        self.fields["state"].choices = [(OPEN, _("Open (any open state)")), *State.choices]
        for name in ("category", "state", "light", "period", "date_from", "date_to"):
            self.fields[name].widget.attrs.setdefault("class", "form-select form-select-sm")
        for name in ("date_from", "date_to"):
            self.fields[name].widget.attrs["class"] = "form-control form-control-sm"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        period = data.get("period") or ""
        if period == "custom":
            start, end = data.get("date_from"), data.get("date_to")
            if not start or not end:
                raise ValidationError({"date_from": _("Give both dates of the range.")})
            if end < start:
                raise ValidationError({"date_to": _("The range ends before it begins.")})
            if (end - start).days >= MAX_CLOSED_DAYS:
                raise ValidationError({"date_to": _("A range spans at most %(n)d days.") % {"n": MAX_CLOSED_DAYS}})
        if data.get("state") in CLOSED and not period:
            raise ValidationError(
                {"period": _("Choose a period to see closed or cancelled cases (they pile up for years).")}
            )
        return data

    def map_filters(self) -> MapFilters:
        """The filters of a valid form (defaults for a form that was not sent)."""
        data = self.cleaned_data if self.is_bound else {}
        since, until = self._period(data)
        return MapFilters(
            category=data.get("category"),
            state=data.get("state") or OPEN,
            light=data.get("light") or "",
            since=since,
            until=until,
        )

    def zoom_level(self) -> int:
        value = self.cleaned_data.get("zoom") if self.is_bound else None
        return geometry.clamp_zoom(12 if value is None else value)

    @staticmethod
    def _period(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        """[since, until) of the chosen period, in the city's time zone (None: open-ended)."""
        period = data.get("period") or ""
        now = timezone.localtime()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "today":
            return midnight, None
        if period == "7d":
            return now - timedelta(days=7), None
        if period == "30d":
            return now - timedelta(days=30), None
        if period == "month":
            return midnight.replace(day=1), None
        if period == "custom":
            tz = timezone.get_current_timezone()
            start = datetime.combine(data["date_from"], time.min, tzinfo=tz)
            end = datetime.combine(data["date_to"] + timedelta(days=1), time.min, tzinfo=tz)
            return start, end
        return None, None

    def error_text(self) -> str:
        """Every error in one sentence per field, for the endpoint's 400."""
        parts = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
        return " ".join(str(p) for p in parts)
