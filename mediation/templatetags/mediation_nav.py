"""The mediation ledger's menu entry: for those who may see disputes somewhere (or were invited to mediate one)."""

from django import template

from grids import access

register = template.Library()


@register.simple_tag(takes_context=True)
def mediation_nav(context) -> dict[str, bool]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"ledger": access.user_can_anywhere(user, "mediation.view_dispute")}
