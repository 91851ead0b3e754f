"""Every write of the mediation ledger. Each function runs in one transaction, locks the dispute row first (two
people acting on one dispute are serialised; with ``expected_version`` the second is told it changed: 409), checks
the actor through grids.access, writes an immutable DisputeEvent, and schedules side effects on commit.

A dispute opened from a case writes notes on the case's timeline (``cases.services.case_note``) and, when it is
settled or handed over, closes the case through ``cases.services.case_transition`` (see ``_close_case``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cases import attachments
from cases import services as case_services
from cases.models import Case, CaseParty, PartyRole
from cases.workflow import State as CaseState
from govgrid.errors import Conflict
from grids import access
from grids.codes import Level
from grids.demo import system_actor
from grids.models import Department, Region, User
from grids.units import holder_unit
from notifications.services import Notice, in_language_of, in_languages, notify, notify_many, notify_unit
from parties.models import Organisation, Resident, Visit
from parties.services import (
    clean_text,
    named_party_fields,
    named_party_phone_reveal,
    require_records_seen,
)

from .models import (
    Agreement,
    Dispute,
    DisputeEvent,
    DisputeMediator,
    DisputeParty,
    DisputeSequence,
    File,
    FollowUp,
    FollowUpOutcome,
    Handover,
    HandoverTarget,
    Kind,
    MediationSession,
    Side,
)
from .workflow import ACTIONS, FOLLOW_UP_DAYS, Status

VIEW, OPEN, MEDIATE = "mediation.view_dispute", "mediation.open_dispute", "mediation.mediate_dispute"

# The kind a case category of the 矛盾纠纷 group suggests.
CATEGORY_KIND = {
    "mdjf-llj": Kind.NEIGHBOURS,
    "mdjf-jt": Kind.FAMILY,
    "mdjf-wy": Kind.PROPERTY,
    "mdjf-lz": Kind.LABOUR,
    "mdjf-td": Kind.LAND,
}
DISPUTE_GROUP = "mdjf"  # the category group of disputes (cases.taxonomy)
CASE_SIDE = {PartyRole.REPORTER: Side.APPLICANT, PartyRole.RESPONDENT: Side.RESPONDENT}


class StaleDispute(Conflict):
    """The dispute changed since the person loaded it (HTTP 409)."""

    def __init__(self, dispute: Dispute):
        super().__init__(
            _("Dispute %(number)s changed in the meantime; reload it and try again.") % {"number": dispute.number},
            current={"id": dispute.pk, "status": dispute.status, "version": dispute.version},
        )


class ActionNotAllowed(Conflict):
    """The action does not apply to the dispute in its current status (HTTP 409)."""


# --- checks ------------------------------------------------------------------------------------------------------


def is_mediator(user: Any, dispute: Dispute) -> bool:
    return bool(getattr(user, "pk", None)) and dispute.mediator_links.filter(user_id=user.pk).exists()


def held_at(dispute: Dispute) -> SimpleNamespace:
    """The node that holds the dispute, for access checks: its community, or its street once handed up there."""
    return SimpleNamespace(region_path=dispute.held_path)


def may_mediate(user: Any, dispute: Dispute) -> bool:
    """People's mediators (and community staff) of the level that holds the dispute (its community, or its street
    after a hand-up), or a mediator assigned or invited to it."""
    return access.user_can(user, MEDIATE, held_at(dispute)) or is_mediator(user, dispute)


def may_open(user: Any, region: Region) -> bool:
    return access.user_can(user, OPEN, region)


def may_edit_parties(user: Any, dispute: Dispute) -> bool:
    return access.user_can(user, OPEN, dispute) or may_mediate(user, dispute)


def is_dispute_case(case: Case) -> bool:
    category = case.category
    return bool(category.parent_id) and category.code.startswith(f"{DISPUTE_GROUP}-")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise PermissionDenied(message)


def _lock(dispute: Dispute, expected_version: int | None = None) -> Dispute:
    locked = Dispute.objects.select_for_update(of=("self",)).select_related("region", "case").get(pk=dispute.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleDispute(locked)
    return locked


def _check(dispute: Dispute, action: str) -> None:
    a = ACTIONS[action]
    if dispute.status not in a.sources:
        raise ActionNotAllowed(
            _("“%(action)s” is not possible while the dispute is %(status)s.")
            % {"action": a.label, "status": Status(dispute.status).label}
        )


def _event(dispute: Dispute, actor: Any, action: str, from_status: str, comment: str = "", **data: Any):
    return DisputeEvent.objects.create(
        dispute=dispute,
        actor=actor if getattr(actor, "pk", None) else None,
        at=timezone.now(),
        action=action,
        from_status=from_status,
        to_status=dispute.status,
        comment=comment,
        data=data,
    )


def _bump(dispute: Dispute, *fields: str) -> None:
    dispute.version += 1
    dispute.save(update_fields=["version", "updated_at", *fields])


def _next_number() -> str:
    """TJ + date + daily sequence (e.g. TJ-20261121-0007), from one atomic upsert."""
    day = timezone.localdate()
    table = DisputeSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, last) VALUES (%s, 1) "  # noqa: S608 - table name is ours
            f"ON CONFLICT (day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [day],
        )
        (seq,) = cursor.fetchone()
    return f"TJ-{day:%Y%m%d}-{seq:04d}"


def _case_note(dispute: Dispute, actor: Any, message: str, **params: Any) -> None:
    """A line on the linked case's timeline, in the site's language (the timeline is read by everyone)."""
    if dispute.case_id is None:
        return

    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(message) % {"number": dispute.number, **params}
    case_services.case_note(case=dispute.case, actor=actor, comment=text, link=dispute.get_absolute_url())


# --- opening -----------------------------------------------------------------------------------------------------


def dispute_open(
    *,
    actor: User,
    region: Region,
    kind: str,
    title: str,
    summary: str = "",
    place: str = "",
    case: Case | None = None,
    visit: Visit | None = None,
) -> Dispute:
    """Open a dispute in a grid (directly, or from a case or a visit: see the two functions below)."""
    if kind not in Kind.values:
        raise ValidationError({"kind": _("Choose the kind of dispute.")})
    title = clean_text(title, field="title", max_length=120, required=True, label=_("Give the dispute a title."))
    summary = clean_text(summary, field="summary", max_length=4000)
    place = clean_text(place, field="place", max_length=200)
    if not isinstance(region, Region) or region.depth != Level.GRID:
        raise ValidationError({"region": _("Choose the grid of the dispute.")})
    if not region.is_active:
        raise ValidationError({"region": _("This grid is retired.")})
    _require(may_open(actor, region), _("You may not open disputes in this grid."))
    with transaction.atomic():
        if case is not None and Dispute.objects.filter(case=case).exists():
            raise ValidationError(_("A dispute was already opened from this case."))
        dispute = Dispute.objects.create(
            number=_next_number(),
            title=title,
            summary=summary,
            kind=kind,
            region=region,
            place=place,
            level=Level.COMMUNITY,
            opened_at=timezone.now(),
            opened_by=actor,
            case=case,
            visit=visit,
        )
        dispute.region = region
        _event(dispute, actor, "open", "", case=case.number if case else None, visit=visit.pk if visit else None)
        # The opener who may mediate is the first mediator (a people's mediator opening it works on it at once).
        if access.user_can(actor, MEDIATE, dispute):
            DisputeMediator.objects.create(dispute=dispute, user=actor, added_by=actor)
        return dispute


def dispute_open_from_case(*, actor: User, case: Case) -> Dispute:
    """One tap on the case page of a dispute category: the case's grid, title, description, address and parties
    (their sides from their roles) fill the dispute; the case's timeline says so."""
    case = Case.objects.select_related("category", "region").get(pk=case.pk)
    if not is_dispute_case(case):
        raise ValidationError(_("Only a case of a dispute category opens a dispute."))
    if not case.is_open:
        raise ValidationError(_("The case is closed."))
    _require(access.user_can(actor, "cases.view_case", case), _("You may not see this case."))
    with transaction.atomic():
        dispute = dispute_open(
            actor=actor,
            region=case.region,
            kind=CATEGORY_KIND.get(case.category.code, Kind.OTHER),
            title=case.title,
            summary=case.description,
            place=case.address,
            case=case,
            visit=case.visit,
        )
        for p in CaseParty.objects.filter(case=case).order_by("id"):
            DisputeParty.objects.create(
                dispute=dispute,
                side=CASE_SIDE.get(p.role, Side.THIRD),
                resident_id=p.resident_id,
                organisation_id=p.organisation_id,
                name=p.name,
                phone_enc=p.phone_enc,
                phone_hash=p.phone_hash,
                phone_mask=p.phone_mask,
                added_by=actor,
            )
        _case_note(dispute, actor, gettext_noop("Dispute %(number)s opened for mediation."))
        return dispute


def dispute_open_from_visit(*, actor: User, visit: Visit, kind: str = Kind.NEIGHBOURS) -> Dispute:
    """One tap on a visit's page: the visit's grid and notes, the household's residents (or the organisation) as
    parties."""
    visit = Visit.objects.select_related("region", "household__building", "organisation").get(pk=visit.pk)
    _require(access.user_can(actor, "parties.view_household", visit), _("You may not see this visit."))
    with transaction.atomic():
        if Dispute.objects.filter(visit=visit).exists():
            raise ValidationError(_("A dispute was already opened from this visit."))
        target = visit.household or visit.organisation
        title = f"{target}：{_('dispute')}"
        dispute = dispute_open(
            actor=actor,
            region=visit.region,
            kind=kind,
            title=title[:120],
            summary="\n".join(x for x in (visit.needs_text, visit.notes) if x),
            place=str(target)[:200],
            visit=visit,
        )
        if visit.household_id:
            people = Resident.objects.filter(household=visit.household, deceased_on__isnull=True).order_by("id")
            DisputeParty.objects.bulk_create(
                [DisputeParty(dispute=dispute, side=Side.THIRD, resident=r, added_by=actor) for r in people]
            )
        else:
            DisputeParty.objects.create(
                dispute=dispute, side=Side.THIRD, organisation=visit.organisation, added_by=actor
            )
        return dispute


# --- parties ------------------------------------------------------------------------------------------------------


def dispute_party_add(
    *,
    actor: User,
    dispute: Dispute,
    side: str,
    resident: Resident | None = None,
    organisation: Organisation | None = None,
    name: str = "",
    phone: str = "",
    claim: str = "",
) -> DisputeParty:
    """Name a side of the dispute: a resident or organisation on record (that the actor may see), or a person typed
    (name, and a mainland mobile stored encrypted, hashed and masked); with what this side asks."""
    if side not in Side.values:
        raise ValidationError({"side": _("Choose the side of the party.")})
    fields = named_party_fields(resident=resident, organisation=organisation, name=name, phone=phone)
    claim = clean_text(claim, field="claim", max_length=2000)
    with transaction.atomic():
        dispute = _lock(dispute)
        _require(may_edit_parties(actor, dispute), _("You may not change the parties of this dispute."))
        _check(dispute, "party_add")
        require_records_seen(actor, resident, organisation)
        party = DisputeParty.objects.create(
            dispute=dispute,
            side=side,
            resident=resident,
            organisation=organisation,
            claim=claim,
            added_by=actor,
            **fields,
        )
        _event(dispute, actor, "party_add", dispute.status, side=side, party=party.label, phone=party.phone_mask)
        _bump(dispute)
        return party


def dispute_party_remove(*, actor: User, party: DisputeParty) -> None:
    with transaction.atomic():
        dispute = _lock(party.dispute)
        party = DisputeParty.objects.select_related("resident", "organisation").get(pk=party.pk)
        _require(may_edit_parties(actor, dispute), _("You may not change the parties of this dispute."))
        _check(dispute, "party_remove")
        _event(dispute, actor, "party_remove", dispute.status, side=party.side, party=party.label)
        party.delete()
        _bump(dispute)


def dispute_party_reveal(*, actor: User, party: DisputeParty) -> str:
    """The whole phone number of a typed party, for a holder of parties.view_personal_data on the dispute's grid;
    one access log row."""
    with transaction.atomic():
        party = DisputeParty.objects.select_related("dispute__region").get(pk=party.pk)
        return named_party_phone_reveal(
            actor=actor,
            party=party,
            region=party.dispute.region,
            target_type="dispute_party",
            label=f"{party.name} · {party.dispute.number}",
        )


# --- mediators ----------------------------------------------------------------------------------------------------


def dispute_mediator_assign(
    *, actor: User, dispute: Dispute, user: User, expected_version: int | None = None
) -> DisputeMediator:
    """Assign a mediator: a people's mediator of the dispute's community, or someone else invited (who then sees
    the dispute and may mediate it)."""
    if not isinstance(user, User) or not user.is_active:
        raise ValidationError({"user": _("Choose an active person.")})
    with transaction.atomic():
        dispute = _lock(dispute, expected_version)
        _require(may_mediate(actor, dispute), _("You may not assign mediators to this dispute."))
        _check(dispute, "mediator_assign")
        if dispute.mediator_links.filter(user=user).exists():
            raise ValidationError({"user": _("%(name)s already mediates this dispute.") % {"name": user.label}})
        invited = not access.user_can(user, MEDIATE, held_at(dispute))
        link = DisputeMediator.objects.create(dispute=dispute, user=user, invited=invited, added_by=actor)
        _event(dispute, actor, "mediator_assign", dispute.status, mediator=user.label, invited=invited)
        _bump(dispute)
        _tell_mediator(dispute, user)  # written in this transaction; its deliveries go after the commit
        return link


def _tell_mediator(dispute: Dispute, user: User) -> None:

    notify(
        recipient=user,
        kind="assigned",
        title=in_language_of(user, gettext_noop("You mediate dispute %(number)s"), number=dispute.number),
        body=dispute.title,
        link=dispute.get_absolute_url(),
        subject=f"{dispute.number} {dispute.title}",
        dedup_key=f"mediation:assigned:{dispute.pk}:{user.pk}",
    )


def _tell_street(dispute: Dispute, handover: Handover) -> None:
    """Tell the street's people's mediators (else its dispatchers) that a dispute was handed up to them: one notice
    to that unit, written once per handover."""

    street = held_at(dispute).region_path
    unit = holder_unit(street, "mediate_dispute") or holder_unit(street, "dispatch_case")
    if unit is None:
        return
    notify_unit(
        unit=unit,
        kind="assigned",
        title=in_languages(gettext_noop("Dispute %(number)s handed up to the street"), number=dispute.number),
        body=handover.reason,
        link=dispute.get_absolute_url(),
        subject=f"{dispute.number} {dispute.title}",
        dedup_key=f"mediation:hand-up:{handover.pk}:{unit}",
    )


def dispute_mediator_remove(*, actor: User, dispute: Dispute, user: User) -> None:
    with transaction.atomic():
        dispute = _lock(dispute)
        _require(may_mediate(actor, dispute), _("You may not change the mediators of this dispute."))
        _check(dispute, "mediator_remove")
        deleted, _rows = DisputeMediator.objects.filter(dispute=dispute, user=user).delete()
        if not deleted:
            raise ValidationError({"user": _("This person does not mediate this dispute.")})
        _event(dispute, actor, "mediator_remove", dispute.status, mediator=user.label)
        _bump(dispute)


# --- sessions, outcomes -------------------------------------------------------------------------------------------


def _store(dispute: Dispute, checked: list, actor: User, **link: Any) -> list[File]:
    saved = []
    for item in checked:
        row = File(
            dispute=dispute,
            original_name=item.name,
            content_type=item.content_type,
            extension=item.extension,
            size=len(item.data),
            sha256=item.sha256,
            uploaded_by=actor,
            **link,
        )
        row.file.save(f"{item.sha256}{item.extension}", ContentFile(item.data), save=False)
        pending = attachments._stored.get()  # removed again if the transaction fails (attachments.removed_on_error)
        if pending is not None:
            pending.append(row.file.name)
        row.save()
        saved.append(row)
    return saved


def dispute_session_record(
    *,
    actor: User,
    dispute: Dispute,
    held_on: dt.date,
    notes: str,
    place: str = "",
    attendees: str = "",
    files: Sequence = (),
    expected_version: int | None = None,
) -> MediationSession:
    """Record a mediation session (date, place, who came, notes, photos checked like case photos)."""
    notes = clean_text(notes, field="notes", max_length=8000, required=True, label=_("Write what was said."))
    place = clean_text(place, field="place", max_length=200)
    attendees = clean_text(attendees, field="attendees", max_length=300)
    if not isinstance(held_on, dt.date):
        raise ValidationError({"held_on": _("Give the date of the session.")})
    if held_on > timezone.localdate():
        raise ValidationError({"held_on": _("The session cannot be in the future.")})
    photos = attachments.check_files(files)
    if any(not c.is_image for c in photos):
        raise ValidationError({"files": _("Session photos must be photos (JPEG, PNG, WebP, HEIC).")})
    with attachments.removed_on_error(), transaction.atomic():
        dispute = _lock(dispute, expected_version)
        _require(may_mediate(actor, dispute), _("You may not mediate this dispute."))
        _check(dispute, "session")
        from_status = dispute.status
        session = MediationSession.objects.create(
            dispute=dispute, held_on=held_on, place=place, attendees=attendees, notes=notes, recorded_by=actor
        )
        _store(dispute, photos, actor, session=session)
        dispute.status = Status.MEDIATING
        _event(dispute, actor, "session", from_status, notes, session=session.pk, photos=len(photos))
        _bump(dispute, "status")
        return session


def dispute_agree(
    *,
    actor: User,
    dispute: Dispute,
    terms: str,
    signed_on: dt.date | None = None,
    expected_version: int | None = None,
) -> Agreement:
    """The sides agreed (达成协议): the agreement's terms, its follow-ups at 30 and 90 days, and the linked case
    closes."""
    terms = clean_text(terms, field="terms", max_length=8000, required=True, label=_("Write the agreed terms."))
    signed_on = signed_on or timezone.localdate()
    if signed_on > timezone.localdate():
        raise ValidationError({"signed_on": _("The agreement cannot be signed in the future.")})
    with transaction.atomic():
        dispute = _lock(dispute, expected_version)
        _require(may_mediate(actor, dispute), _("You may not mediate this dispute."))
        _check(dispute, "agree")
        if not dispute.dispute_parties.exists():
            raise ValidationError(_("Name the parties before recording their agreement."))
        from_status = dispute.status
        agreement = Agreement.objects.create(dispute=dispute, terms=terms, signed_on=signed_on, created_by=actor)
        now = timezone.now()
        FollowUp.objects.bulk_create(
            [
                FollowUp(dispute=dispute, agreement=agreement, days=d, due_at=now + dt.timedelta(days=d))
                for d in FOLLOW_UP_DAYS
            ]
        )
        dispute.status, dispute.settled_at = Status.AGREED, now
        _event(dispute, actor, "agree", from_status, terms, agreement=agreement.pk)
        _bump(dispute, "status", "settled_at")
        _case_note(dispute, actor, gettext_noop("Dispute %(number)s: the sides reached an agreement."))
        _close_case(dispute, actor)
        return agreement


def dispute_end(
    *, actor: User, dispute: Dispute, action: str, comment: str, expected_version: int | None = None
) -> Dispute:
    """No agreement (调解不成) or withdrawn (撤回), with the reason."""
    if action not in ("no_agreement", "withdraw"):
        raise ValidationError(_("Unknown action %(action)s.") % {"action": action})
    comment = clean_text(comment, field="comment", max_length=4000, required=True, label=_("Say why."))
    with transaction.atomic():
        dispute = _lock(dispute, expected_version)
        _require(may_mediate(actor, dispute), _("You may not mediate this dispute."))
        _check(dispute, action)
        from_status = dispute.status
        dispute.status = Status.NO_AGREEMENT if action == "no_agreement" else Status.WITHDRAWN
        dispute.ended_at = timezone.now()
        _event(dispute, actor, action, from_status, comment)
        _bump(dispute, "status", "ended_at")
        message = (
            gettext_noop("Dispute %(number)s: no agreement was reached.")
            if action == "no_agreement"
            else gettext_noop("Dispute %(number)s was withdrawn.")
        )
        _case_note(dispute, actor, message)
        return dispute


def dispute_hand_over(
    *,
    actor: User,
    dispute: Dispute,
    target: str,
    reason: str,
    department: Department | None = None,
    receiver: str = "",
    expected_version: int | None = None,
) -> Handover:
    """三调联动: hand the dispute up to the street's mediation committee, over to a department's administrative
    mediation, or to the court for judicial confirmation. On the dispute's timeline and the linked case's, and the
    case closes (the dispute is where it will be settled)."""
    if target not in HandoverTarget.values:
        raise ValidationError({"target": _("Choose where the dispute goes.")})
    reason = clean_text(reason, field="reason", max_length=4000, required=True, label=_("Say why it is handed over."))
    receiver = clean_text(receiver, field="receiver", max_length=120)
    if target == HandoverTarget.DEPARTMENT and not isinstance(department, Department):
        raise ValidationError({"department": _("Choose the department that mediates it.")})
    if target == HandoverTarget.COURT and not receiver:
        raise ValidationError({"receiver": _("Name the court.")})
    action = "hand_up" if target == HandoverTarget.STREET else "hand_over"
    with transaction.atomic():
        dispute = _lock(dispute, expected_version)
        _require(may_mediate(actor, dispute), _("You may not hand this dispute over."))
        _check(dispute, action)
        if action == "hand_up" and dispute.level != Level.COMMUNITY:
            raise ActionNotAllowed(_("The street's mediation committee holds this dispute already."))
        if target == HandoverTarget.DEPARTMENT and not department.is_active:
            raise ValidationError({"department": _("This department is retired.")})
        if target == HandoverTarget.STREET and not receiver:
            street = Region.objects.get(path=dispute.region.path[: Level.STREET * Region.steplen])
            receiver = f"{street.name}{_('People’s Mediation Committee')}"[:120]
        handover = Handover.objects.create(
            dispute=dispute,
            target=target,
            department=department if target == HandoverTarget.DEPARTMENT else None,
            receiver=receiver,
            reason=reason,
            by=actor,
        )
        from_status = dispute.status
        if action == "hand_up":
            # The street's committee mediates it from here: the community's mediators step back (the event names
            # them), and the street's people's mediators take it up.
            left = [link.user.label for link in dispute.mediator_links.select_related("user")]
            dispute.mediator_links.all().delete()
            dispute.status, dispute.level, dispute.ended_at = Status.MEDIATING, Level.STREET, None
        else:
            left = []
            dispute.status, dispute.ended_at = Status.HANDED_OVER, timezone.now()
        _event(
            dispute,
            actor,
            action,
            from_status,
            reason,
            target=target,
            receiver=handover.receiver_label,
            handover=handover.pk,
            mediators_before=left,
        )
        _bump(dispute, "status", "ended_at", "level")
        _case_note(
            dispute,
            actor,
            gettext_noop("Dispute %(number)s handed over to %(receiver)s: %(reason)s"),
            receiver=handover.receiver_label,
            reason=reason,
        )
        if action == "hand_over":  # out of people's mediation: the case closes; handed up, it waits for the street
            _close_case(dispute, actor)
        if action == "hand_up":
            _tell_street(dispute, handover)
        return handover


# Transitions from a case's state to "closed", along the workflow table (cases.workflow.TRANSITIONS): the community
# settled it locally through mediation, the verification is the mediators' record, then it closes. A case the
# community no longer holds (called to the street, dispatched, escalated) is left to its holder: a note says why.
CLOSING_PATH = {
    CaseState.REPORTED: ("settle", "verify_ok", "close"),
    CaseState.PENDING_VERIFICATION: ("verify_ok", "close"),
    CaseState.VERIFIED: ("close",),
}


def _close_case(dispute: Dispute, actor: User) -> None:
    """Close the case the dispute was opened from, through the case service, as the system account (the actor's
    right to settle the dispute was checked here; the case's own timeline names the dispute and the person)."""
    if dispute.case_id is None:
        return

    case = Case.objects.select_related("category", "region").get(pk=dispute.case_id)
    path = CLOSING_PATH.get(case.state)
    with translation.override(settings.LANGUAGE_CODE):
        if path is None:
            if case.is_open:
                case_services.case_note(
                    case=case,
                    actor=actor,
                    comment=translation.gettext(
                        "Dispute %(number)s is settled or handed over; the level holding the case closes it."
                    )
                    % {"number": dispute.number},
                    link=dispute.get_absolute_url(),
                )
            return
        comment = translation.gettext("Settled through mediation: dispute %(number)s (%(status)s, %(who)s).") % {
            "number": dispute.number,
            "status": translation.gettext(Status(dispute.status).label),
            "who": actor.label,
        }
    system = system_actor()
    for action in path:
        case = case_services.case_transition(case=case, action=action, actor=system, comment=comment)


def agreement_scan_upload(*, actor: User, agreement: Agreement, file: Any) -> File:
    """The signed agreement's scan (a photo or a PDF, checked by content and size)."""
    if not file:
        raise ValidationError({"file": _("Choose the scan of the signed agreement.")})
    try:
        (checked,) = attachments.check_files([file])
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc
    with attachments.removed_on_error(), transaction.atomic():
        dispute = _lock(agreement.dispute)
        _require(may_mediate(actor, dispute), _("You may not mediate this dispute."))
        _check(dispute, "scan_upload")
        (row,) = _store(dispute, [checked], actor, agreement=agreement)
        _event(dispute, actor, "scan_upload", dispute.status, agreement=agreement.pk, file=row.original_name)
        _bump(dispute)
        return row


# --- follow-ups ---------------------------------------------------------------------------------------------------


def follow_up_record(
    *, actor: User, follow_up: FollowUp, outcome: str, notes: str = "", expected_version: int | None = None
) -> FollowUp:
    """A follow-up visit: the agreement holds (the 90-day one makes it "held"), or it fell apart (the dispute is
    mediated again, ``fell_apart_count`` + 1, the remaining follow-ups are cancelled)."""
    if outcome not in FollowUpOutcome.values:
        raise ValidationError({"outcome": _("Choose whether the agreement holds.")})
    notes = clean_text(notes, field="notes", max_length=4000)
    if outcome == FollowUpOutcome.FELL_APART and not notes:
        raise ValidationError({"notes": _("Say what happened.")})
    with transaction.atomic():
        dispute = _lock(follow_up.dispute, expected_version)
        follow_up = FollowUp.objects.select_for_update().select_related("agreement").get(pk=follow_up.pk)
        _require(may_mediate(actor, dispute), _("You may not mediate this dispute."))
        if not follow_up.is_open:
            raise ActionNotAllowed(_("This follow-up is already recorded."))
        action = "follow_up_held" if outcome == FollowUpOutcome.HELD else "fell_apart"
        _check(dispute, action)
        now = timezone.now()
        follow_up.outcome, follow_up.notes, follow_up.done_at, follow_up.done_by = outcome, notes, now, actor
        follow_up.save(update_fields=["outcome", "notes", "done_at", "done_by"])
        from_status = dispute.status
        agreement = follow_up.agreement
        fields = ["status"]
        if outcome == FollowUpOutcome.FELL_APART:
            dispute.status = Status.MEDIATING
            dispute.fell_apart_count += 1
            dispute.settled_at = None
            fields += ["fell_apart_count", "settled_at"]
            agreement.state = Agreement.State.FELL_APART
            agreement.save(update_fields=["state"])
            FollowUp.objects.filter(agreement=agreement, outcome="", cancelled=False).update(cancelled=True)
        elif follow_up.days == max(FOLLOW_UP_DAYS):
            dispute.status = Status.HELD
            agreement.state = Agreement.State.HELD
            agreement.save(update_fields=["state"])
        _event(dispute, actor, action, from_status, notes, days=follow_up.days, follow_up=follow_up.pk)
        _bump(dispute, *fields)
        if outcome == FollowUpOutcome.FELL_APART:
            _case_note(
                dispute,
                actor,
                gettext_noop("Dispute %(number)s: the agreement fell apart at the %(days)s-day follow-up."),
                days=follow_up.days,
            )
        return follow_up


FOLLOW_UP_TITLE = gettext_noop("Follow-up due (%(days)s days): %(number)s")
FOLLOW_UP_BODY = gettext_noop("Visit the parties of %(title)s and record whether the agreement holds.")


def follow_ups_sweep(*, now: dt.datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Remind the mediators of every follow-up that fell due and was not yet reminded, however long ago (a run
    after a downtime catches up). Rows are taken with ``FOR UPDATE SKIP LOCKED`` and marked in the same transaction
    as their notices, and each notice carries a unique key (follow-up and mediator): running it twice, or on two
    workers at once, reminds once."""

    now = now or timezone.now()
    done = {"reminded": 0, "notices": 0}
    while True:
        with transaction.atomic():
            rows = list(
                FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("dispute")
                .filter(due_at__lte=now, reminded_at__isnull=True, outcome="", cancelled=False)
                .order_by("due_at", "id")[:batch]
            )
            if not rows:
                return done
            mediators: dict[int, list[User]] = {}
            for link in DisputeMediator.objects.filter(dispute_id__in={r.dispute_id for r in rows}).select_related(
                "user"
            ):
                if link.user.is_active:
                    mediators.setdefault(link.dispute_id, []).append(link.user)
            notices = []
            for f in rows:
                d = f.dispute
                for user in mediators.get(d.pk, []):
                    notices.append(
                        Notice(
                            user,
                            "reminder",
                            in_language_of(user, FOLLOW_UP_TITLE, days=f.days, number=d.number),
                            in_language_of(user, FOLLOW_UP_BODY, title=d.title),
                            link=d.get_absolute_url(),
                            subject=f"{d.number} {d.title}",
                            dedup_key=f"mediation:follow_up:{f.pk}:{user.pk}",
                        )
                    )
            done["notices"] += len(notify_many(notices))
            FollowUp.objects.filter(pk__in=[f.pk for f in rows]).update(reminded_at=now)
            done["reminded"] += len(rows)
        if len(rows) < batch:
            return done


def departments_for(dispute: Dispute):
    """Departments serving the dispute's grid (its street's, its district's, the city's) for an administrative
    mediation handover."""
    paths = [dispute.region.path[: n * Region.steplen] for n in range(1, Level.STREET + 1)]
    return Department.objects.filter(is_active=True).filter(Q(region__path__in=paths)).order_by("region__depth", "name")
