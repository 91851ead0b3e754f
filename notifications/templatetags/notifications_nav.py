"""``{% unread_notifications as unread %}``: the signed-in user's unread count for the navbar (one indexed,
bounded query; see selectors.unread_count)."""

from django import template

from notifications import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return selectors.unread_count(user=user) if user is not None else 0
