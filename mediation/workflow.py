"""The dispute workflow as data: statuses, the actions that move a dispute, and who may take them.

No database access here. ``mediation.services`` is the only code that applies these rules; ``docs/mediation.md``
draws this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    OPEN = "open", _("Open")  # 已登记
    MEDIATING = "mediating", _("Mediating")  # 调解中
    AGREED = "agreed", _("Agreement reached")  # 达成协议 (follow-ups running)
    HELD = "held", _("Agreement held")  # 协议履行 (the 90-day follow-up found it kept)
    NO_AGREEMENT = "no_agreement", _("No agreement")  # 调解不成
    WITHDRAWN = "withdrawn", _("Withdrawn")  # 撤回
    HANDED_OVER = "handed_over", _("Handed over")  # 已移交 (三调联动)


# Statuses in which the community still works on the dispute.
ACTIVE = frozenset({Status.OPEN, Status.MEDIATING})
# Statuses that count as settled (化解) in the figures.
SETTLED = frozenset({Status.AGREED, Status.HELD})


@dataclass(frozen=True)
class Action:
    code: str
    label: str
    sources: frozenset[str]
    target: str | None  # None: the status does not change
    perm: str
    requires: frozenset[str] = frozenset()


def _a(code, label, sources, target, perm="mediation.mediate_dispute", requires=()) -> Action:
    return Action(code, label, frozenset(sources), target, perm, frozenset(requires))


S = Status
ACTIONS: dict[str, Action] = {
    a.code: a
    for a in [
        _a("open", _("Opened"), set(), S.OPEN, "mediation.open_dispute"),
        _a("party_add", _("Party added"), ACTIVE, None, "mediation.open_dispute"),
        _a("party_remove", _("Party removed"), ACTIVE, None, "mediation.open_dispute"),
        _a("mediator_assign", _("Mediator assigned"), ACTIVE, None),
        _a("mediator_remove", _("Mediator removed"), ACTIVE, None),
        _a("session", _("Mediation session recorded"), ACTIVE, S.MEDIATING, requires={"notes"}),
        _a("agree", _("Agreement reached"), ACTIVE, S.AGREED, requires={"terms"}),
        _a("no_agreement", _("No agreement"), ACTIVE, S.NO_AGREEMENT, requires={"comment"}),
        _a("withdraw", _("Withdrawn"), ACTIVE, S.WITHDRAWN, requires={"comment"}),
        # Up to the street's mediation committee: the dispute stays in the ledger, mediated at the street level.
        _a("hand_up", _("Handed up to the street"), ACTIVE | {S.NO_AGREEMENT}, S.MEDIATING, requires={"comment"}),
        # Out of people's mediation: to a department (行政调解) or the court (司法确认); it ends here.
        _a("hand_over", _("Handed over"), ACTIVE | {S.NO_AGREEMENT}, S.HANDED_OVER, requires={"comment", "target"}),
        _a("scan_upload", _("Signed agreement uploaded"), {S.AGREED, S.HELD}, None),
        _a("follow_up_held", _("Follow-up: the agreement holds"), {S.AGREED}, None),
        _a("fell_apart", _("Follow-up: the agreement fell apart"), {S.AGREED}, S.MEDIATING, requires={"comment"}),
    ]
}


def allowed(status: str, action: str) -> bool:
    a = ACTIONS.get(action)
    return a is not None and status in a.sources


def available(status: str) -> list[Action]:
    return [a for a in ACTIONS.values() if status in a.sources]


# Follow-up visits after an agreement (回访), in days; the last one decides whether the agreement held.
FOLLOW_UP_DAYS = (30, 90)
