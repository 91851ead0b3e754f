"""The people a case names (reporter, respondent, involved), and opening a case from a visit (走访).

``cases`` may use ``parties`` (a case names residents and organisations); ``parties`` knows nothing of cases: the
visit's page shows what ``apps.CasesConfig`` registers in ``parties.extensions``. Each write is one transaction
with a CaseEvent on the case's timeline (codes and masks only, never a whole number).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from grids import access
from grids.models import User
from parties.models import Household, Organisation, Resident, Visit, VisitNeed
from parties.services import (
    named_party_fields,
    named_party_phone_reveal,
    require_records_seen,
)

from . import services
from .models import Case, CaseEvent, CaseParty, Category, PartyRole, Source

# The category a visit's first need suggests (admins may pick another on the visit's page).
NEED_CATEGORY = {
    VisitNeed.ELDERLY: "msfw-djlr",
    VisitNeed.HARDSHIP: "msfw-kn",
    VisitNeed.DISABILITY: "msfw-cj",
    VisitNeed.DISPUTE: "mdjf-llj",
    VisitNeed.SAFETY: "aqyh-xftd",
    VisitNeed.ENVIRONMENT: "hjws-lj",
    VisitNeed.REPAIRS: "jcss-dlps",
    VisitNeed.POLICY: "msfw-kn",
}


def may_edit_parties(user: Any, case: Case) -> bool:
    """Who reports, triages or dispatches the case may name its parties."""
    return (
        access.user_can(user, "cases.report_case", case.node_at("grid"))
        or access.user_can(user, "cases.triage_case", case.node_at("community"))
        or access.user_can(user, "cases.dispatch_case", case.node_at("holder"))
    )


def _event(case: Case, actor: Any, transition: str, **data: Any) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, actor=actor, transition=transition, from_state=case.state, to_state=case.state, data=data
    )


def case_party_add(
    *,
    actor: User,
    case: Case,
    role: str,
    resident: Resident | None = None,
    organisation: Organisation | None = None,
    name: str = "",
    phone: str = "",
) -> CaseParty:
    """Name a party of the case: a resident or organisation on record (that the actor may see), or a person typed
    free (name, and a mainland mobile number that is stored encrypted)."""
    if role not in PartyRole.values:
        raise ValidationError({"role": _("Choose the role of the party.")})
    fields = named_party_fields(resident=resident, organisation=organisation, name=name, phone=phone)
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("region").get(pk=case.pk)
        if not may_edit_parties(actor, case):
            raise PermissionDenied(_("You may not change the parties of this case."))
        require_records_seen(actor, resident, organisation)
        party = CaseParty(case=case, role=role, resident=resident, organisation=organisation, added_by=actor, **fields)
        try:
            with transaction.atomic():
                party.save()
        except IntegrityError as exc:
            raise ValidationError(_("This resident is already named in this role.")) from exc
        _event(
            case,
            actor,
            "party_add",
            role=role,
            party=party.label,
            resident=resident.pk if resident else None,
            organisation=organisation.pk if organisation else None,
            phone=party.phone_mask,
        )
        return party


def case_party_remove(*, actor: User, party: CaseParty) -> None:
    with transaction.atomic():
        party = CaseParty.objects.select_related("case__region", "resident", "organisation").get(pk=party.pk)
        case = Case.objects.select_for_update(of=("self",)).select_related("region").get(pk=party.case_id)
        if not may_edit_parties(actor, case):
            raise PermissionDenied(_("You may not change the parties of this case."))
        _event(case, actor, "party_remove", role=party.role, party=party.label)
        party.delete()


def case_party_reveal(*, actor: User, party: CaseParty) -> str:
    """The whole phone number of a party typed free, for a holder of parties.view_personal_data on the case's grid;
    one access log row."""
    with transaction.atomic():
        party = CaseParty.objects.select_related("case__region").get(pk=party.pk)
        return named_party_phone_reveal(
            actor=actor,
            party=party,
            region=party.case.region,
            target_type="case_party",
            label=f"{party.name} · {party.case.number}",
        )


def suggested_category(visit: Visit) -> Category | None:
    codes = [NEED_CATEGORY.get(n) for n in visit.needs if n in NEED_CATEGORY]
    found = {c.code: c for c in Category.objects.filter(code__in=[c for c in codes if c], is_active=True)}
    return next((found[c] for c in codes if c in found), None)


def case_open_from_visit(*, actor: User, visit: Visit, category: Category | None = None) -> Case:
    """Open a case from a visit in one tap: the ordinary report (``services.case_report``) with the visit's grid,
    address, location, notes and needs, and the household's residents (or the organisation) named as involved."""
    category = category or suggested_category(visit)
    if category is None:
        raise ValidationError({"category": _("Choose the category of the case.")})
    with transaction.atomic():
        visit = (
            Visit.objects.select_for_update(of=("self",))
            .select_related("region", "household__building", "organisation")
            .get(pk=visit.pk)
        )
        if not access.user_can(actor, "parties.view_household", visit):
            raise PermissionDenied(_("You may not see this visit."))
        if visit.cases.exists():
            raise ValidationError(_("A case was already opened from this visit."))
        target = visit.household or visit.organisation
        address = target.label if isinstance(target, Household) else (target.address or target.name)
        needs = "、".join(visit.need_labels)
        title = f"{target}：{needs}" if needs else f"{_('Visit')} {target}"
        description = "\n".join(x for x in (needs, visit.needs_text, visit.notes) if x)
        case = services.case_report(
            reporter=actor,
            category=category,
            title=title[:120],
            region=visit.region,
            description=description,
            source=Source.VISIT,
            address=address[:200],
            lat=visit.lat,
            lng=visit.lng,
        )
        Case.objects.filter(pk=case.pk).update(visit=visit)
        case.visit = visit
        if visit.household_id:
            residents = Resident.objects.filter(household=visit.household, deceased_on__isnull=True).order_by("id")
            CaseParty.objects.bulk_create(
                [CaseParty(case=case, role=PartyRole.INVOLVED, resident=r, added_by=actor) for r in residents]
            )
        else:
            CaseParty.objects.create(
                case=case, role=PartyRole.INVOLVED, organisation=visit.organisation, added_by=actor
            )
        _event(case, actor, "from_visit", visit=visit.pk)
        return case


def case_parties(*, case: Case) -> list[CaseParty]:
    return list(
        CaseParty.objects.filter(case=case)
        .select_related("resident__region", "resident__household__building", "organisation__region")
        .order_by("role", "id")
    )
