"""Step deadlines: opened and closed by the case services, swept by Celery beat.

A deadline is computed once, when its step starts, from the category's time limit for the case's urgency and the
business calendar (working hours; emergencies in clock hours), and stored with its reminder (yellow) time and its
escalation time. The sweep finds what fell due with ``SELECT … FOR UPDATE SKIP LOCKED`` and acts on each row once:
a reminder before the deadline, a 催办 notice and a 督办 record when overdue, an escalation after the grace. Each
action is marked on the row in the same transaction as its effect, and notifications carry a unique key, so running
the sweep twice, on two workers, or after a crash mid-way changes nothing. Each notice goes to a unit (the
department, the level's dispatchers, the supervisors above; grids.units), so a step writes a few rows whatever
the size of the units: each member sees it in his inbox, and its deliveries are made per member after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from grids import units

from . import calendar

YELLOW_FRACTION = getattr(settings, "GOVGRID_YELLOW_FRACTION", 0.75)
# The sweep's moment: steps it opens (an escalation's new accept step) start then, not at the wall clock.
_clock: ContextVar[datetime | None] = ContextVar("govgrid_deadline_clock", default=None)


def _now() -> datetime:
    return _clock.get() or timezone.now()


@contextmanager
def started_at(moment: datetime) -> Iterator[None]:
    """Steps opened inside start their clocks at ``moment`` instead of now (the sweep's escalations, demo data)."""
    token = _clock.set(moment)
    try:
        yield
    finally:
        _clock.reset(token)


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


def open_step(
    *,
    case,
    step: str,
    work_order=None,
    start: datetime | None = None,
    due_at: datetime | None = None,
    refresh: bool = True,
):
    """Start the clock of a step (inside the caller's transaction)."""
    return open_steps(case=case, steps=[(step, work_order, due_at)], start=start, refresh=refresh)[0]


def open_steps(*, case, steps, start: datetime | None = None, refresh: bool = True) -> list:
    """Start several clocks at once, one insert whatever their number: ``steps`` is (step, work order or None,
    deadline the dispatcher set or None) triples. With ``refresh=False`` the caller brings the case row's first
    deadline up to date itself (``refresh_case_due``), once for all the clocks it moved."""
    from .models import StepDeadline

    start = start or _now()
    grace = timedelta(hours=float(case.category.escalation_grace_hours or 0))
    rows = []
    for step, work_order, due_at in steps:
        hours = float(case.category.time_limits.get(case.urgency, {}).get(step) or 8)
        due, yellow = compute_due(start=start, hours=hours, urgency=case.urgency)
        if due_at is not None:  # a deadline the dispatcher set
            due = due_at
            yellow = start + (due_at - start) * YELLOW_FRACTION
        rows.append(
            StepDeadline(
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
        )
    created = StepDeadline.objects.bulk_create(rows) if rows else []
    if refresh and created:
        refresh_case_due(case)
    return created


def close_steps(
    *, case, steps: tuple[str, ...] = (), work_order=None, now: datetime | None = None, refresh: bool = True
) -> int:
    """Stop the clock of open steps of the case (all, some steps, or one work order's)."""
    rows = case.deadlines.filter(closed_at__isnull=True)
    if steps:
        rows = rows.filter(step__in=steps)
    if work_order is not None:
        rows = rows.filter(work_order=work_order)
    count = rows.update(closed_at=now or _now())
    if count and refresh:
        refresh_case_due(case)
    return count


def move_due(*, case, work_order, due_at: datetime) -> None:
    """A granted extension (延期) moves the open deadline of the work order; the old one stays in the event."""
    rows = case.deadlines.filter(closed_at__isnull=True, work_order=work_order)
    for d in rows:
        d.due_at = due_at
        d.yellow_at = d.started_at + (due_at - d.started_at) * YELLOW_FRACTION
        d.escalate_at = due_at + timedelta(hours=float(case.category.escalation_grace_hours or 0))
        d.save(update_fields=["due_at", "yellow_at", "escalate_at"])
    refresh_case_due(case)


def pause(*, case, now: datetime | None = None) -> int:
    """Suspend the clock of every open step (a suspension the dispatcher granted): while paused, the case has no
    running deadline, so it shows no light and is never listed overdue."""
    count = case.deadlines.filter(closed_at__isnull=True, paused_since__isnull=True).update(
        paused_since=now or timezone.now()
    )
    if count:
        refresh_case_due(case)
    return count


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
    refresh_case_due(case)
    return paused_total


def refresh_case_due(case, *, save: bool = True) -> None:
    """Keep the earliest running deadline (open, not paused) on the case row, so lists sort and filter by it with
    an index. With ``save=False`` only the object's fields are set: the caller saves the case row next."""
    from .models import Case

    first = (
        case.deadlines.filter(closed_at__isnull=True, paused_since__isnull=True)
        .order_by("due_at")
        .values_list("due_at", "yellow_at")
        .first()
    )
    due, yellow = first or (None, None)
    if save:
        Case.objects.filter(pk=case.pk).update(due_at=due, yellow_at=yellow)
    case.due_at, case.yellow_at = due, yellow


# --- the sweep ----------------------------------------------------------------------------------------------


class Units:
    """To whom a step's notices go, as units (grids.units): the work order's department, else the holding level
    (its dispatchers; the grid's verifiers for a verification), and the supervisors of the level above. A level's
    unit is the node's holders, else the nearest node above with someone; ``load`` resolves a batch's levels in
    a fixed number of queries, and a sweep keeps one for its whole run (grants do not change within a minute)."""

    def __init__(self) -> None:
        self._holders = units.Holders()

    @staticmethod
    def _holder_level(deadline) -> tuple[str, str]:
        path = deadline.region_path
        if deadline.step == "verify":
            return path, "verify_case"
        return path[: deadline.level * 4], "dispatch_case"

    @staticmethod
    def _supervisor_level(deadline) -> tuple[str, str]:
        return deadline.region_path[: max(1, deadline.level - 1) * 4], "supervise_case"

    def load(self, rows: list) -> None:
        """The levels a batch of due rows needs: holders (of case-level steps) and supervisors of each."""
        levels = {self._supervisor_level(d) for d in rows}
        levels |= {self._holder_level(d) for d in rows if not d.work_order_id}
        self._holders.fetch(levels)

    def holder(self, deadline) -> str | None:
        """The unit holding the step: the work order's department, else the holding level's."""
        if deadline.work_order_id:
            return units.department_key(deadline.department_id)
        return self._holders.unit(*self._holder_level(deadline))

    def supervisors(self, deadline) -> str | None:
        """The supervisors of the level above the holder (督办)."""
        return self._holders.unit(*self._supervisor_level(deadline))


def holders_of(case) -> list[str]:
    """The units holding the case now: the departments with live work orders, else the holding level's
    dispatchers."""
    from .workflow import WorkOrderState

    live = sorted(
        set(
            case.work_orders.filter(state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED]).values_list(
                "department_id", flat=True
            )
        )
    )
    if live:
        return [units.department_key(pk) for pk in live]
    found = units.holder_unit(case.holder_path, "dispatch_case")
    return [found] if found else []


def sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """One pass over what fell due. Safe to run twice at once, to kill mid-way, and on several workers."""

    now = now or timezone.now()
    done = {"reminded": 0, "urged": 0, "supervised": 0, "escalated": 0, "notices": 0}
    with started_at(now):
        return _sweep(now, batch, done)


_SWEPT = (
    *("case", "work_order", "step", "level"),
    *("yellow_at", "due_at", "escalate_at", "reminded_at", "urged_at", "escalated_at"),
)


def _sweep(now: datetime, batch: int, done: dict[str, int]) -> dict[str, int]:
    """Batches of due rows, each in its own transaction: lock the rows (skipping those another sweep holds),
    act on each, write the batch's notices with one insert, mark the rows, commit."""
    from notifications.services import notify_batch

    from .models import StepDeadline

    addressed = Units()
    while True:
        with transaction.atomic():
            rows = list(
                StepDeadline.objects.select_for_update(skip_locked=True, of=("self",))
                # What the notices and markers need, without a model object per case, region and work order; an
                # escalation reads its case anew.
                .only(*_SWEPT)
                .annotate(
                    case_number=F("case__number"),
                    case_title=F("case__title"),
                    region_path=F("case__region__path"),
                    department_id=F("work_order__department_id"),
                )
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
            addressed.load(rows)
            notices: list = []
            marks: dict[tuple, list[int]] = {}
            escalate = []
            for d in rows:
                fields = _plan(d, now, addressed, notices, done)
                if d.work_order_id is None and d.escalated_at is None and d.escalate_at <= now:
                    fields = (*fields, "escalated_at")
                    escalate.append(d)
                if fields:
                    marks.setdefault(fields, []).append(d.pk)
            done["notices"] += notify_batch(notices)
            for fields, pks in marks.items():
                StepDeadline.objects.filter(pk__in=pks).update(**dict.fromkeys(fields, now))
            for d in escalate:
                if _escalate(d):
                    done["escalated"] += 1
        if len(rows) < batch:
            return done


# The steps' names (the msgids of models.STEP_LABELS) and the titles of the sweep's notices, translated into each
# recipient's language when written.
STEP_NAMES = {code: gettext_noop(code) for code in ("accept", "dispatch", "sign", "complete", "verify")} | {
    "evaluate": gettext_noop("call back")
}
TITLES = {
    "reminder": gettext_noop("Due soon: %(number)s"),
    "urge": gettext_noop("Overdue, please act now: %(number)s"),
    "supervision": gettext_noop("Overdue, to supervise: %(number)s"),
}


def _plan(d, now: datetime, addressed: Units, notices: list, done: dict[str, int]) -> tuple[str, ...]:
    """The notices one due row calls for (appended to ``notices``: one per unit, whatever its size) and the markers
    to set on it."""
    from notifications.services import Notice, in_languages

    from .models import case_url

    number, title, link = d.case_number, d.case_title, case_url(d.case_id)
    step = in_languages(STEP_NAMES.get(d.step, d.step))

    def tell(unit: str | None, kind: str) -> None:
        if unit is None:  # nobody holds the level, here or above
            return
        notices.append(
            Notice(
                None,
                kind,
                in_languages(TITLES[kind], number=number),
                {code: f"{title} · {name}" for code, name in step.items()},
                link=link,
                subject=f"{number} {title}",
                dedup_key=f"{kind}:{d.pk}:{unit}",
                unit=unit,
            )
        )

    fields: list[str] = []
    if d.reminded_at is None and d.yellow_at <= now < d.due_at:
        tell(addressed.holder(d), "reminder")
        fields.append("reminded_at")
        done["reminded"] += 1
    if d.due_at <= now:
        if d.reminded_at is None:
            fields.append("reminded_at")  # too late for a reminder: the 催办 says it all
        if d.urged_at is None:
            tell(addressed.holder(d), "urge")
            tell(addressed.supervisors(d), "supervision")
            fields += ["urged_at", "supervised_at"]
            done["urged"] += 1
            done["supervised"] += 1
    return tuple(fields)


def _escalate(d) -> bool:
    """Escalate the case through the workflow service, as the system (an event on the timeline)."""
    from grids.demo import system_actor

    from . import services
    from .models import Case
    from .workflow import TRANSITIONS

    # Read anew, whole: the sweep loaded only a few fields, and an earlier row of the batch may have escalated it.
    case = Case.objects.select_related("category", "region").get(pk=d.case_id)
    if case.state not in TRANSITIONS["escalate"].sources or case.level <= 1 or case.level != d.level:
        return False
    with translation.override(settings.LANGUAGE_CODE):  # the timeline is read by everyone: the site's language
        comment = translation.gettext("Not handled in time: escalated automatically (%(step)s overdue).") % {
            "step": translation.gettext(STEP_NAMES.get(d.step, d.step))
        }
    services.case_transition(case=case, action="escalate", actor=system_actor(), comment=comment, by_deadline=True)
    return True
