"""Reads of the cases app that people see, always scoped to the acting user through grids.access.

A user sees a case when they hold ``cases.view_case`` on its grid or above it, or when one of their departments
has a work order on it. Lists are paginated by keyset (``keyset_page``): no ``COUNT(*)`` over millions of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from govgrid import versioned_cache
from govgrid.pager import Page, keyset_page  # noqa: F401  (the lists' pager, re-exported)
from grids import access
from grids.codes import Level
from grids.models import Department, Region, User

from . import deadlines
from .models import STEP_LABELS, Attachment, Case, CaseEvent, Category, ResponseTemplate, WorkOrder
from .workflow import OPEN_STATES, STREET_STATES, State, WorkOrderState

VIEW = "cases.view_case"
INBOX_TABS = {
    "to_sign": WorkOrderState.ASSIGNED,
    "in_progress": WorkOrderState.SIGNED,
    "refused": WorkOrderState.REFUSED,
    "done": WorkOrderState.DONE,
}
_DEPARTMENTS_ATTR = "_govgrid_department_ids"


# --- sort orders -------------------------------------------------------------------------------------------

# The orders a list may be read in: sort code → (key, descending). "due" puts the earliest open deadline first and
# the rows without one last; ties on the key go by id, in the key's direction.
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "due": ("due_at", False),
}


def sort_order(sort: str, *, default: str = "newest", due_key: str = "due_at") -> tuple[str, bool]:
    """(key, descending) for ``keyset_page`` of a sort code; an unknown code gives the list's default."""
    key, descending = SORTS.get(sort) or SORTS[default]
    return (due_key if key == "due_at" else key), descending


# --- who the user is --------------------------------------------------------------------------------------


def department_ids(user: Any) -> frozenset[int]:
    """Ids of the user's departments, loaded once per request (cached on the user object)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, _DEPARTMENTS_ATTR, None)
    if cached is None:
        # Kept in the shared cache with the grants: a change of a department's members raises their version.
        cached = versioned_cache.get_or_build(
            access.GRANTS,
            f"departments:{user.pk}",
            lambda: frozenset(Department.objects.filter(members=user).values_list("pk", flat=True)),
        )
        setattr(user, _DEPARTMENTS_ATTR, cached)
    return cached


def navigation(user: Any) -> dict[str, bool]:
    """Which case pages the user has a use for (menu entries)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    can = lambda perm: access.user_can_anywhere(user, perm)  # noqa: E731
    return {
        "report": can("cases.report_case"),
        "cases": can(VIEW) or bool(department_ids(user)),
        "verify": can("cases.verify_case"),
        "triage": can("cases.triage_case"),
        "street": can("cases.dispatch_case"),
        "inbox": bool(department_ids(user)),
        "supervise": can("cases.supervise_case"),
        # the dashboard app's page: for those who dispatch or supervise somewhere
        "dashboard": can("cases.supervise_case") or can("cases.dispatch_case"),
        "callbacks": can("cases.evaluate_case"),
    }


def _holder(case: Case):
    return case.node_at("holder")


def may_see_contact(*, user: Any, case: Case) -> bool:
    """The reporter's contact is shown whole only to those who dispatch at the level holding the case."""
    return access.user_can(user, "cases.dispatch_case", _holder(case))


# --- cases ------------------------------------------------------------------------------------------------


def _rows() -> QuerySet[Case]:
    """Cases as lists show them: what a row prints, not the text, the boundary or the categories' settings."""
    return Case.objects.select_related("region", "category", "category__parent").defer(
        "description",
        "parties",
        "departments",
        "region__boundary",
        "category__time_limits",
        "category__lead_department_kinds",
        "category__parent__time_limits",
        "category__parent__lead_department_kinds",
    )


def _visible(user: Any, rows: QuerySet[Case]) -> QuerySet[Case]:
    """Cases in the user's regions, or with a work order of one of the user's departments.

    Both conditions stay on the case row (an id subquery and an EXISTS), so the database does not join every case
    to the region tree when they are combined.
    """
    regions = access.regions_with(user, VIEW)
    if regions is None:
        return rows
    condition = Q(region_id__in=regions.values("id"))
    departments = department_ids(user)
    if departments:
        condition |= _with_departments(departments)
    return rows.filter(condition)


def _with_departments(departments: frozenset[int]) -> Q:
    """Cases that have had a work order with one of ``departments``.

    On PostgreSQL a check of the case row's own list (``jsonb @>``), so a list ordered by report time stops after a
    page of rows whatever the department's history; elsewhere (the embedded SQLite) a subquery on the work orders.
    """
    if connection.vendor == "postgresql":
        condition = Q()
        for pk in sorted(departments):
            condition |= Q(departments__contains=[pk])
        return condition
    return Q(Exists(WorkOrder.objects.filter(case=OuterRef("pk"), department_id__in=departments)))


def apply_filters(rows: QuerySet[Case], filters: Mapping[str, Any] | None) -> QuerySet[Case]:
    """Filters of the lists: q (number or title), category (or group), grid (code prefix), urgency, state,
    older_than (days)."""
    f = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    if q := str(f.get("q", "")).strip():
        rows = rows.filter(Q(number=q.upper()) | Q(number__startswith=q.upper()) | Q(title__icontains=q))
    if category := f.get("category"):
        rows = rows.filter(Q(category=category) | Q(category__parent=category))
    if grid := str(f.get("grid", "")).strip():
        rows = rows.filter(region__code__startswith=grid)
    if urgency := f.get("urgency"):
        rows = rows.filter(urgency=urgency)
    if state := f.get("state"):
        rows = rows.filter(state__in=state) if isinstance(state, list | tuple | set) else rows.filter(state=state)
    if (days := f.get("older_than")) is not None:
        rows = rows.filter(created_at__lte=timezone.now() - timedelta(days=int(days)))
    if light := f.get("light"):
        now = timezone.now()
        rows = {
            "red": rows.filter(due_at__lte=now),
            "yellow": rows.filter(yellow_at__lte=now, due_at__gt=now),
            "green": rows.filter(due_at__gt=now, yellow_at__gt=now),
        }.get(light, rows)
    return rows


def case_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """Every case the user may see, filtered; one SQL query when evaluated."""
    return apply_filters(_visible(user, _rows()), filters)


def case_get(*, user: Any, pk: int) -> Case:
    """The case with its grid's boundary (for the map), or Http404 when the user may not see it."""
    rows = _visible(
        user,
        Case.objects.select_related("region", "category", "category__parent", "reporter", "assignee", "duplicate_of"),
    )
    case = rows.filter(pk=pk).first()
    if case is None:
        raise Http404("No such case.")
    return case


def case_by_number(*, user: Any, number: str) -> Case | None:
    number = (number or "").strip().upper()
    return case_list(user=user).filter(number=number).first() if number else None


def my_cases(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """Cases the user reported."""
    if not getattr(user, "is_authenticated", False):
        return Case.objects.none()
    return case_list(user=user, filters=filters).filter(reporter=user)


def to_verify(*, user: Any) -> QuerySet[Case]:
    """Results waiting for the user's check on site (核查): pending verification in their grids."""
    rows = _rows().filter(state=State.PENDING_VERIFICATION)
    return access.scope(user, "cases.verify_case", rows, path_field="region__path")


def _granted_under(rows: QuerySet[Case], user: Any, perm: str, max_depth: int, *, by_holder: bool = False):
    """Rows under a node (no deeper than ``max_depth``) where the user holds ``perm``. With ``by_holder`` the
    case's holding node must lie under it too: holder path = region.path[: level * steplen], which is under p
    when the case is under p and the holding level is at or below p's level."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return rows
    paths = [p for p in access.granted_paths(user, perm) if len(p) <= max_depth * Region.steplen]
    if not paths:
        return rows.none()
    condition = Q()
    for p in paths:
        holder = {"level__gte": len(p) // Region.steplen} if by_holder else {}
        condition |= Q(region__path__startswith=p, **holder)
    return rows.filter(condition)


def triage_queue(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """Reported cases of the communities where the user triages (settle locally or call the street)."""
    rows = apply_filters(_rows().filter(state=State.REPORTED), filters)
    return _granted_under(rows, user, "cases.triage_case", Level.COMMUNITY)


def street_queue(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """Cases held at a level where the user dispatches (the holder node lies under one of their grants),
    flagged when a department refused its work order or asks for more time."""
    rows = (
        _rows()
        .filter(Q(state__in=STREET_STATES) | Q(state=State.CLOSED, awaiting_rehandle=True))
        .annotate(
            has_refused=Exists(WorkOrder.objects.filter(case=OuterRef("pk"), state=WorkOrderState.REFUSED)),
            has_extension_request=Exists(
                WorkOrder.objects.filter(case=OuterRef("pk"), state=WorkOrderState.SIGNED, extension_state="pending")
            ),
        )
    )
    rows = apply_filters(rows, filters)
    return _granted_under(rows, user, "cases.dispatch_case", Level.GRID, by_holder=True)


def nearby_open_cases(
    *, user: Any, category: Category, lat: float, lng: float, days: int = 7, metres: float = 200
) -> list[Case]:
    """Open cases of the same category within ``metres`` reported in the last ``days`` (duplicate warning),
    nearest first, each with ``distance`` in metres. A bounding box in SQL, the exact distance in Python."""
    dlat = metres / 111_320.0
    dlng = metres / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    rows = case_list(user=user).filter(
        category=category,
        state__in=list(OPEN_STATES),
        created_at__gte=timezone.now() - timedelta(days=days),
        lat__range=(lat - dlat, lat + dlat),
        lng__range=(lng - dlng, lng + dlng),
    )
    found = []
    for case in rows.order_by("-created_at")[:50]:
        case.distance = round(haversine_metres(lat, lng, case.lat, case.lng))
        if case.distance <= metres:
            found.append(case)
    return sorted(found, key=lambda c: c.distance)


def haversine_metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


# --- what a case page shows -------------------------------------------------------------------------------


def case_events(*, case: Case) -> list[CaseEvent]:
    """The whole timeline, oldest first, with actors, work-order departments and attachments (3 queries)."""
    return list(
        CaseEvent.objects.filter(case=case)
        .select_related("actor", "work_order__department")
        .prefetch_related("attachments")
        .order_by("at", "id")
    )


def case_photos(events: Iterable[CaseEvent]) -> dict[str, list[Attachment]]:
    """ "before" (the report's files) and "after" (files of completed work and local settlement)."""
    photos: dict[str, list[Attachment]] = {"before": [], "after": []}
    for event in events:
        if event.transition == "report":
            photos["before"].extend(event.attachments.all())
        elif event.transition in ("wo_complete", "settle"):
            photos["after"].extend(event.attachments.all())
    return photos


def case_work_orders(*, case: Case) -> list[WorkOrder]:
    return list(
        WorkOrder.objects.filter(case=case)
        .select_related("department", "assignee")
        .prefetch_related("department__members")
        .order_by("round", "-is_lead", "id")
    )


def case_clocks(*, case: Case, now: datetime | None = None) -> list:
    """The case's step deadlines, oldest first, each with ``status`` (running: its light; ``paused``; done
    ``on_time`` or ``late``) and ``label`` (the step's name): the record of its clocks and of what the sweep did
    (reminded, 催办, 督办, escalated) for the case page."""
    from .models import StepDeadline

    now = now or timezone.now()
    rows = list(
        StepDeadline.objects.filter(case=case).select_related("work_order__department").order_by("started_at", "id")
    )
    for d in rows:
        d.label = STEP_LABELS.get(d.step, d.step)
        d.paused_hours = round(d.paused_seconds / 3600, 1)
        if d.closed_at is not None:
            d.status = "on_time" if d.closed_at <= d.due_at else "late"
        elif d.paused_since is not None:
            d.status = "paused"
        else:
            d.status = deadlines.light_of(due_at=d.due_at, yellow_at=d.yellow_at, now=now)
    return rows


def case_regions(*, case: Case) -> list[Region]:
    """The case's grid and every node above it, root first (for the breadcrumb and the holder's name)."""
    return list(Region.objects.filter(path__in=case.region.ancestor_paths()).defer("boundary").order_by("depth"))


def dispatch_departments(*, case: Case) -> QuerySet[Department]:
    """Active departments serving the case's grid or a node above it (its street, district, city), each with its
    number of ``active_members`` (a department nobody staffs is shown and warned about when dispatching)."""
    return (
        Department.objects.filter(region__path__in=case.region.ancestor_paths(), is_active=True)
        .annotate(active_members=Count("members", filter=Q(members__is_active=True)))
        .select_related("region")
        .order_by("-region__depth", "code")
    )


def assignee_candidates(*, case: Case, limit: int = 200) -> QuerySet[User]:
    """Staff whose main region lies under the node holding the case (suggestions for "assign")."""
    return (
        User.objects.filter(is_active=True, region__path__startswith=case.holder_path)
        .only("username", "display_name", "first_name", "last_name")
        .order_by("username")[:limit]
    )


def response_templates(*, categories: Iterable[int], transitions: Iterable[str]) -> dict[tuple[int | None, str], list]:
    """Stock phrases (常用语) by (category id or None for all, transition): one query."""
    rows = ResponseTemplate.objects.filter(
        Q(category__isnull=True) | Q(category_id__in=list(categories)),
        transition__in=list(transitions),
        is_active=True,
    ).order_by("sort_order", "id")
    grouped: dict[tuple[int | None, str], list] = {}
    for t in rows:
        grouped.setdefault((t.category_id, t.transition), []).append(t)
    return grouped


def templates_for(grouped: Mapping[tuple[int | None, str], list], category_id: int, transition: str) -> list:
    return [*grouped.get((category_id, transition), []), *grouped.get((None, transition), [])]


CATEGORIES = "report-categories"  # versioned_cache kind: raised by every category change


def report_categories() -> list[Category]:
    """Active categories with their group, in display order (for the picker and the filters), from the shared
    cache: every list page and the report form need them, and they change a few times a year."""
    return versioned_cache.get_or_build(
        CATEGORIES,
        "active",
        lambda: list(
            Category.objects.filter(is_active=True, parent__isnull=False, parent__is_active=True)
            .select_related("parent")
            .order_by("parent__sort_order", "parent__code", "sort_order", "code")
        ),
    )


def reportable_grids(*, user: Any) -> QuerySet[Region]:
    """Active grids where the user may report cases."""
    rows = Region.objects.filter(depth=Level.GRID, is_active=True).defer("boundary").order_by("path")
    return access.scope(user, "cases.report_case", rows)


def default_grid(*, user: Any, grids: QuerySet[Region]) -> Region | None:
    """The worker's own grid (their main region when it is a grid they report in), else their first grid."""
    own = getattr(user, "region", None)
    if (
        own is not None
        and own.depth == Level.GRID
        and own.is_active
        and access.user_can(user, "cases.report_case", own)
    ):
        return own
    return grids.first()


# --- work orders and files --------------------------------------------------------------------------------


def _open_deadline(column: str) -> Subquery:
    """``column`` of the work order's earliest open step deadline (sign or complete), null when none is open."""
    from .models import StepDeadline

    rows = StepDeadline.objects.filter(work_order=OuterRef("pk"), closed_at__isnull=True).order_by("due_at", "pk")
    return Subquery(rows.values(column)[:1])


def department_inbox(*, user: Any, tab: str = "to_sign") -> QuerySet[WorkOrder]:
    """Work orders of the user's departments in one state (to sign, in progress, refused, done), each with the
    deadline of its open step (``deadline_due_at``, ``deadline_yellow_at``; null when no step is open): the clock
    the traffic lights and the "due first" order follow. ``WorkOrder.due_at`` is only the dispatcher's deadline."""
    state = INBOX_TABS.get(tab, WorkOrderState.ASSIGNED)
    return (
        WorkOrder.objects.filter(department_id__in=department_ids(user), state=state)
        .annotate(deadline_due_at=_open_deadline("due_at"), deadline_yellow_at=_open_deadline("yellow_at"))
        .select_related("case", "case__region", "case__category", "case__category__parent", "department", "assignee")
        .defer(
            "case__description",
            "case__parties",
            "case__departments",
            "case__region__boundary",
            "case__category__time_limits",
            "case__category__lead_department_kinds",
            "case__category__parent__time_limits",
            "case__category__parent__lead_department_kinds",
        )
    )


def work_order_get(*, user: Any, pk: int) -> WorkOrder:
    """A work order of a case the user may see, or Http404."""
    order = (
        WorkOrder.objects.filter(case__in=_visible(user, Case.objects.all()).values("pk"), pk=pk)
        .select_related("case", "case__region", "case__category", "department")
        .first()
    )
    if order is None:
        raise Http404("No such work order.")
    return order


def attachment_get(*, user: Any, pk: int) -> Attachment:
    """A file of a case the user may see, or Http404."""
    found = Attachment.objects.filter(case__in=_visible(user, Case.objects.all()).values("pk"), pk=pk).first()
    if found is None:
        raise Http404("No such file.")
    return found


def category_tree():
    """Groups with their categories (everyone who works cases may read the taxonomy)."""
    from django.db.models import Prefetch

    from .models import Category

    return (
        Category.objects.filter(parent=None)
        .prefetch_related(Prefetch("children", queryset=Category.objects.order_by("sort_order", "code")))
        .order_by("sort_order", "code")
    )


def category_get(*, pk: int):
    from django.shortcuts import get_object_or_404

    from .models import Category

    return get_object_or_404(Category, pk=pk)


def response_template_list():
    from .models import ResponseTemplate

    return ResponseTemplate.objects.select_related("category").order_by("transition", "sort_order", "id")


def response_template_get(*, pk: int):
    from django.shortcuts import get_object_or_404

    from .models import ResponseTemplate

    return get_object_or_404(ResponseTemplate, pk=pk)


def supervision_board(*, user: Any, days: int = 30) -> dict[str, Any]:
    """督办: overdue and near-due open cases under the user's supervision, counts by grid, and each department's
    closure rate (结案率) and on-time rate (按期结案率) over the last ``days`` days."""
    from django.db.models import Count, F

    from .models import StepDeadline

    regions = access.regions_with(user, "cases.supervise_case")
    now = timezone.now()
    open_cases = Case.objects.exclude(state__in=[State.CLOSED, State.CANCELLED]).filter(due_at__isnull=False)
    if regions is not None:
        open_cases = open_cases.filter(region_id__in=regions.values("id"))
    overdue = (
        open_cases.filter(due_at__lte=now).select_related("region", "category", "category__parent").order_by("due_at")
    )
    soon = (
        open_cases.filter(yellow_at__lte=now, due_at__gt=now)
        .select_related("region", "category", "category__parent")
        .order_by("due_at")
    )
    by_grid = list(
        open_cases.filter(due_at__lte=now)
        .values("region__name", "region__code")
        .annotate(n=Count("id"))
        .order_by("-n")[:20]
    )
    since = now - timedelta(days=days)
    orders = WorkOrder.objects.filter(created_at__gte=since).exclude(state=WorkOrderState.CANCELLED)
    if regions is not None:
        orders = orders.filter(case__region_id__in=regions.values("id"))
    on_time = StepDeadline.objects.filter(
        step="complete", work_order=OuterRef("pk"), closed_at__isnull=False, closed_at__lte=F("due_at")
    )
    rates = list(
        orders.values("department__name")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(state=WorkOrderState.DONE)),
            on_time=Count("id", filter=Q(state=WorkOrderState.DONE) & Q(Exists(on_time))),
        )
        .order_by("department__name")
    )
    for r in rates:
        r["closure_rate"] = round(100 * r["done"] / r["total"], 1) if r["total"] else None
        r["on_time_rate"] = round(100 * r["on_time"] / r["total"], 1) if r["total"] else None
    return {
        "overdue": overdue[:100],
        "soon": soon[:100],
        "by_grid": by_grid,
        "rates": rates,
        "days": days,
        "work_orders": late_work_orders(regions=regions, now=now),
    }


@dataclass
class DepartmentLateness:
    """One department's late work (supervision board): how many work orders are overdue and due soon, and the
    most urgent of them (open step deadlines with the work order, its department and its case)."""

    department_id: int
    name: str
    overdue: int = 0
    soon: int = 0
    urgent: list = field(default_factory=list)


def late_work_orders(
    *, regions: QuerySet[Region] | None, now: datetime | None = None, per_department: int = 10
) -> list[DepartmentLateness]:
    """Live work orders (to sign or signed) whose open step is overdue or due soon, on cases in ``regions``
    (None: everywhere), by department, most overdue first. Two queries, whatever the number of departments.

    The clock is the work order's open ``StepDeadline`` (sign, then complete), as for the traffic lights; a paused
    clock is never late. Each department lists its ``per_department`` most urgent steps (with ``step_label``)."""
    from django.db.models import Count, Window
    from django.db.models.functions import RowNumber

    from .models import StepDeadline

    now = now or timezone.now()
    late = StepDeadline.objects.filter(
        Q(due_at__lte=now) | Q(yellow_at__lte=now),
        work_order__isnull=False,
        work_order__state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED],
        closed_at__isnull=True,
        paused_since__isnull=True,
    )
    if regions is not None:
        late = late.filter(case__region_id__in=regions.values("id"))
    counts = (
        late.values("work_order__department_id", "work_order__department__name")
        .annotate(
            overdue=Count("work_order_id", filter=Q(due_at__lte=now), distinct=True),
            soon=Count("work_order_id", filter=Q(due_at__gt=now), distinct=True),
        )
        .order_by("-overdue", "-soon", "work_order__department__name")
    )
    departments = {
        c["work_order__department_id"]: DepartmentLateness(
            department_id=c["work_order__department_id"],
            name=c["work_order__department__name"],
            overdue=c["overdue"],
            soon=c["soon"],
        )
        for c in counts
    }
    if not departments:
        return []
    rank = Window(RowNumber(), partition_by=F("work_order__department_id"), order_by=[F("due_at").asc(), F("pk")])
    urgent = (
        late.annotate(rank=rank)
        .filter(rank__lte=per_department)
        .select_related("case", "case__region", "work_order", "work_order__department")
        .defer("case__description", "case__parties", "case__region__boundary", "work_order__note", "work_order__result")
        .order_by("due_at", "pk")
    )
    for d in urgent:  # each row's ``light`` is the model's (an open step: yellow or red here)
        d.step_label = STEP_LABELS.get(d.step, d.step)
        if (department := departments.get(d.work_order.department_id)) is not None:
            department.urgent.append(d)
    return list(departments.values())


# --- what the caller may do now (the case page and GET /api/v1/cases/{id}/actions/) --------------------------


def case_action_codes(user: Any, case: Case, *, orders: list[WorkOrder], clocks: list) -> list[str]:
    """Transitions the user may fire on the case now: allowed from its state, granted at the right node, and
    meaningful (suspend while a clock runs, resume while one is paused, re-dispatch while work is refused)."""
    from .workflow import TRANSITIONS, condition_holds

    codes = [
        code
        for code, t in TRANSITIONS.items()
        if code != "report_again"  # done from the report form's nearby warning, not offered on the case
        and case.state in t.sources
        and (
            not t.condition
            or condition_holds(t, satisfaction=case.satisfaction, awaiting_rehandle=case.awaiting_rehandle)
        )
        and access.user_can(user, t.perm, case.node_at(t.at))
    ]
    open_clocks = [d for d in clocks if d.closed_at is None]
    if not any(d.paused_since is None for d in open_clocks) and "suspend" in codes:
        codes.remove("suspend")
    if not any(d.paused_since is not None for d in open_clocks) and "resume" in codes:
        codes.remove("resume")
    if not any(o.state == WorkOrderState.REFUSED for o in orders) and "redispatch" in codes:
        codes.remove("redispatch")
    return codes


def work_order_action_codes(user: Any, case: Case, order: WorkOrder) -> list[str]:
    """Steps the user may take on one work order now (a member of its department, or the dispatcher)."""
    from .workflow import available_steps

    if case.state not in (State.DISPATCHED, State.IN_PROGRESS):
        return []
    member = bool(getattr(user, "is_superuser", False)) or order.department_id in department_ids(user)
    return available_steps(
        order.state, order.extension_state, member=member, dispatcher=may_see_contact(user=user, case=case)
    )


# --- each role's home ---------------------------------------------------------------------------------------

HOME_CAP = 100  # counts stop at this (shown as "99+"): a home never counts a city's whole backlog


def capped_count(rows: QuerySet, cap: int = HOME_CAP) -> int:
    """COUNT over at most ``cap`` rows (a LIMIT inside the count), so a large queue costs as little as a small one."""
    return rows.order_by().values("pk")[:cap].count()


def capped_counts(named: Mapping[str, QuerySet], cap: int = HOME_CAP) -> dict[str, int]:
    """``capped_count`` of several querysets in one round trip: one SELECT of scalar subqueries."""
    from django.db import connections

    if not named:
        return {}
    parts, params, db = [], [], "default"
    for i, rows in enumerate(named.values()):
        limited = rows.order_by().values("pk")[:cap]
        db = limited.db
        sql, p = limited.query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped{i})")  # noqa: S608 - our own SQL
        params.extend(p)
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(named, (int(n) for n in row), strict=True))


def callbacks_due(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """回访: closed cases whose resident has not been called back in this closing round, at levels where the user
    records evaluations."""
    rows = apply_filters(_rows().filter(state=State.CLOSED, satisfaction=""), filters)
    return _granted_under(rows, user, "cases.evaluate_case", Level.GRID, by_holder=True)


def home_role(user: Any) -> str:
    """The work a person's home opens with, from what they may do (the first that applies): an administrator's
    tree, a supervisor's 督办, a dispatcher's street queue, a department's inbox, a community's triage, a grid
    worker's reporting, a hotline operator's call-backs."""
    can = lambda perm: access.user_can_anywhere(user, perm)  # noqa: E731
    if can("grids.manage_access") or can("grids.change_region"):
        return "admin"
    if can("cases.supervise_case"):
        return "supervisor"
    if can("cases.dispatch_case"):
        return "street"
    if department_ids(user):
        return "department"
    if can("cases.triage_case"):
        return "community"
    if can("cases.report_case"):
        return "worker"
    if can("cases.evaluate_case"):
        return "hotline"
    return ""


def home_counts(*, user: Any) -> dict[str, int]:
    """What needs the person's action today: a capped count per queue they have a use for, all in one query."""
    nav = navigation(user)
    queues: dict[str, QuerySet] = {}
    if nav.get("verify"):
        queues["to_verify"] = to_verify(user=user)
    if nav.get("triage"):
        queues["to_triage"] = triage_queue(user=user)
    if nav.get("street"):
        street = street_queue(user=user)
        queues["to_accept"] = street.filter(state__in=[State.CALLED, State.ESCALATED])
        queues["to_dispatch"] = street.filter(state=State.ACCEPTED)
        queues["refused_work"] = street.filter(has_refused=True)
        queues["to_close"] = street.filter(state=State.VERIFIED)
        queues["rehandle_waiting"] = street.filter(state=State.CLOSED)
    if nav.get("inbox"):
        queues["to_sign"] = department_inbox(user=user, tab="to_sign")
        queues["in_progress"] = department_inbox(user=user, tab="in_progress")
    if nav.get("supervise"):
        overdue = _rows().exclude(state__in=[State.CLOSED, State.CANCELLED]).filter(due_at__lte=timezone.now())
        queues["overdue"] = _granted_under(overdue, user, "cases.supervise_case", Level.GRID)
    if nav.get("callbacks"):
        queues["callbacks"] = callbacks_due(user=user)
    return capped_counts(queues)


def unstaffed_departments(*, user: Any) -> QuerySet[Department]:
    """Active departments with no active member, in the regions where the user manages departments."""
    rows = Department.objects.filter(is_active=True).exclude(members__is_active=True).select_related("region")
    return access.scope(user, "grids.manage_department", rows, path_field="region__path").order_by("code")
