"""Every read of the mediation ledger a user sees, scoped to that user through grids.access: the disputes under
the nodes where the user holds ``mediation.view_dispute``, and those the user was invited to mediate. Anything
else is a 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from govgrid.pager import Page, keyset_page
from grids import access
from grids.codes import Level
from grids.models import Region

from .models import (
    Agreement,
    Dispute,
    DisputeEvent,
    DisputeMediator,
    DisputeParty,
    File,
    FollowUp,
    Handover,
    MediationSession,
)
from .workflow import SETTLED

VIEW = "mediation.view_dispute"
PAGE_SIZE = 30


def disputes_visible(*, user: Any) -> QuerySet[Dispute]:
    rows = Dispute.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return rows.none()
    regions = access.regions_with(user, VIEW)
    if regions is None:  # superusers
        return rows
    invited = DisputeMediator.objects.filter(user_id=user.pk).values("dispute_id")
    return rows.filter(Q(region_id__in=regions.values("pk")) | Q(pk__in=invited))


def dispute_list(*, user: Any, filters: dict | None = None) -> QuerySet[Dispute]:
    """The ledger's rows the user may see, filtered (status, kind, region below, period of opening)."""
    rows = disputes_visible(user=user)
    f = filters or {}
    if f.get("status"):
        rows = rows.filter(status=f["status"])
    if f.get("kind"):
        rows = rows.filter(kind=f["kind"])
    if f.get("region") is not None:
        rows = rows.filter(region__path__startswith=f["region"].path)
    if f.get("start"):
        rows = rows.filter(opened_at__date__gte=f["start"])
    if f.get("end"):
        rows = rows.filter(opened_at__date__lte=f["end"])
    if f.get("q"):
        q = f["q"]
        rows = rows.filter(Q(number__icontains=q) | Q(title__icontains=q))
    return rows


def dispute_page(*, user: Any, filters: dict | None = None, after: str = "", before: str = "") -> Page:
    rows = dispute_list(user=user, filters=filters).select_related("region", "case")
    page = keyset_page(rows, after=after, before=before, size=PAGE_SIZE, key="opened_at")
    # The mediators of the page's disputes in one query.
    names: dict[int, list[str]] = {}
    for link in DisputeMediator.objects.filter(dispute_id__in=[d.pk for d in page.items]).select_related("user"):
        names.setdefault(link.dispute_id, []).append(link.user.label)
    for d in page.items:
        d.mediator_names = names.get(d.pk, [])
    return page


def dispute_get(*, user: Any, pk: int) -> Dispute:
    return get_object_or_404(disputes_visible(user=user).select_related("region", "case", "visit", "opened_by"), pk=pk)


def dispute_parties(*, dispute: Dispute) -> list[DisputeParty]:
    parties = list(
        DisputeParty.objects.filter(dispute=dispute)
        .select_related("resident__region", "resident__household__building", "organisation__region")
        .order_by("side", "id")
    )
    for p in parties:
        p.dispute = dispute  # a typed party's whole number follows the dispute's grid
    return parties


def dispute_mediators(*, dispute: Dispute):
    return list(dispute.mediator_links.select_related("user").order_by("id"))


def dispute_sessions(*, dispute: Dispute) -> list[MediationSession]:
    return list(
        MediationSession.objects.filter(dispute=dispute).select_related("recorded_by").prefetch_related("photos")
    )


def dispute_agreements(*, dispute: Dispute) -> list[Agreement]:
    return list(
        Agreement.objects.filter(dispute=dispute)
        .select_related("created_by")
        .prefetch_related("scans", "follow_ups")
        .order_by("-id")
    )


def dispute_follow_ups(*, dispute: Dispute) -> list[FollowUp]:
    return list(FollowUp.objects.filter(dispute=dispute).select_related("done_by").order_by("due_at", "id"))


def dispute_handovers(*, dispute: Dispute) -> list[Handover]:
    return list(Handover.objects.filter(dispute=dispute).select_related("department", "by"))


def dispute_events(*, dispute: Dispute) -> list[DisputeEvent]:
    return list(DisputeEvent.objects.filter(dispute=dispute).select_related("actor").order_by("at", "id"))


def agreement_get(*, user: Any, pk: int) -> Agreement:
    agreement = get_object_or_404(Agreement.objects.select_related("dispute"), pk=pk)
    dispute_get(user=user, pk=agreement.dispute_id)  # 404 unless the viewer may see the dispute
    return agreement


def file_get(*, user: Any, pk: int) -> File:
    row = get_object_or_404(File, pk=pk)
    dispute_get(user=user, pk=row.dispute_id)
    return row


def follow_up_get(*, user: Any, pk: int) -> FollowUp:
    row = get_object_or_404(FollowUp.objects.select_related("dispute", "agreement"), pk=pk)
    dispute_get(user=user, pk=row.dispute_id)
    return row


def disputes_of_case(*, user: Any, case) -> list[Dispute]:
    return list(disputes_visible(user=user).filter(case=case).select_related("region"))


def disputes_of_visit(*, user: Any, visit) -> list[Dispute]:
    return list(disputes_visible(user=user).filter(visit=visit).select_related("region"))


def mediator_candidates(*, dispute: Dispute):
    """People who hold mediation.mediate_dispute at the dispute's grid or above it (the community's people's
    mediators and staff, the street's), for the assign form; anyone else may be invited by username."""
    from grids.models import RegionGroupObjectPermission, RegionUserObjectPermission, User

    held = dispute.held_path  # the community, or the street once handed up there
    paths = [p for p in dispute.region.ancestor_paths() if len(p) <= len(held)]
    direct = RegionUserObjectPermission.objects.filter(
        content_object__path__in=paths,
        permission__codename="mediate_dispute",
        permission__content_type__app_label="mediation",
    ).values("user_id")
    teams = RegionGroupObjectPermission.objects.filter(
        content_object__path__in=paths,
        permission__codename="mediate_dispute",
        permission__content_type__app_label="mediation",
    ).values("group_id")
    return (
        User.objects.filter(is_active=True)
        .filter(Q(pk__in=direct) | Q(groups__in=teams))
        .exclude(pk__in=dispute.mediator_links.values("user_id"))
        .distinct()
        .order_by("username")[:50]
    )


# --- figures ------------------------------------------------------------------------------------------------------


def dispute_figures(*, user: Any, region: Region, start: dt.date, end: dt.date) -> dict[str, Any]:
    """A region's disputes over a period (both days included), among those the user may see.

    - opened: disputes opened in the period;
    - settled: of those, settled by an agreement (agreed, or held at 90 days);
    - settled_locally: settled and never handed over (held by the community: level 4) — 就地化解;
    - local_rate: settled_locally / opened (None when nothing was opened);
    - held_90: agreements whose 90-day follow-up found them kept, recorded in the period;
    - handed_over: disputes opened in the period and handed over (up to the street, to a department or a court).
    """
    from .models import FollowUpOutcome

    rows = disputes_visible(user=user).filter(region__path__startswith=region.path)
    opened = rows.filter(opened_at__date__gte=start, opened_at__date__lte=end)
    counts = opened.annotate(was_handed_over=Exists(Handover.objects.filter(dispute=OuterRef("pk")))).aggregate(
        opened=Count("pk"),
        settled=Count("pk", filter=Q(status__in=SETTLED)),
        settled_locally=Count("pk", filter=Q(status__in=SETTLED, level=Level.COMMUNITY)),
        handed_over=Count("pk", filter=Q(was_handed_over=True)),
        fell_apart=Count("pk", filter=Q(fell_apart_count__gt=0)),
    )
    counts["held_90"] = FollowUp.objects.filter(
        dispute__in=rows.values("pk"),
        days=90,
        outcome=FollowUpOutcome.HELD,
        done_at__date__gte=start,
        done_at__date__lte=end,
    ).count()
    counts["local_rate"] = round(counts["settled_locally"] / counts["opened"], 4) if counts["opened"] else None
    return counts
