"""Disputes (纠纷) and their parties: the contract the risk rules read (the mediation ledger owns these models).

Only the fields below are relied on by ``mediation.risk``; the ledger adds the rest.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from grids.models import Region


class Dispute(models.Model):
    region = models.ForeignKey(Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20)
    status = models.CharField(_("status"), max_length=20)
    opened_at = models.DateTimeField(_("opened at"))
    fell_apart_count = models.PositiveSmallIntegerField(_("times the agreement fell apart"), default=0)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey("parties.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class DisputeParty(models.Model):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="dispute_parties")
    resident = models.ForeignKey("parties.Resident", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(
        "parties.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=120, blank=True)

    def __str__(self) -> str:
        return self.name


from mediation.risk.models import RiskRule, RiskRun, Warning, WarningEvent  # noqa: E402, F401
