"""Risk early warning (风险预警 and 会商研判): the rules' settings, the nightly runs and the warnings they raise.

- ``RiskRule``: one row per rule (rules.RULES), with its thresholds and windows as admins set them;
- ``RiskRun``: one row per night run (its date is unique: a night is run exactly once, by one worker);
- ``Warning``: one finding of one rule in one week (``(rule, dedupe_key, week)`` is unique, so the same finding is
  not raised twice in a week), placed in a grid (``region``) with its street and district for the weekly lists;
- ``WarningEvent``: the immutable audit row of every change of a warning, written in the same transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from grids.models import Region


class RiskRule(models.Model):
    """The settings of one warning rule (规则设置): on or off, and its parameters (thresholds, windows)."""

    code = models.SlugField(_("rule"), max_length=30, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        app_label = "mediation"
        default_permissions = ()
        verbose_name = _("warning rule")
        verbose_name_plural = _("warning rules")
        permissions = [("manage_risk_rules", _("Tune the risk warning rules"))]

    def __str__(self) -> str:
        return self.code


class RiskRun(models.Model):
    """The rules' run of one night: the date is unique, so each night runs once (two workers: one wins)."""

    run_date = models.DateField(_("data up to"), unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # warnings raised per rule
    seconds = models.FloatField(default=0)

    class Meta:
        app_label = "mediation"
        default_permissions = ()
        ordering = ["-run_date"]

    def __str__(self) -> str:
        return str(self.run_date)


class SubjectKind(models.TextChoices):
    HOUSEHOLD = "household", _("Household")
    ORGANISATION = "organisation", _("Organisation")
    RESIDENT = "resident", _("Resident")
    DISPUTE = "dispute", _("Dispute")
    GRID = "grid", _("Grid")
    POINT = "point", _("Place")


class WarningStatus(models.TextChoices):
    NEW = "new", _("New")
    FOLLOWED_UP = "followed_up", _("Followed up")
    DISMISSED = "dismissed", _("Dismissed")
    TURNED_INTO_CASE = "turned_into_case", _("Turned into a case")


class Warning(models.Model):
    """One finding (预警) of one rule in one week, with its explanation and evidence, and what was done about it."""

    rule = models.CharField(_("rule"), max_length=30)
    week = models.DateField(_("week"), help_text=_("The Monday of the week the finding belongs to."))
    dedupe_key = models.CharField(max_length=120)
    region = models.ForeignKey(Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Region, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    district = models.ForeignKey(Region, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_kind = models.CharField(_("subject"), max_length=12, choices=SubjectKind.choices)
    subject_id = models.BigIntegerField(null=True, blank=True)
    subject_label = models.CharField(_("who or what"), max_length=200)
    explanation = models.TextField(_("why"))  # in Chinese, as the weekly meeting reads it; the page renders anew
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    found_on = models.DateField(_("found on"))  # the night's data date
    run = models.ForeignKey(RiskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="warnings")
    status = models.CharField(_("status"), max_length=20, choices=WarningStatus.choices, default=WarningStatus.NEW)
    status_reason = models.TextField(_("reason"), blank=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("case")
    )
    status_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "mediation"
        default_permissions = ()
        verbose_name = _("warning")
        verbose_name_plural = _("warnings")
        permissions = [("review_warning", _("Review risk warnings (研判)"))]
        constraints = [
            models.UniqueConstraint(fields=["rule", "dedupe_key", "week"], name="risk_warning_once_a_week"),
        ]
        indexes = [
            models.Index(fields=["street", "week"], name="risk_warning_street_idx"),
            models.Index(fields=["district", "week"], name="risk_warning_district_idx"),
            models.Index(fields=["region", "week"], name="risk_warning_grid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject_label} {self.week}"

    def get_absolute_url(self) -> str:
        return reverse("mediation:risk:warning", args=[self.pk])

    @property
    def region_path(self) -> str:
        return self.region.path


ACTION_LABELS = {
    "follow_up": _("Marked as followed up"),
    "dismiss": _("Dismissed"),
    "to_case": _("Turned into a case"),
}


def _status_label(code: str) -> str:
    return str(WarningStatus(code).label) if code in WarningStatus.values else code


class WarningEvent(models.Model):
    """An immutable audit row: who changed a warning, when, from and to which status, and why."""

    warning = models.ForeignKey(Warning, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "mediation"
        default_permissions = ()
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.warning_id} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit rows are never deleted")

    @property
    def action_label(self) -> str:
        return str(ACTION_LABELS.get(self.action, self.action))

    @property
    def from_label(self) -> str:
        return _status_label(self.from_status)

    @property
    def to_label(self) -> str:
        return _status_label(self.to_status)
