"""Disputes (纠纷) and their mediation (人民调解, 三调联动): parties, mediators, sessions, agreements, follow-ups,
handovers and the immutable event timeline.

Writes go through mediation/services.py; ``Dispute.status`` is written only there. Every row is placed in a
region (the dispute's grid), so the access policy scopes it like a case.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from grids.codes import Level
from grids.models import Department, Region
from parties.models import NamedParty

from .workflow import Status


class Kind(models.TextChoices):
    NEIGHBOURS = "neighbours", _("Neighbours")  # 邻里纠纷
    FAMILY = "family", _("Family")  # 婚姻家庭纠纷
    PROPERTY = "property", _("Property management")  # 物业纠纷
    LABOUR = "labour", _("Labour")  # 劳资纠纷
    LAND = "land", _("Land")  # 土地山林纠纷
    CONSUMER = "consumer", _("Consumer")  # 消费纠纷
    OTHER = "other", _("Other")  # 其他


class Side(models.TextChoices):
    APPLICANT = "applicant", _("Applicant")  # 申请人
    RESPONDENT = "respondent", _("Respondent")  # 被申请人
    THIRD = "third", _("Third party")  # 第三人


class HandoverTarget(models.TextChoices):
    STREET = "street", _("Street mediation committee")  # 街道人民调解委员会
    DEPARTMENT = "department", _("Administrative mediation (a department)")  # 行政调解
    COURT = "court", _("Court (judicial confirmation)")  # 司法确认


class FollowUpOutcome(models.TextChoices):
    HELD = "held", _("Holds")  # 履行良好
    FELL_APART = "fell_apart", _("Fell apart")  # 反悔/未履行


class DisputeSequence(models.Model):
    """The daily counter behind dispute numbers. Incremented atomically in the database."""

    day = models.DateField(unique=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class Dispute(models.Model):
    """A dispute (纠纷) between people or organisations of a grid, worked on by mediators."""

    number = models.CharField(_("number"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=120)
    summary = models.TextField(_("summary"), blank=True)
    kind = models.CharField(pgettext_lazy("dispute", "kind"), max_length=12, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=14, choices=Status.choices, default=Status.OPEN)
    region = models.ForeignKey(
        Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="disputes", db_index=False
    )
    place = models.CharField(_("place"), max_length=200, blank=True)
    # grids.codes.Level of who holds it: the community (4) until it is handed up to the street (3).
    level = models.PositiveSmallIntegerField(_("held at level"), default=4)
    opened_at = models.DateTimeField(_("opened at"), db_index=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Times an agreement fell apart at a follow-up and the dispute was mediated again.
    fell_apart_count = models.PositiveSmallIntegerField(default=0)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="disputes", editable=False
    )
    visit = models.ForeignKey(
        "parties.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="disputes", editable=False
    )
    mediators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="DisputeMediator",
        through_fields=("dispute", "user"),
        related_name="mediated_disputes",
        blank=True,
    )
    settled_at = models.DateTimeField(null=True, blank=True)  # agreement reached (the latest one)
    ended_at = models.DateTimeField(null=True, blank=True)  # no agreement, withdrawn or handed over
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        permissions = [
            ("open_dispute", _("Open disputes and name their parties")),
            ("mediate_dispute", _("Mediate disputes (people's mediator)")),
        ]
        indexes = [
            models.Index(fields=["region", "status", "-opened_at"], name="dispute_region_status_idx"),
            models.Index(fields=["-opened_at", "-id"], name="dispute_ledger_idx"),
        ]
        constraints = [
            # One open dispute per case: the case page's button opens it once.
            models.UniqueConstraint(fields=["case"], condition=Q(case__isnull=False), name="dispute_one_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("mediation:dispute", args=[self.pk])

    @property
    def held_path(self) -> str:
        """The path of the node that holds the dispute: its community, or its street once handed up there."""
        level = min(int(self.level or Level.COMMUNITY), Level.COMMUNITY)
        return self.region.path[: level * Region.steplen]

    @property
    def region_path(self) -> str:
        return self.region.path

    @property
    def community_path(self) -> str:
        return self.region.path[: 4 * Region.steplen]

    @property
    def is_active(self) -> bool:
        return self.status in (Status.OPEN, Status.MEDIATING)


class DisputeMediator(models.Model):
    """A mediator of a dispute: a people's mediator of the community, or someone invited (邀请调解)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="mediator_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    invited = models.BooleanField(_("invited"), default=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["dispute", "user"], name="dispute_mediator_uniq")]

    def __str__(self) -> str:
        return f"{self.dispute_id} · {self.user_id}"


class DisputeParty(NamedParty, models.Model):
    """A side of a dispute (当事人): a resident or organisation on record, or typed when not on record (name, and a
    phone stored encrypted, hashed and masked as case parties are)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="dispute_parties")
    side = models.CharField(_("side"), max_length=12, choices=Side.choices)
    resident = models.ForeignKey(
        "parties.Resident", null=True, blank=True, on_delete=models.PROTECT, related_name="dispute_links"
    )
    organisation = models.ForeignKey(
        "parties.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="dispute_links"
    )
    name = models.CharField(_("name"), max_length=120, blank=True)
    phone_enc = models.TextField(blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    phone_mask = models.CharField(_("phone"), max_length=11, blank=True, editable=False)
    claim = models.TextField(_("claim"), blank=True)  # 诉求: what this side asks
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    named_by = "dispute"

    class Meta:
        default_permissions = ()
        verbose_name = _("dispute party")
        ordering = ["side", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(resident__isnull=False) & Q(organisation__isnull=False)), name="disputeparty_one_record"
            ),
        ]

    def __str__(self) -> str:
        return self.label


def upload_path(instance, filename: str) -> str:
    return f"mediation/{instance.dispute_id}/{instance.sha256[:2]}/{instance.sha256}{instance.extension}"


class MediationSession(models.Model):
    """One mediation session (调解): when, where, who came, what was said."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="sessions")
    held_on = models.DateField(_("date"))
    place = models.CharField(_("place"), max_length=200, blank=True)
    attendees = models.CharField(_("attendees"), max_length=300, blank=True)
    notes = models.TextField(_("notes"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["held_on", "id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} · {self.held_on}"


class File(models.Model):
    """A photo of a session or the signed scan of an agreement, checked by content (cases.attachments); served only
    to people who may see the dispute."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="files")
    session = models.ForeignKey(
        MediationSession, null=True, blank=True, on_delete=models.PROTECT, related_name="photos"
    )
    agreement = models.ForeignKey("Agreement", null=True, blank=True, on_delete=models.PROTECT, related_name="scans")
    file = models.FileField(upload_to=upload_path, max_length=200)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    extension = models.CharField(max_length=8)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class Agreement(models.Model):
    """A mediation agreement (调解协议书): the terms both sides accepted; printed, signed, the scan uploaded."""

    class State(models.TextChoices):
        IN_FORCE = "in_force", _("In force")
        HELD = "held", _("Held")
        FELL_APART = "fell_apart", _("Fell apart")

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="agreements")
    terms = models.TextField(_("terms"))
    signed_on = models.DateField(_("signed on"))
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_FORCE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} · {self.signed_on}"


class FollowUp(models.Model):
    """A follow-up visit (回访) 30 or 90 days after an agreement: did it hold? The sweep reminds the mediators once
    (``reminded_at``, and a unique notice key per mediator)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="follow_ups")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="follow_ups")
    days = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField(_("due"))
    reminded_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=FollowUpOutcome.choices, blank=True)
    cancelled = models.BooleanField(default=False)  # the agreement fell apart before this one was due
    notes = models.TextField(_("notes"), blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        default_permissions = ()
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["agreement", "days"], name="followup_uniq")]
        indexes = [
            models.Index(
                fields=["due_at"],
                name="followup_to_remind_idx",
                condition=Q(reminded_at__isnull=True, outcome="", cancelled=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.dispute_id} · {self.days}"

    @property
    def is_open(self) -> bool:
        return not self.outcome and not self.cancelled


class Handover(models.Model):
    """A handover (三调联动): up to the street's mediation committee, to a department's administrative mediation, or
    to the court for judicial confirmation, with the reason."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="handovers")
    target = models.CharField(_("handed over to"), max_length=12, choices=HandoverTarget.choices)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    receiver = models.CharField(_("receiver"), max_length=120, blank=True)  # the court, or a named committee
    reason = models.TextField(_("reason"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.dispute_id} → {self.target}"

    @property
    def receiver_label(self) -> str:
        if self.department_id:
            return self.department.name
        return self.receiver


class DisputeEvent(models.Model):
    """One step of a dispute's timeline. Immutable: the database refuses updates and deletes (migration 0002)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events", db_index=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=14, blank=True)
    to_status = models.CharField(max_length=14, blank=True)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        default_permissions = ()
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["dispute", "at"], name="disputeevent_dispute_idx")]

    def __str__(self) -> str:
        return f"{self.dispute_id} {self.action} {self.from_status}→{self.to_status}"


# 风险预警: the risk rules, their nightly runs and the warnings (mediation/risk/models.py), registered with this app.
from mediation.risk.models import RiskRule, RiskRun, Warning, WarningEvent  # noqa: E402, F401
