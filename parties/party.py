"""Writes of the party organisation over the grid (党建引领): organisations, members and 包联户/包联企业.

Each function is one use case in one transaction, checked with ``parties.manage_party`` at the region concerned
and audited. A member keeps in touch with households and organisations of the region their organisation serves
(its grid, or below its community or street), up to the member's limits; a household or organisation has one
keeper at a time.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import Region
from grids.services import audit

from .models import (
    PARTY_ORG_LEVEL,
    PARTY_ORG_PARENT,
    Building,
    Household,
    Keeping,
    Organisation,
    PartyMember,
    PartyOrg,
    PartyOrgKind,
    Resident,
)
from .services import clean_text, require

if TYPE_CHECKING:
    from grids.models import User

MANAGE = "parties.manage_party"


def party_org_save(
    *,
    actor: User,
    org: PartyOrg | None = None,
    parent: PartyOrg | None = None,
    kind: str = "",
    name: str,
    region: Region | None = None,
    building: Building | None = None,
    is_active: bool = True,
) -> PartyOrg:
    """Add a party organisation under ``parent`` (a street committee has none), or rename / retire one.

    The kind follows the parent (street committee → community committee → grid branch → building group) and the
    region it serves lies one level below the parent's region (a building group serves its branch's grid and names
    one of its buildings).
    """
    name = clean_text(name, field="name", max_length=100, required=True, label=_("A name is required."))
    with transaction.atomic():
        if org is not None:
            org = PartyOrg.objects.select_for_update(of=("self",)).select_related("region").get(pk=org.pk)
            require(actor, MANAGE, org)
            old = {"name": org.name, "active": org.is_active}
            org.name, org.is_active = name, is_active
            org.save(update_fields=["name", "is_active"])
            audit(actor=actor, action="party_org.update", target=org, region=org.region, old=old, new={"name": name})
            return org
        if kind not in PartyOrgKind.values:
            raise ValidationError({"kind": _("Choose the kind of party organisation.")})
        if region is None:
            raise ValidationError({"region": _("Choose the region it serves.")})
        require(actor, MANAGE, region)
        expected_parent = PARTY_ORG_PARENT[PartyOrgKind(kind)]
        if expected_parent is None and parent is not None:
            raise ValidationError({"parent": _("A street party working committee is the top of the tree.")})
        if expected_parent is not None:
            if parent is None or parent.kind != expected_parent:
                raise ValidationError(
                    {
                        "parent": _("A %(kind)s belongs to a %(parent)s.")
                        % {"kind": PartyOrgKind(kind).label, "parent": PartyOrgKind(expected_parent).label}
                    }
                )
            parent = PartyOrg.objects.select_related("region").get(pk=parent.pk)
            if not region.path.startswith(parent.region.path):
                raise ValidationError({"region": _("The region must lie under the parent's region.")})
        if region.depth != PARTY_ORG_LEVEL[PartyOrgKind(kind)]:
            raise ValidationError(
                {"region": _("A %(kind)s serves a region of another level.") % {"kind": PartyOrgKind(kind).label}}
            )
        if kind == PartyOrgKind.BUILDING:
            if building is None or building.region_id != region.pk:
                raise ValidationError({"building": _("Choose a building of the grid.")})
        else:
            building = None
        if kind != PartyOrgKind.BUILDING and PartyOrg.objects.filter(kind=kind, region=region, is_active=True).exists():
            raise ValidationError(
                {"region": _("This region already has a %(kind)s.") % {"kind": PartyOrgKind(kind).label}}
            )
        org = PartyOrg.objects.create(parent=parent, kind=kind, name=name, region=region, building=building)
        audit(actor=actor, action="party_org.create", target=org, region=region, kind=kind, name=name)
        return org


def party_member_save(
    *,
    actor: User,
    member: PartyMember | None = None,
    org: PartyOrg,
    name: str,
    resident: Resident | None = None,
    user: User | None = None,
    joined_on: date | None = None,
    household_limit: int | None = None,
    organisation_limit: int | None = None,
    is_active: bool = True,
) -> PartyMember:
    """Add a party member to an organisation or edit one (their 包联 limits too)."""
    name = clean_text(name, field="name", max_length=50, required=True, label=_("A name is required."))
    if joined_on is not None and joined_on > timezone.localdate():
        raise ValidationError({"joined_on": _("The date cannot be in the future.")})
    for field, value in (("household_limit", household_limit), ("organisation_limit", organisation_limit)):
        if value is not None and not 0 <= value <= 500:
            raise ValidationError({field: _("A limit between 0 and 500.")})
    with transaction.atomic():
        org = PartyOrg.objects.select_related("region").get(pk=org.pk)
        require(actor, MANAGE, org)
        if member is not None:
            member = PartyMember.objects.select_for_update(of=("self",)).select_related("region").get(pk=member.pk)
            require(actor, MANAGE, member)
        if resident is not None:
            require(actor, "parties.view_household", resident)
        if household_limit is not None and member is not None and household_limit < member.household_count:
            raise ValidationError(
                {"household_limit": _("The member keeps %(n)d households now.") % {"n": member.household_count}}
            )
        if organisation_limit is not None and member is not None and organisation_limit < member.organisation_count:
            raise ValidationError(
                {
                    "organisation_limit": _("The member keeps %(n)d organisations now.")
                    % {"n": member.organisation_count}
                }
            )
        old = (
            {"name": member.name, "org": member.org_id, "limits": [member.household_limit, member.organisation_limit]}
            if member
            else {}
        )
        if member is None:
            member = PartyMember(
                household_limit=settings.GOVGRID_KEEPING_HOUSEHOLD_LIMIT,
                organisation_limit=settings.GOVGRID_KEEPING_ORGANISATION_LIMIT,
            )
        member.org, member.region, member.name = org, org.region, name
        member.resident, member.user, member.joined_on, member.is_active = resident, user, joined_on, is_active
        if household_limit is not None:
            member.household_limit = household_limit
        if organisation_limit is not None:
            member.organisation_limit = organisation_limit
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError as exc:
            raise ValidationError(_("This resident or staff account is already a party member.")) from exc
        audit(
            actor=actor,
            action="party_member.update" if old else "party_member.create",
            target=member,
            region=org.region,
            old=old,
            new={"name": name, "org": org.pk, "limits": [member.household_limit, member.organisation_limit]},
        )
        return member


def keeping_assign(
    *,
    actor: User,
    member: PartyMember,
    household: Household | None = None,
    organisation: Organisation | None = None,
) -> Keeping:
    """包联: ``member`` keeps in touch with a household or an organisation, within the member's limit."""
    if (household is None) == (organisation is None):
        raise ValidationError(_("Choose a household or an organisation."))
    with transaction.atomic():
        # The member's row is the lock that keeps two assignments at once from passing the limit.
        member = PartyMember.objects.select_for_update(of=("self",)).select_related("region").get(pk=member.pk)
        target = (
            Household.objects.select_for_update(of=("self",)).select_related("region").get(pk=household.pk)
            if household is not None
            else Organisation.objects.select_for_update(of=("self",)).select_related("region").get(pk=organisation.pk)
        )
        require(actor, MANAGE, target)
        if not member.is_active:
            raise ValidationError({"member": _("%(name)s is not an active member.") % {"name": member.name}})
        if not target.region.path.startswith(member.region.path):
            raise ValidationError(
                {"member": _("%(name)s's party organisation does not serve this grid.") % {"name": member.name}}
            )
        if household is not None:
            if member.household_count >= member.household_limit:
                raise ValidationError(
                    {
                        "member": _("%(name)s already keeps in touch with %(n)d households, the limit.")
                        % {"name": member.name, "n": member.household_count}
                    }
                )
        elif member.organisation_count >= member.organisation_limit:
            raise ValidationError(
                {
                    "member": _("%(name)s already keeps in touch with %(n)d organisations, the limit.")
                    % {"name": member.name, "n": member.organisation_count}
                }
            )
        if target.keeper_id is not None:
            raise ValidationError(_("%(what)s already has a keeper.") % {"what": str(target)})
        try:
            with transaction.atomic():
                keeping = Keeping.objects.create(
                    member=member,
                    household=target if household is not None else None,
                    organisation=target if organisation is not None else None,
                    since=timezone.localdate(),
                    assigned_by=actor,
                )
        except IntegrityError as exc:
            raise ValidationError(_("%(what)s already has a keeper.") % {"what": str(target)}) from exc
        type(target).objects.filter(pk=target.pk).update(keeper=member)
        if household is not None:
            member.household_count += 1
        else:
            member.organisation_count += 1
        member.save(update_fields=["household_count", "organisation_count"])
        audit(
            actor=actor,
            action="keeping.assign",
            target=keeping,
            region=target.region,
            member=member.pk,
            member_name=member.name,
            what=type(target).__name__.lower(),
            what_id=target.pk,
        )
        return keeping


def keeping_remove(*, actor: User, keeping: Keeping) -> None:
    """End a 包联 (the member no longer keeps in touch); the audit log keeps who kept it and since when."""
    with transaction.atomic():
        keeping = Keeping.objects.select_related("household__region", "organisation__region").get(pk=keeping.pk)
        target = keeping.household or keeping.organisation
        require(actor, MANAGE, target)
        member = PartyMember.objects.select_for_update().get(pk=keeping.member_id)
        audit(
            actor=actor,
            action="keeping.remove",
            target=keeping,
            region=target.region,
            member=member.pk,
            member_name=member.name,
            what=type(target).__name__.lower(),
            what_id=target.pk,
            since=keeping.since.isoformat(),
        )
        keeping.delete()
        type(target).objects.filter(pk=target.pk).update(keeper=None)
        if keeping.household_id:
            member.household_count = max(0, member.household_count - 1)
        else:
            member.organisation_count = max(0, member.organisation_count - 1)
        member.save(update_fields=["household_count", "organisation_count"])
