"""The parts of a case that every list row shows, written in Python.

A list page shows thirty rows; rendered through ``{% include %}`` templates each row's badges and summary cost more
than the query that found the rows. These tags write the same HTML directly (every value escaped), once per row.
"""

from __future__ import annotations

from html import escape

from django import template
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from cases.models import case_url

register = template.Library()


def _local(value, fmt: str) -> str:
    return formats.date_format(timezone.localtime(value), fmt) if value else ""


def light_badge(light: str, due) -> str:
    if not light:
        return ""
    text = {"red": _("Overdue"), "yellow": _("Due soon")}.get(light, _("In time"))
    return (
        f'<span class="badge light light-{escape(light)}" data-testid="light" '
        f'title="{escape(_("Due"))} {_local(due, "Y-m-d H:i")}">{escape(text)} · {_local(due, "m-d H:i")}</span>'
    )


def badges_html(c) -> str:
    parts = [
        f'<span class="badge state state-{escape(c.state)}" data-testid="state">{escape(c.get_state_display())}</span>'
    ]
    if c.urgency != "normal":
        parts.append(f' <span class="badge urgency-{escape(c.urgency)}">{escape(c.get_urgency_display())}</span>')
    light = c.light
    if light:
        parts.append(" " + light_badge(light, c.due_at))
    return "".join(parts)


@register.simple_tag
def case_badges(c) -> SafeString:
    """State, urgency (when not normal) and traffic light of a case."""
    return mark_safe(badges_html(c))  # noqa: S308 - escaped above


@register.simple_tag
def light(light: str, due) -> SafeString:
    return mark_safe(light_badge(light, due))  # noqa: S308 - escaped above


@register.simple_tag
def case_item(c) -> SafeString:
    """Number, badges, title and the summary line of a case, as in every list of cases."""
    url = case_url(c.pk)
    created = timezone.localtime(c.created_at)
    meta = [escape(str(c.category)), escape(c.region.name)]
    meta.append(f'<time datetime="{created.isoformat()}">{formats.date_format(created, "Y-m-d H:i")}</time>')
    if c.address:
        meta.append(escape(c.address))
    return mark_safe(  # noqa: S308 - escaped above
        '<div class="d-flex justify-content-between gap-2 flex-wrap">'
        f'<a class="code small" href="{url}" data-testid="case-link">{escape(c.number)}</a>'
        f"<span>{badges_html(c)}</span></div>"
        f'<div class="fw-semibold text-break"><a class="text-reset text-decoration-none" href="{url}">'
        f"{escape(c.title)}</a></div>"
        f'<div class="small text-muted">{" · ".join(meta)}</div>'
    )
