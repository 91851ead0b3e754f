"""The monthly reports (月报) of districts and streets: kept, so that what was sent upwards can be read again."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from grids.models import Region


def report_file_name(report: MonthlyReport, filename: str) -> str:
    return f"monthly-reports/{report.month:%Y-%m}/{report.region.code}-{report.month:%Y%m}.xlsx"


class MonthlyReport(models.Model):
    """One region's report of one month (月报): its figures as generated (``data``, which the printable page shows)
    and the XLSX made from them (``file``, in the default storage).

    A row without ``generated_at`` is claimed but not written yet (a worker stopped midway, or the job is still
    running): the next run of the job writes it. (region, month) is unique, so a month is reported once.
    """

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"), help_text=_("The first day of the month reported."))
    generated_at = models.DateTimeField(_("generated at"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=report_file_name, max_length=200, blank=True)
    data = models.JSONField(_("figures"), default=dict, blank=True)

    class Meta:
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        ordering = ["-month", "region__path"]
        constraints = [models.UniqueConstraint(fields=["region", "month"], name="monthlyreport_region_month_uniq")]
        indexes = [
            # The list of a month's reports; the job's look for reports not written yet.
            models.Index(fields=["month"], name="monthlyreport_month_idx"),
            models.Index(
                fields=["id"], condition=models.Q(generated_at__isnull=True), name="monthlyreport_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region.code} {self.month:%Y-%m}"

    def get_absolute_url(self) -> str:
        return reverse("dashboard:report", args=[self.pk])
