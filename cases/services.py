"""Every write of the cases app. ``case_transition`` is the only function that changes ``Case.state``
(``work_order_step`` drives it through the same rules when every department is done).

Each function runs in one transaction, locks the case row first (so two people acting on one case are
serialised: exactly one wins), checks the actor through grids.access, writes an immutable CaseEvent, and
raises ``StaleCase`` (HTTP 409), ``TransitionNotAllowed``, ``PermissionDenied`` or ``ValidationError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from govgrid import versioned_cache
from govgrid.errors import Conflict
from grids import access, units
from grids.codes import Level
from grids.geo import locate
from grids.models import Department, Region, User

from . import attachments, deadlines, rollup, selectors
from .events import publish_case_events
from .models import Case, CaseEvent, CaseSequence, Category, Source, Urgency, WorkOrder
from .workflow import (
    TRANSITIONS,
    WORK_ORDER_STEPS,
    At,
    RefusalReason,
    Rehandle,
    Satisfaction,
    State,
    WorkOrderState,
    after_work_orders,
    condition_holds,
    step_applies,
)


class StaleCase(Conflict):
    """The case changed since the person loaded it (HTTP 409)."""

    def __init__(self, case: Case):
        self.case = case
        super().__init__(
            _("Case %(number)s changed in the meantime; reload it and try again.") % {"number": case.number},
            current=current_of(case),
        )


class TransitionNotAllowed(Conflict):
    """The transition does not apply to the case in its current state (HTTP 409)."""


def current_of(case: Case) -> dict[str, Any]:
    """What a 409 tells the caller of the case as it is now."""
    return {"id": case.pk, "number": case.number, "state": case.state, "level": case.level, "version": case.version}


def about(case: Case) -> dict[str, str]:
    """What a notice about ``case`` links to and names (notifications knows no case code)."""
    return {"link": case.url, "subject": f"{case.number} {case.title}"}


def can_fire(user: Any, case: Case, action: str) -> bool:
    """May ``user`` fire ``action`` on ``case`` now (state and permission; inputs not checked)?"""
    t = TRANSITIONS.get(action)
    return bool(
        t
        and case.state in t.sources
        and (not t.condition or _condition(t, case))
        and access.user_can(user, t.perm, case.node_at(t.at))
    )


def _condition(t, case: Case) -> bool:
    return condition_holds(t, satisfaction=case.satisfaction, awaiting_rehandle=case.awaiting_rehandle)


def _next_number(region: Region) -> str:
    """District abbreviation (or code) + date + daily sequence, e.g. QS-20261121-0042.

    One atomic upsert in the database, so concurrent reports never share a number (gaps are tolerated).
    """
    district_path = region.path[: Level.DISTRICT * Region.steplen]
    district = Region.objects.only("abbr", "code").get(path=district_path) if region.depth >= Level.DISTRICT else region
    prefix = district.abbr or district.code
    day = timezone.localdate()
    table = CaseSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (prefix, day, last) VALUES (%s, %s, 1) "  # noqa: S608 - table name is ours
            f"ON CONFLICT (prefix, day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [prefix, day],
        )
        (seq,) = cursor.fetchone()
    return f"{prefix}-{day:%Y%m%d}-{seq:04d}"


def _event(
    case: Case, actor: Any, transition: str, from_state: str, comment: str = "", work_order=None, **data
) -> CaseEvent:
    event = CaseEvent(
        case=case,
        work_order=work_order,
        actor=actor if getattr(actor, "pk", None) else None,
        transition=transition,
        from_state=from_state,
        to_state=case.state,
        comment=comment,
        data=data,
        at=timezone.now(),
    )
    # Saved with its additions to the daily roll-up and the live open counts: one statement (cases/rollup.py).
    rollup.save_event(event, case=case, work_order=work_order)
    return event


def case_note(*, case: Case, actor: Any, comment: str, link: str = "", **data: Any) -> CaseEvent:
    """A note on the case's timeline from an app above cases (a dispute opened, mediated, handed over): one
    CaseEvent, state unchanged. The caller checks its own permission; cases knows nothing of what the note is
    about beyond its words and a link."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": _("A note needs its words.")})
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("region", "category").get(pk=case.pk)
        return _event(case, actor, "note", case.state, comment, **({"link": link} if link else {}), **data)


def case_report(
    *,
    reporter: User | None,
    category: Category,
    title: str,
    region: Region | None = None,
    description: str = "",
    urgency: str | None = None,
    source: str = Source.PATROL,
    address: str = "",
    lat: float | None = None,
    lng: float | None = None,
    reporter_contact: str = "",
    parties: str = "",
    files: Sequence = (),
    origin: dict[str, Any] | None = None,
    idempotency_key: uuid.UUID | str | None = None,
    allowed_by: str = "cases.report_case",
    through: dict[str, str] | None = None,
) -> Case:
    """Report a case in a grid (上报). A point locates the grid when none is given.

    Without a ``reporter`` the report comes from outside (Open311): ``origin`` names the client that the caller
    authenticated (its api_key), and the timeline records it.

    With an ``idempotency_key`` (made on the phone for each draft) a second report with the same key makes no new
    case: it returns the first one (``case.replayed`` is True), so a retry or a queued draft sent twice is one case.

    ``allowed_by`` and ``through`` serve one caller only: the risk warnings' "turn into a case"
    (``mediation.risk.services.warning_to_case``), which files the case as the outcome of a warning, reported by
    the supervisor or dispatcher who reviewed it and who need not hold the general right to report cases.
    ``allowed_by`` names the permission that the caller checked the reporter holds on the grid, in place of
    ``cases.report_case`` (it is checked here again, on the grid); ``through`` (``{"label": …, "url": …}``) names
    the record the case came from, and the timeline shows it ("From …").
    """
    key = _idempotency_key(idempotency_key)
    if key is not None:
        first = _replayed(key, reporter)
        if first is not None:
            return first
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = [_("A title is required.")]
    if (lat is None) != (lng is None):
        errors["lat"] = [_("Give both latitude and longitude, or neither.")]
    if region is None and lat is not None and lng is not None:
        region = locate(lat, lng)
        if region is None:
            errors["lat"] = [_("No active grid contains this point; choose the grid.")]
    if region is None and "lat" not in errors:
        errors["region"] = [_("Choose the grid (or give a location).")]
    if region is not None and (region.depth != Level.GRID or not region.is_active):
        errors["region"] = [_("A case is reported in an active grid.")]
    if category.parent_id is None or not category.is_active:
        errors["category"] = [_("Choose an active category (not a group).")]
    if urgency is not None and urgency not in Urgency.values:
        errors["urgency"] = [_("Unknown urgency.")]
    if source not in Source.values:
        errors["source"] = [_("Unknown source.")]
    if errors:
        raise ValidationError(errors)
    if reporter is None and not origin:
        raise PermissionDenied(_("A report needs a reporter or an authenticated client."))
    if reporter is not None and not access.user_can(reporter, allowed_by or "cases.report_case", region):
        raise PermissionDenied(_("You may not report cases in %(grid)s.") % {"grid": region.name})
    checked = attachments.check_files(files)
    try:
        with attachments.removed_on_error(), transaction.atomic():
            case = Case.objects.create(
                number=_next_number(region),
                title=title,
                description=description.strip(),
                category=category,
                urgency=urgency or category.default_urgency,
                source=source,
                region=region,
                address=address.strip(),
                lat=lat,
                lng=lng,
                reporter=reporter,
                reporter_contact=reporter_contact.strip(),
                parties=parties.strip(),
                state=State.REPORTED,
                level=Level.COMMUNITY,
                idempotency_key=key,
            )
            extra = {"origin": origin} if origin else {}
            if through:
                extra["through"] = {"label": str(through.get("label", ""))[:200], "url": str(through.get("url", ""))}
            event = _event(case, reporter, "report", "", description[:500], **extra)
            attachments.save_attachments(case=case, event=event, checked=checked, actor=reporter)
            publish_case_events(case, event, "")
            return case
    except IntegrityError:
        # Two sends of one draft at once: the unique key let one through; the other answers with its case.
        first = _replayed(key, reporter) if key is not None else None
        if first is None:
            raise
        return first


def _idempotency_key(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValidationError({"idempotency_key": _("Not a valid draft key.")}) from None


def _replayed(key: uuid.UUID, reporter: User) -> Case | None:
    """The case an earlier send of the same draft made (someone else's key is refused, not revealed)."""
    first = Case.objects.filter(idempotency_key=key).first()
    if first is None:
        return None
    if first.reporter_id != reporter.pk:
        raise ValidationError({"idempotency_key": _("This draft key is already used.")})
    first.replayed = True
    return first


def _lock(case: Case, expected_version: int | None) -> Case:
    locked = Case.objects.select_for_update(of=("self",)).select_related("region", "category").get(pk=case.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleCase(locked)
    return locked


def _departments(value: Any) -> list[Department]:
    items = list(value or [])
    if not items:
        raise ValidationError({"departments": _("Choose at least the lead department.")})
    if len({d.pk for d in items}) != len(items):
        raise ValidationError({"departments": _("A department can only be named once.")})
    inactive = [d.name for d in items if not d.is_active]
    if inactive:
        raise ValidationError({"departments": _("Retired departments: %(names)s") % {"names": ", ".join(inactive)}})
    return items


def _create_work_orders(
    case: Case,
    departments: list[Department],
    note: str,
    *,
    round_: int,
    lead_first: bool,
    live: set[int],
    due_at: datetime | None = None,
) -> list[WorkOrder]:
    """The work orders of a dispatch, one insert; ``live`` are the departments already working on the case."""
    clash = [d.name for d in departments if d.pk in live]
    if clash:
        raise ValidationError({"departments": _("Already working on it: %(names)s") % {"names": ", ".join(clash)}})
    # The caller saves the case (locked) in the same transaction: its departments follow its work orders.
    case.departments = sorted({*(case.departments or []), *(d.pk for d in departments)})
    return WorkOrder.objects.bulk_create(
        [
            WorkOrder(case=case, department=d, is_lead=lead_first and i == 0, round=round_, note=note, due_at=due_at)
            for i, d in enumerate(departments)
        ]
    )


def case_transition(
    *,
    case: Case,
    action: str,
    actor: User,
    comment: str = "",
    expected_version: int | None = None,
    files: Sequence = (),
    **data: Any,
) -> Case:
    """Fire a workflow transition (see cases.workflow.TRANSITIONS) on ``case``."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise ValidationError(_("Unknown action %(action)s.") % {"action": action})
    comment = (comment or "").strip()
    checked = attachments.check_files(files)
    with attachments.removed_on_error(), transaction.atomic():
        case = _lock(case, expected_version)
        if case.state not in t.sources:
            raise TransitionNotAllowed(
                _("“%(action)s” is not possible while the case is %(state)s.")
                % {"action": t.label, "state": State(case.state).label}
            )
        if t.condition and not _condition(t, case):
            raise TransitionNotAllowed(
                _("The resident's evaluation of this round is already recorded.")
                if t.condition == "not_evaluated"
                else _("No unsatisfied call-back waits for a decision on this case.")
            )
        if not access.user_can(actor, t.perm, case.node_at(t.at)):
            raise PermissionDenied(_("You may not “%(action)s” this case.") % {"action": t.label})
        if "comment" in t.requires and not comment:
            raise ValidationError({"comment": _("Say why (a comment is required).")})
        from_state = case.state
        extra: dict[str, Any] = {}
        work_order_ids: list[int] = []
        new_orders: list[WorkOrder] = []
        dispatched_to: list[int] = []

        if action == "settle":
            case.state = State.PENDING_VERIFICATION
        elif action == "call_street":
            case.state, case.level = State.CALLED, Level.STREET
        elif action == "accept":
            case.state = State.ACCEPTED
        elif action == "return":
            case.state, case.level = State.REPORTED, Level.COMMUNITY
        elif action in ("dispatch", "redispatch"):
            departments = _departments(data.get("departments"))
            existing = list(case.work_orders.values_list("round", "state", "department_id"))
            live = {d for _r, state, d in existing if state in (WorkOrderState.ASSIGNED, WorkOrderState.SIGNED)}
            round_ = max((r for r, _s, _d in existing), default=0) + (action == "dispatch")
            if action == "redispatch":
                round_ = max(round_, 1)
                refused = case.work_orders.filter(state=WorkOrderState.REFUSED)
                extra["replaced"] = list(refused.values_list("department__name", flat=True))
                refused.update(state=WorkOrderState.CANCELLED)
            due_at = data.get("due_at")
            if due_at is not None and due_at <= timezone.now():
                raise ValidationError({"due_at": _("The deadline must be in the future.")})
            orders = _create_work_orders(
                case, departments, comment, round_=round_, lead_first=action == "dispatch", live=live, due_at=due_at
            )
            work_order_ids = [o.pk for o in orders]
            new_orders = orders
            dispatched_to = [d.pk for d in departments]
            extra["departments"] = [d.name for d in departments]
            if action == "dispatch":
                case.state = State.DISPATCHED
            else:
                states = list(case.work_orders.exclude(state=WorkOrderState.CANCELLED).values_list("state", flat=True))
                case.state = after_work_orders(states) or State.DISPATCHED
        elif action == "verify_ok":
            case.state = State.VERIFIED
        elif action == "verify_failed":
            # The rework is the current round's: orders of a round before a 重办 stay done on the record (and the
            # same department may hold a live order of the new round).
            latest = case.work_orders.order_by("-round").values("round")[:1]
            done = case.work_orders.filter(state=WorkOrderState.DONE, round=Subquery(latest))
            chosen = data.get("work_orders")
            if chosen:
                done = done.filter(pk__in=[w.pk for w in chosen])
            redo = list(done)
            if redo:
                WorkOrder.objects.filter(pk__in=[w.pk for w in redo]).update(state=WorkOrderState.SIGNED, done_at=None)
                extra["rework"] = [w.department.name for w in redo]
                case.state = State.IN_PROGRESS
            else:  # settled locally: back to the community
                case.state, case.level = State.REPORTED, Level.COMMUNITY
            case.rework_count += 1
        elif action == "close":
            # A new closing round: its call-back is still to come (one evaluation per round).
            case.state, case.closed_at, case.satisfaction = State.CLOSED, timezone.now(), ""
        elif action == "escalate":
            if case.level <= Level.CITY:
                raise TransitionNotAllowed(_("The city holds this case: there is no level above."))
            case.state, case.level = State.ESCALATED, case.level - 1
            extra["level"] = case.level
        elif action == "cancel":
            case.state = State.CANCELLED
            case.work_orders.filter(state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED]).update(
                state=WorkOrderState.CANCELLED
            )
        elif action == "mark_duplicate":
            original = data.get("duplicate_of")
            if not isinstance(original, Case) or original.pk == case.pk:
                raise ValidationError({"duplicate_of": _("Name the case this one repeats.")})
            if not access.user_can(actor, "cases.view_case", original):
                raise ValidationError({"duplicate_of": _("No such case that you may see.")})
            if original.state == State.CANCELLED:
                raise ValidationError(
                    {"duplicate_of": _("%(number)s is cancelled itself.") % {"number": original.number}}
                )
            case.state, case.duplicate_of = State.CANCELLED, original
            case.work_orders.filter(state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED]).update(
                state=WorkOrderState.CANCELLED
            )
            extra["duplicate_of"] = original.number
        elif action == "reopen":
            case.state, case.level, case.closed_at = State.REPORTED, Level.COMMUNITY, None
            case.awaiting_rehandle = False
        elif action == "evaluate":
            satisfaction = data.get("satisfaction")
            if satisfaction not in Satisfaction.values:
                raise ValidationError({"satisfaction": _("Choose how satisfied the resident is.")})
            case.satisfaction = satisfaction
            extra["satisfaction"] = satisfaction
            if satisfaction == Satisfaction.UNSATISFIED:
                case.awaiting_rehandle = True
                extra["rehandle"] = rehandle_mode()
        elif action == "rehandle":
            extra.update(_rehandle(case))
        elif action == "keep_closed":
            case.awaiting_rehandle = False
        elif action == "report_again":
            extra.update(_reported_again(case, actor, data))
        elif action == "assign":
            assignee = data.get("assignee")
            if not isinstance(assignee, User) or not access.user_can(assignee, "cases.view_case", case):
                raise ValidationError({"assignee": _("Choose a person who may see this case.")})
            case.assignee = assignee
            extra["assignee"] = assignee.username

        elif action == "supervise":
            extra["notified"] = _notify_holders(case, actor=actor, message=comment)
        elif action == "suspend":
            if not deadlines.pause(case=case):
                raise TransitionNotAllowed(_("No clock is running on this case, or it is already suspended."))
        elif action == "resume":
            paused = deadlines.resume(case=case)
            if not paused:
                raise TransitionNotAllowed(_("The case is not suspended."))
            extra["paused_seconds"] = round(paused)

        case.version += 1
        # The clocks first: they set the case's first deadline, which the one save below writes with the rest.
        _clocks_after_transition(case, action, from_state, new_orders)
        case.save()
        event = _event(case, actor, action, from_state, comment, **extra, work_orders=work_order_ids)
        attachments.save_attachments(case=case, event=event, checked=checked, actor=actor)
        publish_case_events(case, event, from_state)
        _notify_new_holders(case, action=action, actor=actor, department_ids=dispatched_to)
        if action == "evaluate" and case.awaiting_rehandle and rehandle_mode() == Rehandle.AUTO:
            # 重办 at once: a second event in the same transaction, by the same person, marked automatic.
            from_state = case.state
            extra = _rehandle(case)
            case.version += 1
            _clocks_after_transition(case, "rehandle", from_state, [])
            case.save()
            event = _event(case, actor, "rehandle", from_state, comment, automatic=True, **extra)
            publish_case_events(case, event, from_state)
            _notify_new_holders(case, action="rehandle", actor=actor, department_ids=[])
        return case


def rehandle_mode() -> str:
    mode = getattr(settings, "GOVGRID_REHANDLE_ON_UNSATISFIED", Rehandle.AUTO)
    return mode if mode in Rehandle.values else Rehandle.AUTO


def _rehandle(case: Case) -> dict[str, Any]:
    """重办: back to the level that dispatched, accepted and waiting for a new round of work orders (the done
    round stays on record); a case the community settled goes back to community triage."""
    case.awaiting_rehandle, case.closed_at = False, None
    case.rehandle_count += 1
    if case.work_orders.exists() and case.level <= Level.STREET:
        case.state = State.ACCEPTED
    else:
        case.state, case.level = State.REPORTED, Level.COMMUNITY
    return {"level": case.level, "round": case.rehandle_count}


def _reported_again(case: Case, actor: Any, data: dict[str, Any]) -> dict[str, Any]:
    """再次上报: the new report's place and reporter go into the event; its photos are saved with it."""
    lat, lng = data.get("lat"), data.get("lng")
    if (lat is None) != (lng is None):
        raise ValidationError({"lat": _("Give both latitude and longitude, or neither.")})
    case.reported_again_count += 1
    extra: dict[str, Any] = {"reporter": getattr(actor, "username", "")}
    if lat is not None:
        extra.update(lat=float(lat), lng=float(lng))
    for key in ("title", "address", "reporter_contact"):
        value = (data.get(key) or "").strip()
        if value:
            extra[key] = value[:200]
    return extra


def _tell_about_unstaffed(case: Case, department_ids: list[int], actor: Any = None) -> int:
    """A work order sent to a department with no active member would wait forever: tell the admins of the
    department's region (``grids.manage_department`` there or at the nearest node above), as a unit."""
    from notifications.services import Notice, in_languages, notify_many

    title = gettext_noop("Nobody staffs %(department)s: work order %(number)s waits")
    departments = list(Department.objects.filter(pk__in=department_ids).select_related("region"))
    admins = units.Holders()
    admins.fetch({(d.region.path, "manage_department") for d in departments})
    notices = [
        Notice(
            None,
            "generic",
            in_languages(title, department=d.name, number=case.number),
            case.title,
            **about(case),
            unit=unit,
            actor=actor,
        )
        for d in departments
        if (unit := admins.unit(d.region.path, "manage_department"))
    ]
    return len(notify_many(notices)) if notices else 0


def _notify_holders(case: Case, *, actor: Any, message: str) -> int:
    """督办: tell whoever holds the case now (its open work orders' departments, else the holder's dispatchers),
    one notice per unit."""
    from notifications.services import Notice, in_languages, notify_many

    from .deadlines import holders_of

    title = in_languages(gettext_noop("Supervision: %(number)s"), number=case.number)
    notices = [
        Notice(None, "supervision", title, message, **about(case), unit=unit, actor=actor) for unit in holders_of(case)
    ]
    return len(notify_many(notices))


def _notify_new_holders(case: Case, *, action: str, actor: Any, department_ids: list[int]) -> int:
    """Tell the people work has just come to: the departments a case is dispatched to (派单), the dispatchers of
    the level a case is escalated to, the person it is assigned to (not the actor). Written with the change, sent
    on commit; a department or a level is told with one notice to the unit (grids.units), which each member reads
    in his language, a person in his."""
    from notifications.services import Notice, in_language_of, in_languages, notify_many

    told: list[tuple[str | None, str, str]] = []  # (unit, kind, title)
    if action in ("dispatch", "redispatch") and department_ids:
        told += [
            (units.department_key(pk), "assigned", gettext_noop("New work order: %(number)s"))
            for pk in sorted(set(department_ids))
        ]
        unstaffed = set(department_ids) - units.staffed(department_ids)
        if unstaffed:  # no one would ever see the work order: tell the admins (queries only when it happens)
            _tell_about_unstaffed(case, sorted(unstaffed), actor)
    elif action == "escalate":
        told.append(
            (
                units.holder_unit(case.holder_path, "dispatch_case"),
                "escalated",
                gettext_noop("Escalated to you: %(number)s"),
            )
        )
    elif action == "assign" and case.assignee_id:
        if case.assignee_id == getattr(actor, "pk", None):
            return 0
        notice = Notice(
            case.assignee,
            "assigned",
            in_language_of(case.assignee, gettext_noop("Assigned to you: %(number)s"), number=case.number),
            case.title,
            **about(case),
        )
        return len(notify_many([notice]))
    elif action == "rehandle":
        where = case.holder_path if case.level <= Level.STREET else case.node_at(At.COMMUNITY).region_path
        perm = "dispatch_case" if case.level <= Level.STREET else "triage_case"
        told.append(
            (units.holder_unit(where, perm), "assigned", gettext_noop("Re-handle (unsatisfied call-back): %(number)s"))
        )
    elif action == "evaluate" and case.awaiting_rehandle and rehandle_mode() == Rehandle.QUEUE:
        told.append(
            (
                units.holder_unit(case.holder_path, "dispatch_case"),
                "assigned",
                gettext_noop("Unsatisfied call-back, decide on re-handling: %(number)s"),
            )
        )
    notices = [
        Notice(
            None,
            kind,
            in_languages(title, number=case.number),
            case.title,
            **about(case),
            unit=unit,
            actor=actor,
        )
        for unit, kind, title in told
        if unit is not None
    ]
    return len(notify_many(notices))


def _clocks_after_transition(case: Case, action: str, from_state: str, new_orders: list[WorkOrder]) -> None:
    """Stop the clocks of the steps a transition finished and start those it began (cases.deadlines); the case's
    first running deadline is set on the object, for the caller's save of the case row."""
    if action in ("assign", "suspend", "resume", "supervise", "report_again", "keep_closed"):
        return
    if action == "rehandle":  # every clock stops; a case back at the street waits for its new dispatch
        closed, opened = None, ([("dispatch", None, None)] if case.state == State.ACCEPTED else [])
    elif action == "evaluate":
        closed, opened = ("evaluate",), []
    elif action in ("return", "cancel", "mark_duplicate", "reopen"):
        closed, opened = None, []  # every clock
    elif action == "escalate":
        closed, opened = ("accept", "dispatch", "verify"), [("accept", None, None)]
    else:
        closed = {
            "accept": ("accept",),
            "dispatch": ("dispatch",),
            "verify_ok": ("verify",),
            "verify_failed": ("verify",),
        }.get(action, ())
        opened = [
            (step, None, None)
            for step in {
                "call_street": ("accept",),
                "accept": ("dispatch",),
                "settle": ("verify",),
                "close": ("evaluate",),
            }.get(action, ())
        ]
    moved = 0
    if closed is None:
        moved += deadlines.close_steps(case=case, refresh=False)
    elif closed:
        moved += deadlines.close_steps(case=case, steps=closed, refresh=False)
    if action == "redispatch":
        cancelled = case.work_orders.filter(state=WorkOrderState.CANCELLED).values_list("pk", flat=True)
        moved += case.deadlines.filter(closed_at__isnull=True, work_order_id__in=cancelled).update(
            closed_at=timezone.now()
        )
    if action in ("dispatch", "redispatch"):
        opened += [("sign", order, None) for order in new_orders]
    if action == "verify_failed":
        opened += [("complete", order, None) for order in case.work_orders.filter(state=WorkOrderState.SIGNED)]
    if deadlines.open_steps(case=case, steps=opened, refresh=False) or moved:
        deadlines.refresh_case_due(case, save=False)


def _clocks_after_step(case: Case, order: WorkOrder, action: str, case_from: str) -> None:
    if action == "sign":
        deadlines.close_steps(case=case, steps=("sign",), work_order=order)
        deadlines.open_step(case=case, step="complete", work_order=order, due_at=order.due_at)
    elif action == "refuse" or action == "complete":
        deadlines.close_steps(case=case, work_order=order)
    elif action == "grant_extension":
        deadlines.move_due(case=case, work_order=order, due_at=order.due_at)
    if case.state == State.PENDING_VERIFICATION and case_from != State.PENDING_VERIFICATION:
        deadlines.open_step(case=case, step="verify")


def _is_member(user: Any, department: Department) -> bool:
    return bool(user.is_active and (user.is_superuser or department.members.filter(pk=user.pk).exists()))


def work_order_step(
    *,
    work_order: WorkOrder,
    action: str,
    actor: User,
    comment: str = "",
    expected_version: int | None = None,
    files: Sequence = (),
    refusal_reason: str = "",
    result: str = "",
    until: datetime | None = None,
    assignee: User | None = None,
) -> WorkOrder:
    """A department's step on its work order (sign, refuse, complete, ask for more time, assign inside),
    or the dispatcher's answer to an extension request. Moves the case on when every department is done."""
    comment = (comment or "").strip()
    checked = attachments.check_files(files)
    with attachments.removed_on_error(), transaction.atomic():
        case = _lock(work_order.case, expected_version)
        order = WorkOrder.objects.select_for_update().select_related("department").get(pk=work_order.pk, case=case)
        step = WORK_ORDER_STEPS.get(action)
        if step is None:
            raise ValidationError(_("Unknown action %(action)s.") % {"action": action})
        if step.by == "dispatcher":
            if not access.user_can(actor, "cases.dispatch_case", case.node_at(At.HOLDER)):
                raise PermissionDenied(_("Only the dispatcher answers extension requests."))
        elif not _is_member(actor, order.department):
            raise PermissionDenied(
                _("Only members of %(dept)s act on this work order.") % {"dept": order.department.name}
            )
        if case.state not in (State.DISPATCHED, State.IN_PROGRESS):
            raise TransitionNotAllowed(
                _("The case is %(state)s: its work orders are closed.") % {"state": State(case.state).label}
            )
        if not step_applies(step, order.state, order.extension_state):
            raise TransitionNotAllowed(
                _("The work order is %(state)s: “%(action)s” is not possible.")
                % {"state": WorkOrderState(order.state).label, "action": step.label}
            )
        from_state, now, extra = order.state, timezone.now(), {}
        if action == "sign":
            order.state, order.signed_at = WorkOrderState.SIGNED, now
            order.assignee = order.assignee or actor
        elif action == "refuse":
            if refusal_reason not in RefusalReason.values:
                raise ValidationError({"refusal_reason": _("Choose a reason for refusing.")})
            if refusal_reason == RefusalReason.OTHER and not comment:
                raise ValidationError({"comment": _("Say why (a comment is required).")})
            order.state, order.refusal_reason, order.refusal_note = WorkOrderState.REFUSED, refusal_reason, comment
            extra["reason"] = refusal_reason
        elif action == "complete":
            if not (result or "").strip():
                raise ValidationError({"result": _("Describe what was done.")})
            order.state, order.result, order.done_at = WorkOrderState.DONE, result.strip(), now
        elif action == "request_extension":
            if until is None or until <= now:
                raise ValidationError({"until": _("Give a new due time in the future.")})
            if not comment:
                raise ValidationError({"comment": _("Say why (a comment is required).")})
            order.extension_until, order.extension_reason, order.extension_state = until, comment, "pending"
            extra["until"] = until.isoformat()
        elif action in ("grant_extension", "deny_extension"):
            order.extension_state = "granted" if action == "grant_extension" else "denied"
            if action == "grant_extension":
                order.due_at = order.extension_until
        elif action == "assign":
            if assignee is None or not _is_member(assignee, order.department):
                raise ValidationError({"assignee": _("Choose a member of %(dept)s.") % {"dept": order.department.name}})
            order.assignee = assignee
            extra["assignee"] = assignee.username
            if assignee.pk != actor.pk:
                from notifications.services import in_language_of, notify

                notify(
                    recipient=assignee,
                    kind="assigned",
                    title=in_language_of(assignee, gettext_noop("Assigned to you: %(number)s"), number=case.number),
                    body=case.title,
                    **about(case),
                )
        order.save()
        case_from = case.state
        states = list(case.work_orders.exclude(state=WorkOrderState.CANCELLED).values_list("state", flat=True))
        target = after_work_orders(states)
        if target and target != case.state:
            case.state = target
        case.version += 1
        case.save()
        _clocks_after_step(case, order, action, case_from)
        event = _event(
            case,
            actor,
            f"wo_{action}",
            case_from,
            comment,
            work_order=order,
            department=order.department.name,
            wo_from=from_state,
            wo_to=order.state,
            **extra,
        )
        attachments.save_attachments(case=case, event=event, checked=checked, actor=actor)
        publish_case_events(case, event, case_from)
        return order


def suggest_departments(*, case: Case) -> list[Department]:
    """Lead department suggested for a dispatch: the last round's lead when the case comes back (重办), else the
    category's lead kind serving the holder's region."""
    last = (
        case.work_orders.filter(is_lead=True, department__is_active=True)
        .select_related("department")
        .order_by("-round", "-id")
        .first()
    )
    if last is not None:
        return [last.department]
    kinds = case.category.lead_department_kinds or {}
    paths = [case.region.path[: i * Region.steplen] for i in range(1, case.region.depth + 1)]
    serving = Department.objects.filter(region__path__in=paths, is_active=True).select_related("region")
    for level in (str(case.level), str(Level.STREET), str(Level.DISTRICT)):
        kind = kinds.get(level)
        if kind:
            match = [d for d in serving if d.kind == kind]
            if match:
                return sorted(match, key=lambda d: -d.region.depth)[:1]
    return []


# --- categories and response templates ----------------------------------------------------------------------


def may_edit_categories(actor: Any) -> bool:
    """The taxonomy is city-wide: edited by whoever manages access at a city (as roles are)."""
    from grids.services import _may_edit_roles

    return _may_edit_roles(actor)


def _clean_time_limits(value: Any) -> dict:
    from .models import STEPS

    if not isinstance(value, dict):
        raise ValidationError({"time_limits": _("Time limits must be hours per urgency and step.")})
    clean: dict[str, dict[str, float]] = {}
    for urgency in Urgency.values:
        steps = value.get(urgency) or {}
        clean[urgency] = {}
        for step in STEPS:
            try:
                hours = float(steps.get(step))
            except (TypeError, ValueError):
                raise ValidationError(
                    {
                        "time_limits": _("Give the hours for “%(step)s” when %(urgency)s.")
                        % {"step": step, "urgency": Urgency(urgency).label}
                    }
                ) from None
            if not 0 < hours <= 24 * 90:
                raise ValidationError({"time_limits": _("Hours must be between 0 and 2160.")})
            clean[urgency][step] = hours
    return clean


def category_save(
    *,
    actor: User,
    category: Category | None = None,
    code: str,
    name: str,
    parent: Category | None,
    default_urgency: str = Urgency.NORMAL,
    lead_department_kinds: dict | None = None,
    time_limits: dict | None = None,
    escalation_grace_hours: float = 8,
    is_active: bool = True,
    sort_order: int = 0,
) -> Category:
    """Create or edit a category (or a group, when ``parent`` is None). Two levels only."""
    from grids.services import audit

    if not may_edit_categories(actor):
        raise PermissionDenied(_("Only an administrator at city level edits categories."))
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("A name is required.")]
    if parent is not None and parent.parent_id is not None:
        errors["parent"] = [_("Categories have two levels: choose a group as the parent.")]
    if category is not None and parent is not None and category.children.exists():
        errors["parent"] = [_("This group has categories; it cannot go under another group.")]
    if Category.objects.filter(code=code).exclude(pk=getattr(category, "pk", None)).exists():
        errors["code"] = [_("A category with this code exists.")]
    if default_urgency not in Urgency.values:
        errors["default_urgency"] = [_("Unknown urgency.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if category is None:
            category = Category(code=code)
            old: dict = {}
        else:
            category = Category.objects.select_for_update().get(pk=category.pk)
            old = {"code": category.code, "name": category.name, "active": category.is_active}
        category.code, category.name, category.parent = code, name, parent
        category.default_urgency = default_urgency
        category.lead_department_kinds = {str(k): v for k, v in (lead_department_kinds or {}).items() if v}
        category.time_limits = _clean_time_limits(time_limits if time_limits is not None else category.time_limits)
        category.escalation_grace_hours = float(escalation_grace_hours)
        category.is_active, category.sort_order = is_active, sort_order
        category.save()
        versioned_cache.changed(selectors.CATEGORIES)
        audit(
            actor=actor,
            action="category.save",
            target=category,
            old=old,
            new={"code": code, "name": name, "active": is_active},
        )
        return category


def category_delete(*, actor: User, category: Category) -> None:
    """Delete an unused category; one in use (by cases or as a group) must be retired instead."""
    from grids.services import audit

    if not may_edit_categories(actor):
        raise PermissionDenied(_("Only an administrator at city level edits categories."))
    with transaction.atomic():
        if category.cases.exists() or category.children.exists():
            raise ValidationError(
                _("%(name)s is in use: retire it instead (clear “Active”).") % {"name": category.name}
            )
        audit(actor=actor, action="category.delete", target=category, code=category.code)
        category.templates.all().delete()
        category.delete()
        versioned_cache.changed(selectors.CATEGORIES)


def response_template_save(
    *, actor: User, template=None, category: Category | None, transition: str, text: str, is_active: bool = True
):
    from grids.services import audit

    from .models import ResponseTemplate

    if not may_edit_categories(actor):
        raise PermissionDenied(_("Only an administrator at city level edits response templates."))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the phrase.")})
    if transition not in TRANSITIONS and transition not in ("wo_refuse", "wo_complete", "wo_request_extension"):
        raise ValidationError({"transition": _("Unknown transition.")})
    with transaction.atomic():
        template = template or ResponseTemplate()
        template.category, template.transition, template.text, template.is_active = (
            category,
            transition,
            text,
            is_active,
        )
        template.save()
        audit(actor=actor, action="template.save", target=template, transition=transition)
        return template
