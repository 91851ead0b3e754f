"""The case workflow as data: states, transitions, who may fire them, what they require.

No database access here. ``cases.services.case_transition`` is the only code that applies these rules; the pages,
the API and Celery tasks all go through it. ``docs/workflow.md`` draws this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class State(models.TextChoices):
    REPORTED = "reported", _("Reported")  # 已上报
    CALLED = "called", _("Called to the street")  # 街道呼叫
    ACCEPTED = "accepted", _("Accepted")  # 已受理
    DISPATCHED = "dispatched", _("Dispatched")  # 已派单
    IN_PROGRESS = "in_progress", _("In progress")  # 处置中
    PENDING_VERIFICATION = "pending_verification", _("Pending verification")  # 待核查
    VERIFIED = "verified", _("Verified")  # 已核查
    CLOSED = "closed", _("Closed")  # 已结案
    ESCALATED = "escalated", _("Escalated")  # 已上报上级
    CANCELLED = "cancelled", _("Cancelled")  # 已作废


class WorkOrderState(models.TextChoices):
    ASSIGNED = "assigned", _("To sign")  # 待签收
    SIGNED = "signed", _("In progress")  # 已签收/处置中
    DONE = "done", _("Done")  # 已办结
    REFUSED = "refused", _("Refused")  # 已退单
    CANCELLED = "cancelled", pgettext_lazy("work order", "Cancelled")  # 已撤销


OPEN_STATES = frozenset(
    {
        State.REPORTED,
        State.CALLED,
        State.ACCEPTED,
        State.DISPATCHED,
        State.IN_PROGRESS,
        State.PENDING_VERIFICATION,
        State.VERIFIED,
        State.ESCALATED,
    }
)
# The states a street queue shows: what a dispatcher of the holding level takes, dispatches, follows or closes.
STREET_STATES = (
    State.CALLED,
    State.ESCALATED,
    State.ACCEPTED,
    State.DISPATCHED,
    State.IN_PROGRESS,
    State.VERIFIED,
)
ANY_OPEN = OPEN_STATES


class At(models.TextChoices):
    """Where the permission of a transition is checked: a grant there (or above) allows it."""

    HOLDER = "holder", _("the level holding the case")
    COMMUNITY = "community", _("the case's community")
    GRID = "grid", _("the case's grid")


@dataclass(frozen=True)
class Transition:
    code: str
    label: str
    sources: frozenset[str]
    target: str | None  # None: decided by the service (escalate keeps "escalated"; evaluate keeps "closed")
    perm: str
    at: str
    requires: frozenset[str] = frozenset()
    bulk: bool = False  # safe to fire on many cases at once from a queue
    # A fact of the case that must hold as well (see ``condition_holds``): "not_evaluated" (one call-back per
    # closing round), "awaiting_rehandle" (an unsatisfied call-back waits for the dispatcher's decision).
    condition: str = ""


def _t(code, label, sources, target, perm, at, requires=(), bulk=False, condition="") -> Transition:
    return Transition(code, label, frozenset(sources), target, perm, at, frozenset(requires), bulk, condition)


class Rehandle(models.TextChoices):
    """What an unsatisfied call-back does (setting ``GOVGRID_REHANDLE_ON_UNSATISFIED``)."""

    AUTO = "auto", _("re-handle at once")  # 自动重办
    QUEUE = "queue", _("queue for the dispatcher's decision")  # 由调度员决定


S = State
TRANSITIONS: dict[str, Transition] = {
    t.code: t
    for t in [
        _t(
            "settle",
            _("Settle locally"),
            {S.REPORTED},
            S.PENDING_VERIFICATION,
            "cases.triage_case",
            At.COMMUNITY,
            {"comment"},
        ),
        _t("call_street", _("Call the street"), {S.REPORTED}, S.CALLED, "cases.triage_case", At.COMMUNITY, {"comment"}),
        _t("accept", _("Accept"), {S.CALLED, S.ESCALATED}, S.ACCEPTED, "cases.dispatch_case", At.HOLDER, (), bulk=True),
        _t(
            "return",
            _("Return to the community"),
            {S.CALLED},
            S.REPORTED,
            "cases.dispatch_case",
            At.HOLDER,
            {"comment"},
        ),
        _t("dispatch", _("Dispatch"), {S.ACCEPTED}, S.DISPATCHED, "cases.dispatch_case", At.HOLDER, {"departments"}),
        _t(
            "redispatch",
            _("Re-dispatch refused work"),
            {S.DISPATCHED, S.IN_PROGRESS},
            None,
            "cases.dispatch_case",
            At.HOLDER,
            {"departments"},
        ),
        _t("verify_ok", _("Verification passed"), {S.PENDING_VERIFICATION}, S.VERIFIED, "cases.verify_case", At.GRID),
        _t(
            "verify_failed",
            _("Verification failed (rework)"),
            {S.PENDING_VERIFICATION},
            S.IN_PROGRESS,
            "cases.verify_case",
            At.GRID,
            {"comment"},
        ),
        _t("close", _("Close"), {S.VERIFIED}, S.CLOSED, "cases.close_case", At.HOLDER, (), bulk=True),
        _t(
            "escalate",
            _("Escalate to the level above"),
            OPEN_STATES - {S.VERIFIED},
            S.ESCALATED,
            "cases.escalate_case",
            At.HOLDER,
            {"comment"},
        ),
        _t(
            "cancel",
            pgettext_lazy("case action", "Cancel"),
            OPEN_STATES,
            S.CANCELLED,
            "cases.cancel_case",
            At.HOLDER,
            {"comment"},
        ),
        _t(
            "mark_duplicate",
            _("Mark as duplicate"),
            OPEN_STATES,
            S.CANCELLED,
            "cases.cancel_case",
            At.HOLDER,
            {"duplicate_of"},
        ),
        _t("reopen", _("Reopen"), {S.CLOSED}, S.REPORTED, "cases.reopen_case", At.HOLDER, {"comment"}),
        _t(
            "evaluate",
            _("Record the resident's evaluation"),
            {S.CLOSED},
            None,
            "cases.evaluate_case",
            At.HOLDER,
            {"satisfaction"},
            condition="not_evaluated",
        ),
        # 重办: back to the level that dispatched (accepted, to dispatch a new round), or to community triage when
        # the community settled it; fired by the service itself on "unsatisfied", or by the dispatcher when queued.
        _t(
            "rehandle",
            _("Re-handle (unsatisfied call-back)"),
            {S.CLOSED},
            None,
            "cases.dispatch_case",
            At.HOLDER,
            {"comment"},
            condition="awaiting_rehandle",
        ),
        _t(
            "keep_closed",
            _("Keep it closed"),
            {S.CLOSED},
            S.CLOSED,
            "cases.dispatch_case",
            At.HOLDER,
            {"comment"},
            condition="awaiting_rehandle",
        ),
        # 再次上报: someone reports the same problem again; their report joins the open case (no cancel needed).
        _t(
            "report_again",
            _("Reported again"),
            OPEN_STATES,
            None,
            "cases.report_case",
            At.GRID,
            {"comment"},
        ),
        _t("assign", _("Assign to a person"), OPEN_STATES, None, "cases.dispatch_case", At.HOLDER, {"assignee"}),
        _t(
            "supervise", _("Send a supervision notice"), OPEN_STATES, None, "cases.supervise_case", At.GRID, {"comment"}
        ),
        _t("suspend", _("Suspend the clock"), OPEN_STATES, None, "cases.dispatch_case", At.HOLDER, {"comment"}),
        _t("resume", _("Resume the clock"), OPEN_STATES, None, "cases.dispatch_case", At.HOLDER),
    ]
}


@dataclass(frozen=True)
class WorkOrderStep:
    """A step on one department's work order: fired by a member of that department, or by the dispatcher
    (``cases.dispatch_case`` at the holder) when it answers an extension request."""

    code: str
    label: str
    sources: frozenset[str]
    by: str  # "member" or "dispatcher"
    pending_extension: bool | None = None  # True: only while a request waits; False: only when none waits


W = WorkOrderState
WORK_ORDER_STEPS: dict[str, WorkOrderStep] = {
    s.code: s
    for s in [
        WorkOrderStep("sign", _("Sign for it"), frozenset({W.ASSIGNED}), "member"),
        WorkOrderStep("refuse", _("Refuse"), frozenset({W.ASSIGNED}), "member"),
        WorkOrderStep("complete", _("Complete"), frozenset({W.SIGNED}), "member"),
        WorkOrderStep(
            "request_extension", _("Ask for more time"), frozenset({W.SIGNED}), "member", pending_extension=False
        ),
        WorkOrderStep("assign", _("Assign to a member"), frozenset({W.ASSIGNED, W.SIGNED}), "member"),
        WorkOrderStep(
            "grant_extension", _("Grant the extension"), frozenset({W.SIGNED}), "dispatcher", pending_extension=True
        ),
        WorkOrderStep(
            "deny_extension", _("Deny the extension"), frozenset({W.SIGNED}), "dispatcher", pending_extension=True
        ),
    ]
}


def step_applies(step: WorkOrderStep, order_state: str, extension_state: str) -> bool:
    pending = extension_state == "pending"
    return order_state in step.sources and step.pending_extension in (None, pending)


def available_steps(order_state: str, extension_state: str, *, member: bool, dispatcher: bool) -> list[str]:
    """The work-order steps someone may take now, given whether they are a member of the department and
    whether they dispatch at the holder (the case must be dispatched or in progress)."""
    allowed = {"member": member, "dispatcher": dispatcher}
    return [
        s.code for s in WORK_ORDER_STEPS.values() if allowed[s.by] and step_applies(s, order_state, extension_state)
    ]


class RefusalReason(models.TextChoices):
    NOT_OUR_DUTY = "not_our_duty", _("Not our duty")  # 非本部门职责
    NOT_OUR_AREA = "not_our_area", _("Not our area")  # 非本辖区
    OWNERSHIP_UNCLEAR = "ownership_unclear", _("Ownership unclear")  # 权属不清
    OTHER = "other", _("Other")


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")  # 满意
    BASICALLY = "basically", _("Basically satisfied")  # 基本满意
    UNSATISFIED = "unsatisfied", _("Unsatisfied")  # 不满意


def condition_holds(t: Transition, *, satisfaction: str, awaiting_rehandle: bool) -> bool:
    """The transition's extra condition on the case's facts (True when it has none)."""
    if t.condition == "not_evaluated":
        return not satisfaction
    if t.condition == "awaiting_rehandle":
        return awaiting_rehandle
    return True


def available(state: str) -> list[Transition]:
    """Transitions whose source states include ``state`` (permission not considered)."""
    return [t for t in TRANSITIONS.values() if state in t.sources]


def after_work_orders(states: list[str]) -> str | None:
    """Coordinated resolution: the case state implied by its current work orders, or None to stay.

    All open orders signed → in progress; all done → pending verification. Refused orders wait for the
    dispatcher (re-dispatch), so they hold the case where it is.
    """
    live = [s for s in states if s not in (WorkOrderState.CANCELLED,)]
    if not live or WorkOrderState.REFUSED in live:
        return None
    if all(s == WorkOrderState.DONE for s in live):
        return State.PENDING_VERIFICATION
    if all(s in (WorkOrderState.SIGNED, WorkOrderState.DONE) for s in live):
        return State.IN_PROGRESS
    return None
