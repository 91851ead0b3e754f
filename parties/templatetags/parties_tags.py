"""Menu entries of the parties pages, and the masked value with its "show" button."""

from django import template

from grids import access

register = template.Library()


@register.simple_tag(takes_context=True)
def parties_nav(context) -> dict[str, bool]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    can = lambda perm: access.user_can_anywhere(user, perm)  # noqa: E731
    return {
        "records": can("parties.view_household"),
        "visit": can("parties.record_visit"),
        "log": can("parties.view_access_log"),
        "import": can("parties.change_household"),
    }


@register.inclusion_tag("parties/_masked.html", takes_context=True)
def masked(context, record, field: str, mask: str, kind: str = ""):
    """A masked number, with a "show" button for holders of parties.view_personal_data where the record lies.

    ``kind`` names the record type in the reveal URL (resident, organisation, case_party); the button posts, and
    the answer (the whole number) replaces it, after one access log row is written.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    may = bool(mask) and user is not None and access.user_can(user, "parties.view_personal_data", record)
    return {"record": record, "field": field, "mask": mask, "may": may, "kind": kind or type(record).__name__.lower()}
