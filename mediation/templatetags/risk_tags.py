"""The menu entries of risk early warning."""

from django import template

from grids import access

register = template.Library()


@register.simple_tag(takes_context=True)
def risk_nav(context) -> dict[str, bool]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"review": access.user_can_anywhere(user, "mediation.review_warning")}
