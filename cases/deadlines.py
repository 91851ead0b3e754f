"""Step deadlines: opened and closed by the case services, swept by Celery beat.

A deadline is computed once, when its step starts, from the category's time limit for the case's urgency and the
business calendar (working hours; emergencies in clock hours), and stored with its reminder (yellow) time and its
escalation time. The sweep finds what fell due with ``SELECT … FOR UPDATE SKIP LOCKED`` and acts on each row once:
a reminder before the deadline, a 催办 notice and a 督办 record when overdue, an escalation after the grace. Each
action is marked on the row in the same transaction as its effect, and notifications carry a unique key, so running
the sweep twice, on two workers, or after a crash mid-way changes nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import calendar

YELLOW_FRACTION = getattr(settings, "GOVGRID_YELLOW_FRACTION", 0.75)
# The sweep's moment: steps it opens (an escalation's new accept step) start then, not at the wall clock.
_clock: ContextVar[datetime | None] = ContextVar("govgrid_deadline_clock", default=None)


def _now() -> datetime:
    return _clock.get() or timezone.now()


@dataclass(frozen=True)
class Light:
    code: str  # "green", "yellow", "red", "" (no open step)
    due_at: datetime | None


def compute_due(*, start: datetime, hours: float, urgency: str) -> tuple[datetime, datetime]:
    """(due, yellow): working hours on the city's calendar, clock hours for emergencies."""
    if urgency == "emergency":
        due = calendar.add_clock_hours(start, hours)
        yellow = calendar.add_clock_hours(start, hours * YELLOW_FRACTION)
    else:
        due = calendar.add_working_hours(start, hours)
        yellow = calendar.add_working_hours(start, hours * YELLOW_FRACTION)
    return due, yellow


def light_of(*, due_at: datetime | None, yellow_at: datetime | None, now: datetime | None = None) -> str:
    if due_at is None:
        return ""
    now = now or timezone.now()
    if now >= due_at:
        return "red"
    if yellow_at is not None and now >= yellow_at:
        return "yellow"
    return "green"


def open_step(*, case, step: str, work_order=None, start: datetime | None = None, due_at: datetime | None = None):
    """Start the clock of a step (inside the caller's transaction)."""
    from .models import StepDeadline

    start = start or _now()
    hours = float(case.category.time_limits.get(case.urgency, {}).get(step) or 8)
    due, yellow = compute_due(start=start, hours=hours, urgency=case.urgency)
    if due_at is not None:  # a deadline the dispatcher set
        due = due_at
        yellow = start + (due_at - start) * YELLOW_FRACTION
    grace = timedelta(hours=float(case.category.escalation_grace_hours or 0))
    deadline = StepDeadline.objects.create(
        case=case,
        work_order=work_order,
        step=step,
        level=case.level,
        started_at=start,
        due_at=due,
        yellow_at=yellow,
        escalate_at=due + grace,
        hours=hours,
    )
    _refresh_case_due(case)
    return deadline


def close_steps(*, case, steps: tuple[str, ...] = (), work_order=None, now: datetime | None = None) -> int:
    """Stop the clock of open steps of the case (all, some steps, or one work order's)."""
    rows = case.deadlines.filter(closed_at__isnull=True)
    if steps:
        rows = rows.filter(step__in=steps)
    if work_order is not None:
        rows = rows.filter(work_order=work_order)
    count = rows.update(closed_at=now or _now())
    if count:
        _refresh_case_due(case)
    return count


def move_due(*, case, work_order, due_at: datetime) -> None:
    """A granted extension (延期) moves the open deadline of the work order; the old one stays in the event."""
    rows = case.deadlines.filter(closed_at__isnull=True, work_order=work_order)
    for d in rows:
        d.due_at = due_at
        d.yellow_at = d.started_at + (due_at - d.started_at) * YELLOW_FRACTION
        d.escalate_at = due_at + timedelta(hours=float(case.category.escalation_grace_hours or 0))
        d.save(update_fields=["due_at", "yellow_at", "escalate_at"])
    _refresh_case_due(case)


def pause(*, case, now: datetime | None = None) -> int:
    """Suspend the clock of every open step (a suspension the dispatcher granted)."""
    return case.deadlines.filter(closed_at__isnull=True, paused_since__isnull=True).update(
        paused_since=now or timezone.now()
    )


def resume(*, case, now: datetime | None = None) -> float:
    """Restart the clocks: each deadline moves by the time it was paused. Returns the paused seconds."""
    now = now or timezone.now()
    paused_total = 0.0
    for d in case.deadlines.filter(closed_at__isnull=True, paused_since__isnull=False):
        shift = now - d.paused_since
        d.due_at, d.yellow_at, d.escalate_at = d.due_at + shift, d.yellow_at + shift, d.escalate_at + shift
        d.paused_seconds += shift.total_seconds()
        d.paused_since = None
        d.save(update_fields=["due_at", "yellow_at", "escalate_at", "paused_seconds", "paused_since"])
        paused_total = max(paused_total, shift.total_seconds())
    _refresh_case_due(case)
    return paused_total


def _refresh_case_due(case) -> None:
    """Keep the earliest open deadline on the case row, so lists sort and filter by it with an index."""
    from .models import Case

    first = case.deadlines.filter(closed_at__isnull=True).order_by("due_at").values_list("due_at", "yellow_at").first()
    due, yellow = first or (None, None)
    Case.objects.filter(pk=case.pk).update(due_at=due, yellow_at=yellow)
    case.due_at, case.yellow_at = due, yellow


# --- the sweep ----------------------------------------------------------------------------------------------

# Whom a deadline notice goes to at one level: at most this many people (those granted first), so a command
# centre of fifty is not told fifty times about every late case; the rest see it on their lists and boards.
NOTIFY_MAX = getattr(settings, "GOVGRID_DEADLINE_NOTIFY_MAX", 10)


def nearest(path: str, codename: str, *, stop_depth: int = 1) -> list:
    """Active users granted ``codename`` at the node of ``path`` or, if none, at the nearest node above it
    (directly or through a team): the people who hold that level, not everyone above them."""
    from grids.models import User

    depth = len(path) // 4
    while depth >= stop_depth:
        node = path[: depth * 4]
        users = list(
            User.objects.filter(is_active=True)
            .filter(
                Q(
                    regionuserobjectpermission__permission__codename=codename,
                    regionuserobjectpermission__content_object__path=node,
                )
                | Q(
                    groups__regiongroupobjectpermission__permission__codename=codename,
                    groups__regiongroupobjectpermission__content_object__path=node,
                )
            )
            .distinct()
            .order_by("pk")[:NOTIFY_MAX]
        )
        if users:
            return users
        depth -= 1
    return []


class _People:
    """Whom to tell, looked up once per sweep batch: a batch of late steps shares a few levels and departments."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str], list] = {}
        self._members: dict[int, list] = {}

    def nearest(self, path: str, codename: str) -> list:
        key = (path, codename)
        if key not in self._levels:
            self._levels[key] = nearest(path, codename)
        return self._levels[key]

    def members(self, department) -> list:
        if department.pk not in self._members:
            self._members[department.pk] = list(department.members.filter(is_active=True).order_by("pk")[:NOTIFY_MAX])
        return self._members[department.pk]

    def holders(self, deadline) -> list:
        """Who holds the step: the work order's department members, else the people acting at the holding
        level (its dispatchers; the grid's verifiers for a verification)."""
        if deadline.work_order_id:
            return self.members(deadline.work_order.department)
        path = deadline.case.region.path
        if deadline.step == "verify":
            return self.nearest(path, "verify_case")
        return self.nearest(path[: deadline.level * 4], "dispatch_case")

    def supervisors(self, deadline) -> list:
        """Supervisors of the level above the holder (督办)."""
        above = max(1, deadline.level - 1)
        return self.nearest(deadline.case.region.path[: above * 4], "supervise_case")


def holders_of(case) -> list:
    """Who holds the case now: members of the departments with live work orders, else its dispatchers."""
    from grids.models import User

    from .workflow import WorkOrderState

    live = case.work_orders.filter(state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED]).values("department_id")
    members = list(User.objects.filter(is_active=True, departments__in=live).distinct()[:50])
    if members:
        return members
    return nearest(case.holder_path, "dispatch_case")


def sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """One pass over what fell due. Safe to run twice at once, to kill mid-way, and on several workers."""

    now = now or timezone.now()
    done = {"reminded": 0, "urged": 0, "supervised": 0, "escalated": 0, "notices": 0}
    token = _clock.set(now)
    try:
        return _sweep(now, batch, done)
    finally:
        _clock.reset(token)


def _sweep(now: datetime, batch: int, done: dict[str, int]) -> dict[str, int]:
    """Batches of due rows, each in its own transaction: lock the rows (skipping those another sweep holds),
    act on each, write the batch's notices with one insert, mark the rows, commit."""
    from notifications.services import notify_many

    from .models import StepDeadline

    while True:
        people = _People()
        with transaction.atomic():
            rows = list(
                StepDeadline.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("case__region", "case__category", "work_order__department")
                .filter(closed_at__isnull=True, paused_since__isnull=True)
                .filter(
                    Q(yellow_at__lte=now, reminded_at__isnull=True)
                    | Q(due_at__lte=now, urged_at__isnull=True)
                    | Q(escalate_at__lte=now, escalated_at__isnull=True, work_order__isnull=True)
                )
                .order_by("due_at")[:batch]
            )
            if not rows:
                return done
            notices: list = []
            marks: dict[tuple, list[int]] = {}
            escalate = []
            for d in rows:
                fields = _plan(d, now, people, notices, done)
                if d.work_order_id is None and d.escalated_at is None and d.escalate_at <= now:
                    fields = (*fields, "escalated_at")
                    escalate.append(d)
                if fields:
                    marks.setdefault(fields, []).append(d.pk)
            done["notices"] += len(notify_many(notices))
            for fields, pks in marks.items():
                StepDeadline.objects.filter(pk__in=pks).update(**dict.fromkeys(fields, now))
            for d in escalate:
                if _escalate(d):
                    done["escalated"] += 1
        if len(rows) < batch:
            return done


def _plan(d, now: datetime, people: _People, notices: list, done: dict[str, int]) -> tuple[str, ...]:
    """The notices one due row calls for (appended to ``notices``) and the markers to set on it."""
    from notifications.services import Notice

    case = d.case

    def tell(users: list, kind: str, title: str) -> None:
        notices.extend(Notice(u, kind, title, case=case, dedup_key=f"{kind}:{d.pk}:{u.pk}") for u in users)

    fields: list[str] = []
    if d.reminded_at is None and d.yellow_at <= now < d.due_at:
        tell(people.holders(d), "reminder", f"{case.number} 即将到期 / due soon")
        fields.append("reminded_at")
        done["reminded"] += 1
    if d.due_at <= now:
        if d.reminded_at is None:
            fields.append("reminded_at")  # too late for a reminder: the 催办 says it all
        if d.urged_at is None:
            tell(people.holders(d), "urge", f"{case.number} 已超期，请尽快办理 / overdue")
            tell(people.supervisors(d), "supervision", f"{case.number} 超期督办 / overdue: supervise")
            fields += ["urged_at", "supervised_at"]
            done["urged"] += 1
            done["supervised"] += 1
    return tuple(fields)


def _escalate(d) -> bool:
    """Escalate the case through the workflow service, as the system (an event on the timeline)."""
    from grids.demo import system_actor

    from . import services
    from .workflow import TRANSITIONS

    case = d.case
    case.refresh_from_db()  # an earlier row of the batch may have escalated it already
    if case.state not in TRANSITIONS["escalate"].sources or case.level <= 1 or case.level != d.level:
        return False
    services.case_transition(
        case=case,
        action="escalate",
        actor=system_actor(),
        comment=f"超期未办结，自动上报上级 (step {d.step})",
        by_deadline=True,
    )
    return True
