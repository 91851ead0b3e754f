"""``{% case_nav as cnav %}``: which case pages the signed-in user has a use for (menu entries)."""

from django import template

from cases import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def case_nav(context) -> dict[str, bool]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return selectors.navigation(user) if user is not None else {}
