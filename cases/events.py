"""Events of cases that integrations subscribe to (signed webhooks, notifications.subscriptions).

Published inside the transaction of the change, keyed by the timeline event, so each is delivered once per
subscription. The payload carries no personal data: the case's number, state, category, place and times.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

EVENTS = {
    "case.reported": _("Case reported"),
    "case.state_changed": _("Case state changed"),
    "case.closed": _("Case closed"),
    "case.evaluated": _("Case evaluated"),
}


def _payload(case, event_row, from_state: str) -> dict[str, Any]:
    return {
        "case": {
            "id": case.pk,
            "number": case.number,
            "title": case.title,
            "state": case.state,
            "from_state": from_state,
            "level": case.level,
            "category": case.category.code,
            "region": case.region.code,
            "source": case.source,
            "satisfaction": case.satisfaction,
            "url": case.url,
            "updated_at": timezone.localtime(case.updated_at).isoformat() if case.updated_at else None,
        },
        "transition": event_row.transition,
        "at": timezone.localtime(event_row.at).isoformat(),
    }


def publish_case_events(case, event_row, from_state: str) -> None:
    """Publish what the timeline event means for subscribers (inside the caller's transaction)."""
    from notifications.subscriptions import publish

    kinds = []
    if event_row.transition == "report":
        kinds.append("case.reported")
    elif from_state != case.state:
        kinds.append("case.state_changed")
    if case.state == "closed" and from_state != "closed":
        kinds.append("case.closed")
    if event_row.transition == "evaluate":
        kinds.append("case.evaluated")
    if not kinds:
        return
    payload = _payload(case, event_row, from_state)
    for kind in kinds:
        publish(event=kind, key=f"{kind}:{event_row.pk}", region_path=case.region.path, payload=payload)
