"""Categories, cases (事件), work orders (工单), the immutable event timeline and attachments.

Writes go through cases/services.py; ``Case.state`` is written only by ``services.case_transition`` and the
work-order steps it drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from grids.models import Department, Region
from parties.models import NamedParty

from .workflow import STREET_STATES, RefusalReason, Satisfaction, State, WorkOrderState


@dataclass(frozen=True)
class PlacedAt:
    """A place in the tree, for access checks at a node other than the case's own grid."""

    region_path: str


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")  # 一般
    URGENT = "urgent", _("Urgent")  # 紧急
    EMERGENCY = "emergency", _("Emergency")  # 特急


class Source(models.TextChoices):
    PATROL = "patrol", _("Grid patrol")  # 网格巡查
    HOTLINE = "hotline", _("Hotline 12345")  # 12345热线
    WALK_IN = "walk_in", _("Walk-in")  # 来访
    VISIT = "visit", _("Household visit")  # 走访
    OPEN311 = "open311", _("Open311")
    OTHER = "other", _("Other")


STEPS = ("accept", "dispatch", "sign", "complete", "verify", "evaluate")


def default_time_limits() -> dict:
    """Hours per step and urgency (working hours; emergencies in clock hours). The deadline issue enforces them."""
    return {
        Urgency.NORMAL: {"accept": 4, "dispatch": 4, "sign": 8, "complete": 40, "verify": 16, "evaluate": 24},
        Urgency.URGENT: {"accept": 2, "dispatch": 2, "sign": 4, "complete": 16, "verify": 8, "evaluate": 16},
        Urgency.EMERGENCY: {"accept": 0.5, "dispatch": 0.5, "sign": 1, "complete": 4, "verify": 2, "evaluate": 8},
    }


class Category(models.Model):
    """A two-level taxonomy (事件分类): groups (parent is None) and the categories inside them."""

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    default_urgency = models.CharField(
        _("default urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    # Department kind (Department.kind) that leads, per region level of the dispatcher: {"3": "pcs", "2": "cgzf"}.
    lead_department_kinds = models.JSONField(_("lead department per level"), default=dict, blank=True)
    time_limits = models.JSONField(_("time limits (hours)"), default=default_time_limits)
    escalation_grace_hours = models.FloatField(_("grace before escalation (hours)"), default=8)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(default=0)
    # Open311 (residents' apps): whether residents may report it, words to find it, a notice shown to them, and
    # the questions asked (GeoReport v2 attributes: [{"code", "description", "datatype", "required", "values"}]).
    is_public = models.BooleanField(_("open to residents (Open311)"), default=False)
    keywords = models.CharField(_("keywords"), max_length=200, blank=True)
    service_notice = models.CharField(_("notice to residents"), max_length=300, blank=True)
    questions = models.JSONField(_("questions to residents"), default=list, blank=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name

    @property
    def lead_kinds_label(self) -> str:
        kinds = self.lead_department_kinds or {}
        return f"{kinds.get('3') or '—'} / {kinds.get('2') or '—'}"


STEP_LABELS = {
    "accept": _("accept"),
    "dispatch": _("dispatch"),
    "sign": _("sign"),
    "complete": _("complete"),
    "verify": _("verify"),
    "evaluate": _("call back"),
}
EXTENSION_LABELS = {"pending": _("waiting for an answer"), "granted": _("granted"), "denied": _("denied")}


class ResponseTemplate(models.Model):
    """A stock phrase (常用语) offered in a transition form, for one category or for all."""

    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE, related_name="templates")
    transition = models.CharField(_("transition"), max_length=30)
    text = models.CharField(_("text"), max_length=300)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.text

    @property
    def transition_label(self) -> str:
        from .workflow import TRANSITIONS, WORK_ORDER_STEPS

        if self.transition in TRANSITIONS:
            return str(TRANSITIONS[self.transition].label)
        step = WORK_ORDER_STEPS.get(self.transition.removeprefix("wo_"))
        return str(step.label) if step else self.transition


class CaseSequence(models.Model):
    """The daily counter behind case numbers, per prefix (district). Incremented atomically in the database."""

    prefix = models.CharField(max_length=20)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "day"], name="case_sequence_uniq")]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.day:%Y%m%d}: {self.last}"


@lru_cache(maxsize=1)
def _case_url_pattern() -> str:
    return reverse("case_detail", args=[987654321]).replace("987654321", "{}")


def case_url(pk: int) -> str:
    """The case page's address (reversed once per process: lists print thirty of them)."""
    return _case_url_pattern().format(pk)


class Case(models.Model):
    """A case (事件) reported in a grid and worked on up the tree."""

    number = models.CharField(_("number"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="cases")
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.PATROL)
    # db_index=False: the (region, state, created_at) index below serves every lookup by region.
    region = models.ForeignKey(
        Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
        db_index=False,  # case_reporter_idx (reporter, created_at) serves it
    )
    reporter_contact = models.CharField(_("reporter contact"), max_length=100, blank=True)
    parties = models.TextField(_("parties involved"), blank=True)
    # The visit (走访) the case was opened from, if any: the visit's page lists it (parties knows no case code).
    visit = models.ForeignKey(
        "parties.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="cases", editable=False
    )
    state = models.CharField(_("state"), max_length=24, choices=State.choices, default=State.REPORTED)
    level = models.PositiveSmallIntegerField(_("held at level"), default=4)  # grids.codes.Level of the holder
    version = models.PositiveIntegerField(default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_cases"
    )
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates")
    satisfaction = models.CharField(_("satisfaction"), max_length=12, choices=Satisfaction.choices, blank=True)
    rework_count = models.PositiveSmallIntegerField(default=0)
    # 重办: times an unsatisfied call-back sent the case back (the "rehandle" events are the record; 重办率 counts
    # cases with rehandle_count > 0). awaiting_rehandle: an unsatisfied call-back waits for the dispatcher.
    rehandle_count = models.PositiveSmallIntegerField(default=0)
    awaiting_rehandle = models.BooleanField(default=False)
    # 再次上报: reports of the same problem added to this case ("report_again" events).
    reported_again_count = models.PositiveIntegerField(default=0)
    # Made on the phone for each draft (a UUID): a draft sent twice (a retry after a timeout, two tabs, the offline
    # queue) makes one case, and the second send answers with the first case's number.
    idempotency_key = models.UUIDField(null=True, blank=True, editable=False)
    # Ids of the departments the case has had work orders with, kept by the case service when it dispatches: a
    # department member's case list checks them on the case row, instead of a subquery over the department's whole
    # history of work orders.
    departments = models.JSONField(default=list, blank=True, editable=False)
    # The earliest open step deadline (kept by cases.deadlines), so lists sort and filter by traffic light.
    due_at = models.DateTimeField(_("due"), null=True, blank=True, db_index=True)
    yellow_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="case_idempotency_key_uniq", condition=Q(idempotency_key__isnull=False)
            )
        ]
        permissions = [
            ("report_case", _("Report cases")),
            ("triage_case", _("Triage reported cases (settle locally, call the street)")),
            ("dispatch_case", _("Accept, return and dispatch cases")),
            ("verify_case", _("Verify results")),
            ("close_case", _("Close cases")),
            ("cancel_case", _("Cancel cases and mark duplicates")),
            ("reopen_case", _("Reopen closed cases")),
            ("evaluate_case", _("Record residents' evaluations")),
            ("escalate_case", _("Escalate cases to the level above")),
            ("supervise_case", _("Supervise overdue cases")),
        ]
        indexes = [
            models.Index(fields=["region", "state", "-created_at"], name="case_region_state_idx"),
            models.Index(fields=["state", "level", "-created_at"], name="case_queue_idx"),
            models.Index(fields=["reporter", "-created_at"], name="case_reporter_idx"),
            # Lists sorted "due first" (nulls last, then id): only open cases, so that the cases without a
            # deadline, nearly all closed ones, are not in the way of a queue's rows.
            models.Index(
                fields=["due_at", "id"],
                name="case_open_due_idx",
                condition=~Q(state__in=[State.CLOSED, State.CANCELLED]),
            ),
            # 回访 due: closed cases whose resident is still to be called back, the longest closed first.
            models.Index(
                fields=["closed_at", "id"],
                name="case_callback_due_idx",
                condition=Q(state=State.CLOSED, satisfaction=""),
            ),
            # The street queue's closed cases whose unsatisfied call-back waits for the dispatcher (重办).
            models.Index(fields=["level"], name="case_awaiting_rehandle_idx", condition=Q(awaiting_rehandle=True)),
            # Queues of open cases sorted by report time: the open backlog, not five years of closed cases.
            models.Index(
                fields=["created_at", "id"],
                name="case_open_created_idx",
                condition=~Q(state__in=[State.CLOSED, State.CANCELLED]),
            ),
            # The street queue: its rows by grid, oldest first, with the level the queue filters on. A street's
            # queue is then the index entries of its grids (a few thousand at most), whatever the history; the
            # condition is the queue's own filter, word for word (selectors.street_queue), so the planner uses it.
            models.Index(
                fields=["region", "created_at", "id"],
                include=["level"],
                name="case_queue_open_idx",
                condition=Q(state__in=STREET_STATES) | Q(state=State.CLOSED, awaiting_rehandle=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return case_url(self.pk)

    @property
    def url(self) -> str:
        return case_url(self.pk)

    @property
    def region_path(self) -> str:
        return self.region.path

    @property
    def holder_path(self) -> str:
        """Path of the node at the level that holds the case (its community, street, district or city)."""
        return self.region.path[: self.level * Region.steplen]

    @property
    def light(self) -> str:
        """Traffic light of the earliest open step: green, yellow (75% used), red (overdue), or ""."""
        from .deadlines import light_of

        return light_of(due_at=self.due_at, yellow_at=self.yellow_at)

    def node_at(self, at: str) -> PlacedAt:
        """The node where a transition's permission is checked: the grid, its community or the holder."""
        if at == "grid":
            return PlacedAt(self.region.path)
        if at == "community":
            return PlacedAt(self.region.path[: 4 * Region.steplen])
        return PlacedAt(self.holder_path)

    @property
    def is_open(self) -> bool:
        return self.state not in (State.CLOSED, State.CANCELLED)


class WorkOrder(models.Model):
    """One department's part of a dispatch (工单): lead or assisting."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="work_orders")
    # db_index=False: workorder_inbox_idx (department, state, created_at) serves it.
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="work_orders", db_index=False)
    is_lead = models.BooleanField(_("lead"), default=False)
    state = models.CharField(_("state"), max_length=12, choices=WorkOrderState.choices, default=WorkOrderState.ASSIGNED)
    round = models.PositiveSmallIntegerField(default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_orders"
    )
    note = models.TextField(_("dispatch note"), blank=True)
    result = models.TextField(_("result"), blank=True)
    refusal_reason = models.CharField(_("refusal reason"), max_length=20, choices=RefusalReason.choices, blank=True)
    refusal_note = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    extension_until = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    extension_state = models.CharField(max_length=10, blank=True)  # "", "pending", "granted", "denied"
    created_at = models.DateTimeField(auto_now_add=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-is_lead", "id"]
        constraints = [
            # No department gets two live work orders for the same case.
            models.UniqueConstraint(
                fields=["case", "department"],
                condition=Q(state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED]),
                name="workorder_one_live_per_department",
            )
        ]
        indexes = [
            models.Index(fields=["department", "state", "-created_at"], name="workorder_inbox_idx"),
            # The street queue flags cases with refused work or a pending extension request.
            models.Index(fields=["case"], name="workorder_refused_idx", condition=Q(state="refused")),
            models.Index(fields=["case"], name="workorder_ext_pending_idx", condition=Q(extension_state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.case.number} · {self.department.name}"

    @property
    def extension_state_label(self) -> str:
        return str(EXTENSION_LABELS.get(self.extension_state, ""))


class CaseEvent(models.Model):
    """One step of the timeline. Immutable: the database refuses updates and deletes (migration 0002)."""

    # Indexes: caseevent_case_idx (case, at) serves the case; the work order's is partial (most events have none).
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", db_index=False)
    work_order = models.ForeignKey(
        WorkOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    transition = models.CharField(max_length=30)
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["case", "at"], name="caseevent_case_idx"),
            models.Index(fields=["work_order"], name="caseevent_work_order_idx", condition=Q(work_order__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.transition} {self.from_state}→{self.to_state}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"cases/{instance.case_id}/{instance.sha256[:2]}/{instance.sha256}{instance.extension}"


class Attachment(models.Model):
    """A photo or PDF of a case step, checked by content; served only to people who may see the case."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    event = models.ForeignKey(CaseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    thumbnail = models.FileField(upload_to="cases/thumbs/", max_length=200, blank=True)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class CalendarDay(models.Model):
    """A date that breaks the weekday rule of the business calendar (工作日历).

    Monday to Friday are working days and Saturday and Sunday are not, unless a row says otherwise: an official
    public holiday (法定节假日, also the weekdays given off in a 调休 swap) or a weekend day made a working day
    (调休上班). Rows come from the holidays library (source "seeded") or from an admin (source "admin"); seeding
    never touches admin rows. An admin who removes a seeded day leaves an "ordinary" row behind, so that seeding
    again does not bring it back. The arithmetic lives in cases/calendar.py.
    """

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Holiday")  # 法定节假日 / 调休放假
        WORKDAY = "workday", _("Working day")  # 调休上班
        ORDINARY = "ordinary", _("Ordinary day")  # an admin removed a seeded day: the weekday rule applies

    class Origin(models.TextChoices):
        SEEDED = "seeded", _("holidays library")
        ADMIN = "admin", _("admin")

    day = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=60, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Origin.choices, default=Origin.SEEDED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.kind} {self.name}".strip()


class StepDeadline(models.Model):
    """The clock of one step (accept, dispatch, sign, complete, verify, evaluate) of a case or work order.

    Computed once when the step starts (cases.deadlines.open_step) and stored; the sweep marks each action it
    takes (reminded, urged, supervised, escalated) on the row, so each happens once.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deadlines")
    work_order = models.ForeignKey(WorkOrder, null=True, blank=True, on_delete=models.CASCADE, related_name="deadlines")
    step = models.CharField(max_length=12)
    level = models.PositiveSmallIntegerField()  # the level holding the case when the clock started
    hours = models.FloatField()
    started_at = models.DateTimeField()
    yellow_at = models.DateTimeField()
    due_at = models.DateTimeField()
    escalate_at = models.DateTimeField()
    paused_since = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.FloatField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    urged_at = models.DateTimeField(null=True, blank=True)
    supervised_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["yellow_at"], name="deadline_open_yellow_idx", condition=Q(closed_at__isnull=True)),
            models.Index(fields=["due_at"], name="deadline_open_due_idx", condition=Q(closed_at__isnull=True)),
            # A work order's open step (the inbox's lights and "due first" order, the supervision board).
            models.Index(
                fields=["work_order", "due_at", "id"],
                name="deadline_open_work_order_idx",
                condition=Q(closed_at__isnull=True, work_order__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.step} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def light(self) -> str:
        from .deadlines import light_of

        return "" if self.closed_at else light_of(due_at=self.due_at, yellow_at=self.yellow_at)


class PartyRole(models.TextChoices):
    REPORTER = "reporter", _("Reporter")  # 反映人
    RESPONDENT = "respondent", _("Respondent")  # 被反映人
    INVOLVED = "involved", _("Involved")  # 涉及人员


class CaseParty(NamedParty, models.Model):
    """A person or organisation a case names (当事人): a resident or organisation on record (parties), or typed
    free when not on record. Shown masked by the same rule as the records; a free phone is encrypted the same way."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="party_links")
    role = models.CharField(_("role"), max_length=12, choices=PartyRole.choices)
    resident = models.ForeignKey(
        "parties.Resident", null=True, blank=True, on_delete=models.PROTECT, related_name="case_links"
    )
    organisation = models.ForeignKey(
        "parties.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="case_links"
    )
    name = models.CharField(_("name"), max_length=120, blank=True)
    phone_enc = models.TextField(blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    phone_mask = models.CharField(_("phone"), max_length=11, blank=True, editable=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    named_by = "case"

    class Meta:
        verbose_name = _("case party")
        verbose_name_plural = _("case parties")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(resident__isnull=False) & Q(organisation__isnull=False)), name="caseparty_one_record"
            ),
            models.UniqueConstraint(
                fields=["case", "resident", "role"], condition=Q(resident__isnull=False), name="caseparty_resident_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class Open311Key(models.Model):
    """The api_key of one Open311 client app (a residents' app): revocable, with its own rate limit. Only the
    SHA-256 of the key is stored."""

    name = models.CharField(_("client app"), max_length=80)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"), default=60)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 key")
        verbose_name_plural = _("Open311 keys")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Open311Request(models.Model):
    """What an Open311 client sent with a report: the token it polls with, the resident's contact (personal
    data: never in a GET answer) and the answers to the category's questions."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="open311")
    token = models.CharField(max_length=40, unique=True)
    key = models.ForeignKey(Open311Key, on_delete=models.PROTECT, related_name="requests")
    email = models.CharField(max_length=254, blank=True)
    first_name = models.CharField(max_length=60, blank=True)
    last_name = models.CharField(max_length=60, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    device_id = models.CharField(max_length=100, blank=True)
    account_id = models.CharField(max_length=100, blank=True)
    media_url = models.URLField(max_length=500, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.case_id} {self.token}"


# --- the daily roll-up (cases/rollup.py keeps it; docs/dashboard.md) ----------------------------------------------

# Source codes in a fixed order (the roll-up's new_<source> columns), the hours of the day, and the upper bounds of
# the working-hour buckets of report → close (the p90 is read from them).
ROLLUP_SOURCES = ("patrol", "hotline", "walk_in", "visit", "open311", "other")
CLOSE_HOUR_BUCKETS = (2, 4, 8, 16, 24, 40, 80, 160, 320)  # the last bucket (b9) is "more than 320 h"
CASE_DAILY_COUNTERS = (
    "new",
    *(f"new_{s}" for s in ROLLUP_SOURCES),
    *(f"h{h:02d}" for h in range(24)),
    "settled",
    "called",
    "dispatched",
    "dispatched_on_time",
    "verified",
    "verify_failed",
    "closed",
    "closed_on_time",
    *(f"b{i}" for i in range(len(CLOSE_HOUR_BUCKETS) + 1)),
    "evaluated",
    "satisfied",
    "basically",
    "unsatisfied",
    "rehandled",
    "cancelled",
    "cohort_closed",
    "cohort_cancelled",
)
DEPARTMENT_DAILY_COUNTERS = ("signed", "signed_on_time", "done", "done_on_time", "refused")


class CaseDaily(models.Model):
    """One region's figures of one category on one day (the roll-up the dashboard reads).

    A row exists for the case's grid and for each of its ancestors (community, street, district, city), so that
    any region's figures are its own rows and its children's figures are theirs: no sum over grids per request.
    Counters count events of the day (the day of the event in settings.TIME_ZONE), except ``cohort_closed`` and
    ``cohort_cancelled``, which sit on the day the case was reported (of that day's new cases, how many are closed
    or cancelled now). ``close_hours`` sums the working hours report → close of the day's closings.
    """

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    close_hours = models.FloatField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["region", "day", "category"], name="casedaily_key")]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day} {self.category_id}"


for _name in CASE_DAILY_COUNTERS:
    CaseDaily.add_to_class(_name, models.IntegerField(default=0, db_default=0))


class DepartmentDaily(models.Model):
    """One department's work-order figures on the cases of one region on one day (rows per ancestor, as above)."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_index=False)
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["region", "day", "department"], name="departmentdaily_key")]

    def __str__(self) -> str:
        return f"{self.region_id} {self.day} {self.department_id}"


for _name in DEPARTMENT_DAILY_COUNTERS:
    DepartmentDaily.add_to_class(_name, models.IntegerField(default=0, db_default=0))


class OpenCount(models.Model):
    """Live: how many cases of a region (and every ancestor's row) are open in each state now."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_index=False)
    state = models.CharField(max_length=24)
    n = models.IntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["region", "state"], name="opencount_key")]

    def __str__(self) -> str:
        return f"{self.region_id} {self.state} {self.n}"


class OverdueCount(models.Model):
    """Overdue now (超期), counted once a minute by ``cases.overdue.count_overdue``: the open cases of a region (its
    own row and every ancestor's) whose earliest running deadline has passed (``department`` empty), and the overdue
    work orders of each department on that region's cases. The dashboard reads these rows instead of counting live
    case rows on every request; ``OverdueClock`` says when they were counted."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_index=False)
    department = models.ForeignKey(Department, null=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    n = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["region", "department"], name="overduecount_region_idx")]

    def __str__(self) -> str:
        return f"{self.region_id} {self.department_id} {self.n}"


class OverdueClock(models.Model):
    """The one row that says when the overdue counts were last made (and that a counting run locks)."""

    counted_at = models.DateTimeField(null=True)
    seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.counted_at}"
