"""Strict filter sets: an unknown parameter or a bad value is a 400 naming it, never silently ignored."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

# Parameters of pagination and of the schema's format, allowed beside any filter set.
COMMON = frozenset({"after", "before", "size", "format"})


class IntegerFilter(filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class _StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise forms.ValidationError(_("true or false."))


class BooleanFilter(filters.BooleanFilter):
    """true or false only (django-filter's takes "null", "unknown" and more as "no filter")."""

    field_class = _StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)  # the raw text reaches the field, which judges it
        super().__init__(*args, **kwargs)


class StrictFilterSet(filters.FilterSet):
    extra_params: frozenset[str] = frozenset()

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            known = set(self.base_filters) | COMMON | set(self.extra_params)
            unknown = sorted(k for k in data if k not in known)
            if unknown:
                raise ValidationError({k: [_("Unknown parameter.")] for k in unknown})
        super().__init__(data, *args, **kwargs)


class StrictFilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, answering 400 with the field messages when a value is bad."""

    raise_exception = True

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        _valid_or_400(filterset)
        return filterset.qs


def _valid_or_400(filterset) -> None:
    if not filterset.is_valid():
        raise ValidationError({k: [str(m) for m in v] for k, v in filterset.errors.items()})


def cleaned(filterset_class, request, *, drop_empty: bool = True) -> dict:
    """The query parameters of ``request`` checked by ``filterset_class`` (400 with the field messages when bad),
    for views whose selector applies the filters itself; empty values left out unless ``drop_empty`` is False."""
    fs = filterset_class(request.query_params, queryset=filterset_class.Meta.model.objects.none(), request=request)
    _valid_or_400(fs)
    data = fs.form.cleaned_data
    return {k: v for k, v in data.items() if v not in (None, "", [])} if drop_empty else data


def reject_unknown(request, allowed: set[str] | frozenset[str]) -> None:
    """For views without a filter set: 400 on query parameters they do not take."""
    unknown = sorted(k for k in request.query_params if k not in set(allowed) | COMMON)
    if unknown:
        raise ValidationError({k: [_("Unknown parameter.")] for k in unknown})
