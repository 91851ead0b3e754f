"""The form renderer: the commonest widgets written in Python.

Django renders every input, textarea and ``<option>`` through a template, and a select of a few dozen options
then costs more than the rest of a list page (the filter bar and the report form pay it on every request). This
renderer writes the same HTML for those templates directly, every value escaped, and leaves any other widget to
Django's templates.
"""

from __future__ import annotations

from html import escape

from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe


def _attrs(attrs: dict) -> str:
    out = []
    for name, value in attrs.items():
        if value is False or value is None:
            continue
        out.append(f" {escape(str(name))}" if value is True else f' {escape(str(name))}="{escape(str(value))}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{escape(str(widget["value"]))}"'
    return (
        f'<input type="{escape(str(widget["type"]))}" name="{escape(widget["name"])}"{value}{_attrs(widget["attrs"])}>'
    )


def _textarea(widget: dict) -> str:
    value = escape(str(widget["value"])) if widget["value"] else ""
    return f'<textarea name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


def _select(widget: dict) -> str:
    parts = [f'<select name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'<optgroup label="{escape(str(group_name))}">')
        for option in options:
            value = "" if option["value"] is None else escape(str(option["value"]))
            parts.append(f'<option value="{value}"{_attrs(option["attrs"])}>{escape(str(option["label"]))}</option>')
        if group_name:
            parts.append("</optgroup>")
    parts.append("</select>")
    return "".join(parts)


WRITERS = {
    "django/forms/widgets/input.html": _input,
    "django/forms/widgets/text.html": _input,
    "django/forms/widgets/number.html": _input,
    "django/forms/widgets/email.html": _input,
    "django/forms/widgets/hidden.html": _input,
    "django/forms/widgets/password.html": _input,
    "django/forms/widgets/search.html": _input,
    "django/forms/widgets/url.html": _input,
    "django/forms/widgets/date.html": _input,
    "django/forms/widgets/datetime.html": _input,
    "django/forms/widgets/time.html": _input,
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/select.html": _select,
}


class FastRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        writer = WRITERS.get(template_name)
        if writer is None or "widget" not in context:
            return super().render(template_name, context, request=request)
        return mark_safe(writer(context["widget"]))  # noqa: S308 - every value is escaped by the writer
