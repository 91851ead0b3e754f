"""Every write of households, residents, buildings and organisations, and every unmasked view of personal data.

One keyword-only function per use case, in one transaction, checked through grids.access and audited with
grids.services.audit in the same transaction. Audit rows carry masks, never a whole ID or phone number. Party
organisations, members and 包联 are in party.py; visits in visits.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from grids import access
from grids.codes import Level
from grids.models import Region
from grids.services import audit

from . import crypto, identity
from .models import (
    AccessLog,
    Building,
    Gender,
    Household,
    HouseholdKind,
    Keeping,
    Organisation,
    OrganisationKind,
    PartyMember,
    PartyOrg,
    PersonalField,
    Relation,
    Residence,
    Resident,
    Tag,
    Visit,
)

if TYPE_CHECKING:
    from grids.models import User

VIEW = "parties.view_household"
CHANGE = "parties.change_household"
PERSONAL = "parties.view_personal_data"
NUL = "\x00"


def require(actor: Any, perm: str, obj: Any) -> None:
    if not access.user_can(actor, perm, obj):
        raise PermissionDenied(_("You do not have the permission “%(perm)s” here.") % {"perm": perm})


def clean_text(value: Any, *, field: str, max_length: int, required: bool = False, label: str = "") -> str:
    """Trimmed text; refuses NUL characters and over-long values with a message on ``field``."""
    text = str(value or "").strip()
    if NUL in text:
        raise ValidationError({field: _("The text contains a NUL character; remove it.")})
    if required and not text:
        raise ValidationError({field: label or _("This field is required.")})
    if len(text) > max_length:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": max_length}})
    return text


def _grid(region: Region, field: str = "region") -> Region:
    if region.depth != Level.GRID:
        raise ValidationError({field: _("Households and organisations belong to a grid.")})
    if not region.is_active:
        raise ValidationError({field: _("%(name)s is retired and accepts no new records.") % {"name": region.name}})
    return region


_DIGITS = re.compile(r"\d+")


def natural_key(text: str) -> str:
    """Numbers padded to six digits, so 2栋 sorts before 10栋 and room 501 before 1201."""
    return _DIGITS.sub(lambda m: m.group(0).zfill(6), (text or "").strip())[:60]


def _household_sort_key(building: Building | None, unit: str, room: str, address: str) -> str:
    return "|".join(
        [building.sort_key if building else "~", natural_key(unit), natural_key(room), natural_key(address)]
    )[:120]


def _tags(tags: Iterable[Tag], kind: str) -> list[Tag]:
    chosen = list(tags or [])
    wrong = [t.name for t in chosen if t.kind != kind]
    if wrong:
        raise ValidationError({"tags": _("Tags of another kind: %(names)s") % {"names": ", ".join(wrong)}})
    return chosen


def _recount_members(household_ids: Iterable[int]) -> None:
    """Keep ``Household.member_count``: one UPDATE per 5,000 households (a subquery counts the living)."""
    ids = sorted({pk for pk in household_ids if pk})
    living = (
        Resident.objects.filter(household=OuterRef("pk"), deceased_on__isnull=True)
        .order_by()
        .values("household")
        .annotate(n=Count("id"))
        .values("n")
    )
    for start in range(0, len(ids), 5000):
        Household.objects.filter(pk__in=ids[start : start + 5000]).update(
            member_count=Coalesce(Subquery(living[:1]), 0)
        )


# --- buildings ----------------------------------------------------------------------------------------------


def building_save(
    *, actor: User, region: Region, name: str, address: str = "", building: Building | None = None
) -> Building:
    """Add a building to a grid, or rename one."""
    name = clean_text(name, field="name", max_length=60, required=True, label=_("A name is required."))
    address = clean_text(address, field="address", max_length=200)
    with transaction.atomic():
        if building is not None:
            building = Building.objects.select_for_update(of=("self",)).select_related("region").get(pk=building.pk)
            region = building.region
        require(actor, CHANGE, region)
        _grid(region)
        if Building.objects.filter(region=region, name=name).exclude(pk=getattr(building, "pk", None)).exists():
            raise ValidationError({"name": _("%(name)s is already a building of this grid.") % {"name": name}})
        old = {"name": building.name, "address": building.address} if building else {}
        building = building or Building(region=region)
        building.name, building.address, building.sort_key = name, address, natural_key(name)
        building.save()
        audit(
            actor=actor,
            action="building.update" if old else "building.create",
            target=building,
            region=region,
            old=old,
            new={"name": name, "address": address},
        )
        # The households' order follows the building's name.
        for household in Household.objects.filter(building=building).select_related("building"):
            key = _household_sort_key(building, household.unit, household.room, household.address)
            if key != household.sort_key:
                Household.objects.filter(pk=household.pk).update(sort_key=key)
        return building


# --- households ---------------------------------------------------------------------------------------------


def household_save(
    *,
    actor: User,
    region: Region | None = None,
    household: Household | None = None,
    building: Building | None = None,
    unit: str = "",
    floor: int | None = None,
    room: str = "",
    address: str = "",
    kind: str = HouseholdKind.RESIDENT,
    tags: Iterable[Tag] = (),
    notes: str = "",
) -> Household:
    """Add a household to a grid (``region``) or edit one; the address is a building of the grid and a unit and
    room, or a free address line."""
    unit = clean_text(unit, field="unit", max_length=10)
    room = clean_text(room, field="room", max_length=20)
    address = clean_text(address, field="address", max_length=200)
    notes = clean_text(notes, field="notes", max_length=4000)
    if kind not in HouseholdKind.values:
        raise ValidationError({"kind": _("Choose the kind of household.")})
    if floor is not None and not -10 <= floor <= 200:
        raise ValidationError({"floor": _("A floor between -10 and 200.")})
    with transaction.atomic():
        if household is not None:
            household = Household.objects.select_for_update(of=("self",)).select_related("region").get(pk=household.pk)
            region = household.region
        if region is None:
            raise ValidationError({"region": _("Choose the grid.")})
        require(actor, CHANGE, region)
        if household is None:
            _grid(region)
        if building is not None and building.region_id != region.pk:
            raise ValidationError({"building": _("Choose a building of this grid.")})
        if building is None and not address:
            raise ValidationError({"address": _("Choose a building or write the address.")})
        if building is not None and not room and not address:
            raise ValidationError({"room": _("Give the room number (or an address line).")})
        duplicate = Household.objects.filter(
            region=region, building=building, unit=unit, room=room, address=address, is_active=True
        ).exclude(pk=getattr(household, "pk", None))
        if duplicate.exists():
            raise ValidationError(_("This address is already a household of the grid."))
        old = (
            {
                "address": household.label,
                "kind": household.kind,
                "tags": sorted(household.tags.values_list("code", flat=True)),
            }
            if household
            else {}
        )
        household = household or Household(region=region)
        household.building, household.unit, household.floor, household.room = building, unit, floor, room
        household.address, household.kind, household.notes = address, kind, notes
        household.sort_key = _household_sort_key(building, unit, room, address)
        household.save()
        chosen = _tags(tags, "household")
        household.tags.set(chosen)
        audit(
            actor=actor,
            action="household.update" if old else "household.create",
            target=household,
            region=region,
            old=old,
            new={"address": household.label, "kind": kind, "tags": sorted(t.code for t in chosen)},
        )
        return household


# --- residents ----------------------------------------------------------------------------------------------


def _personal(kind: str, value: str) -> dict[str, str]:
    """The token, hash and mask of a normalised value (all empty for no value)."""
    mask = identity.mask_id(value) if kind == "id" else identity.mask_phone(value)
    return {"enc": crypto.encrypt(value), "hash": crypto.digest(kind, value), "mask": mask}


def _holder_name(actor: Any, resident: Resident) -> str:
    """Who holds a duplicate ID number, named only when the actor may see them."""
    if access.user_can(actor, VIEW, resident):
        return _("%(name)s in %(grid)s") % {"name": resident.name, "grid": resident.region.name}
    return _("a resident you may not see")


def resident_save(
    *,
    actor: User,
    resident: Resident | None = None,
    household: Household | None = None,
    name: str,
    gender: str = "",
    birth_date: date | None = None,
    id_number: str | None = None,
    phone: str | None = None,
    relation: str = "",
    tags: Iterable[Tag] = (),
    moved_in_on: date | None = None,
    notes: str = "",
) -> Resident:
    """Add a resident to a household, or edit one. ``id_number`` / ``phone`` None keep what is stored.

    The ID number is checked (GB 11643 check character, birth date and place); the record's birth date and gender
    must agree with it (they are filled from it when left empty); the phone must be a mainland mobile number.
    """
    name = clean_text(name, field="name", max_length=50, required=True, label=_("A name is required."))
    notes = clean_text(notes, field="notes", max_length=4000)
    errors: dict[str, Any] = {}
    if gender and gender not in Gender.values:
        errors["gender"] = _("Choose male or female.")
    if relation and relation not in Relation.values:
        errors["relation"] = _("Choose the relation to the head of the household.")
    checked_id = None
    if id_number is not None and id_number.strip():
        if NUL in id_number:
            errors["id_number"] = _("The text contains a NUL character; remove it.")
        else:
            try:
                checked_id = identity.check_id_number(id_number)
            except ValidationError as exc:
                errors["id_number"] = exc.messages
    if checked_id is not None and "gender" not in errors:
        errors.update(identity.check_agreement(checked_id, birth_date=birth_date, gender=gender))
        birth_date = birth_date or checked_id.birth_date
        gender = gender or checked_id.gender
    if birth_date is not None and birth_date > timezone.localdate():
        errors["birth_date"] = _("The birth date is in the future.")
    clean_phone = None
    if phone is not None and phone.strip():
        try:
            clean_phone = identity.check_mobile(phone)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if resident is not None:
            resident = Resident.objects.select_for_update(of=("self",)).select_related("region").get(pk=resident.pk)
            require(actor, CHANGE, resident)
            if checked_id is None and resident.id_number_enc and resident.birth_date != birth_date and birth_date:
                # The stored number still speaks for the birth date and gender.
                stored = identity.check_id_number(crypto.decrypt(resident.id_number_enc))
                agreement = identity.check_agreement(stored, birth_date=birth_date, gender=gender)
                if agreement:
                    raise ValidationError(agreement)
        else:
            if household is None:
                raise ValidationError({"household": _("Choose the household.")})
            household = Household.objects.select_for_update(of=("self",)).select_related("region").get(pk=household.pk)
            require(actor, CHANGE, household)
            if not household.region.is_active:
                raise ValidationError(
                    _("%(name)s is retired and accepts no new records.") % {"name": household.region.name}
                )
            resident = Resident(region=household.region, household=household)
        fields: dict[str, Any] = {}
        if checked_id is not None:
            values = _personal("id", checked_id.number)
            taken = (
                Resident.objects.filter(id_number_hash=values["hash"])
                .exclude(id_number_hash="")
                .exclude(pk=resident.pk)
                .select_related("region")
                .first()
            )
            if taken is not None:
                raise ValidationError(
                    {
                        "id_number": _("This ID number is already on record: %(who)s.")
                        % {"who": _holder_name(actor, taken)}
                    }
                )
            fields.update(id_number_enc=values["enc"], id_number_hash=values["hash"], id_number_mask=values["mask"])
        if clean_phone is not None:
            values = _personal("phone", clean_phone)
            fields.update(phone_enc=values["enc"], phone_hash=values["hash"], phone_mask=values["mask"])
        creating = resident.pk is None
        old = (
            {}
            if creating
            else {
                "name": resident.name,
                "gender": resident.gender,
                "birth_date": str(resident.birth_date or ""),
                "id_number": resident.id_number_mask,
                "phone": resident.phone_mask,
                "relation": resident.relation,
            }
        )
        resident.name, resident.gender, resident.birth_date = name, gender, birth_date
        resident.relation, resident.notes = relation, notes
        if creating:
            resident.moved_in_on = moved_in_on
        for key, value in fields.items():
            setattr(resident, key, value)
        try:
            with transaction.atomic():
                resident.save()
        except IntegrityError as exc:  # the same number saved at the same moment by someone else
            raise ValidationError({"id_number": _("This ID number is already on record.")}) from exc
        chosen = _tags(tags, "resident")
        resident.tags.set(chosen)
        if creating:
            Residence.objects.create(resident=resident, household=household, relation=relation, moved_in_on=moved_in_on)
            _recount_members([household.pk])
        elif resident.household_id:
            Residence.objects.filter(resident=resident, moved_out_on__isnull=True).update(relation=relation)
        new = {
            "name": name,
            "gender": gender,
            "birth_date": str(birth_date or ""),
            "id_number": resident.id_number_mask,
            "phone": resident.phone_mask,
            "relation": relation,
            "tags": sorted(t.code for t in chosen),
        }
        audit(
            actor=actor,
            action="resident.create" if creating else "resident.update",
            target=resident,
            region=resident.region,
            old=old,
            new=new,
        )
        return resident


def resident_move(
    *,
    actor: User,
    resident: Resident,
    household: Household | None,
    on: date | None = None,
    relation: str = "",
    note: str = "",
) -> Resident:
    """Move a resident to another household (迁入), or out of the grid's records (迁出) when ``household`` is None.

    The stay that ends keeps its dates (the history of moves); the resident record, its visits and the cases that
    name it stay the same row.
    """
    on = on or timezone.localdate()
    note = clean_text(note, field="note", max_length=200)
    if relation and relation not in Relation.values:
        raise ValidationError({"relation": _("Choose the relation to the head of the household.")})
    if on > timezone.localdate():
        raise ValidationError({"on": _("The date of a move cannot be in the future.")})
    with transaction.atomic():
        resident = Resident.objects.select_for_update(of=("self",)).select_related("region").get(pk=resident.pk)
        require(actor, CHANGE, resident)
        if resident.deceased_on:
            raise ValidationError(_("%(name)s is recorded as deceased.") % {"name": resident.name})
        old_household_id = resident.household_id
        if household is not None:
            household = Household.objects.select_related("region").get(pk=household.pk)
            require(actor, CHANGE, household)
            if household.pk == old_household_id:
                raise ValidationError({"household": _("%(name)s already lives there.") % {"name": resident.name}})
            if not household.region.is_active:
                raise ValidationError({"household": _("That grid is retired.")})
        elif old_household_id is None:
            raise ValidationError(_("%(name)s has already moved out.") % {"name": resident.name})
        Residence.objects.filter(resident=resident, moved_out_on__isnull=True).update(moved_out_on=on, note=note)
        if household is not None:
            Residence.objects.create(
                resident=resident, household=household, relation=relation, moved_in_on=on, note=note
            )
            resident.household, resident.region, resident.relation = household, household.region, relation
            resident.moved_in_on, resident.moved_out_on = on, None
        else:
            resident.household, resident.moved_out_on, resident.relation = None, on, ""
        resident.save()
        _recount_members([old_household_id, household.pk if household else None])
        audit(
            actor=actor,
            action="resident.move" if household else "resident.move_out",
            target=resident,
            region=resident.region,
            old_household=old_household_id,
            new_household=household.pk if household else None,
            on=on.isoformat(),
        )
        return resident


def resident_set_deceased(*, actor: User, resident: Resident, on: date) -> Resident:
    if on > timezone.localdate():
        raise ValidationError({"on": _("The date cannot be in the future.")})
    with transaction.atomic():
        resident = Resident.objects.select_for_update(of=("self",)).select_related("region").get(pk=resident.pk)
        require(actor, CHANGE, resident)
        if resident.deceased_on:
            raise ValidationError(_("%(name)s is already recorded as deceased.") % {"name": resident.name})
        resident.deceased_on = on
        resident.save(update_fields=["deceased_on", "updated_at"])
        _recount_members([resident.household_id])
        audit(actor=actor, action="resident.deceased", target=resident, region=resident.region, on=on.isoformat())
        return resident


# --- organisations ------------------------------------------------------------------------------------------


def organisation_save(
    *,
    actor: User,
    organisation: Organisation | None = None,
    region: Region | None = None,
    name: str,
    uscc: str = "",
    kind: str = OrganisationKind.ENTERPRISE,
    building: Building | None = None,
    address: str = "",
    legal_representative: str = "",
    contact_name: str = "",
    contact_phone: str | None = None,
    tags: Iterable[Tag] = (),
    notes: str = "",
    is_active: bool = True,
) -> Organisation:
    """Add an organisation to a grid or edit one; the credit code is checked (GB 32100) and unique."""
    errors: dict[str, Any] = {}
    name = clean_text(name, field="name", max_length=120, required=True, label=_("A name is required."))
    address = clean_text(address, field="address", max_length=200)
    legal_representative = clean_text(legal_representative, field="legal_representative", max_length=50)
    contact_name = clean_text(contact_name, field="contact_name", max_length=50)
    notes = clean_text(notes, field="notes", max_length=4000)
    code = ""
    if uscc and uscc.strip():
        try:
            code = identity.check_uscc(clean_text(uscc, field="uscc", max_length=30))
        except ValidationError as exc:
            errors["uscc"] = exc.messages
    if kind not in OrganisationKind.values:
        errors["kind"] = _("Choose the kind of organisation.")
    phone = None
    if contact_phone is not None and contact_phone.strip():
        try:
            phone = identity.check_mobile(contact_phone)
        except ValidationError as exc:
            errors["contact_phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if organisation is not None:
            organisation = (
                Organisation.objects.select_for_update(of=("self",)).select_related("region").get(pk=organisation.pk)
            )
            region = organisation.region
        if region is None:
            raise ValidationError({"region": _("Choose the grid.")})
        require(actor, CHANGE, region)
        if organisation is None:
            _grid(region)
        if building is not None and building.region_id != region.pk:
            raise ValidationError({"building": _("Choose a building of this grid.")})
        if code:
            taken = Organisation.objects.filter(uscc=code).exclude(pk=getattr(organisation, "pk", None)).first()
            if taken is not None:
                who = taken.name if access.user_can(actor, VIEW, taken) else _("an organisation you may not see")
                raise ValidationError({"uscc": _("This code is already on record: %(who)s.") % {"who": who}})
        old = (
            {"name": organisation.name, "uscc": organisation.uscc, "contact_phone": organisation.contact_phone_mask}
            if organisation
            else {}
        )
        organisation = organisation or Organisation(region=region)
        organisation.name, organisation.uscc, organisation.kind, organisation.building = name, code, kind, building
        organisation.address, organisation.legal_representative = address, legal_representative
        organisation.contact_name, organisation.notes, organisation.is_active = contact_name, notes, is_active
        if phone is not None:
            values = _personal("phone", phone)
            organisation.contact_phone_enc = values["enc"]
            organisation.contact_phone_hash = values["hash"]
            organisation.contact_phone_mask = values["mask"]
        try:
            with transaction.atomic():
                organisation.save()
        except IntegrityError as exc:
            raise ValidationError({"uscc": _("This code is already on record.")}) from exc
        chosen = _tags(tags, "organisation")
        organisation.tags.set(chosen)
        audit(
            actor=actor,
            action="organisation.update" if old else "organisation.create",
            target=organisation,
            region=region,
            old=old,
            new={"name": name, "uscc": code, "contact_phone": organisation.contact_phone_mask, "active": is_active},
        )
        return organisation


# --- personal data: unmasked views ----------------------------------------------------------------------------

REVEALABLE = {
    (Resident, PersonalField.ID_NUMBER): "id_number_enc",
    (Resident, PersonalField.PHONE): "phone_enc",
    (Organisation, PersonalField.CONTACT_PHONE): "contact_phone_enc",
}


def access_log_record(
    *,
    actor: User,
    region: Region,
    target_type: str,
    target_id: int | None,
    label: str,
    field: str,
    rows: int = 1,
) -> AccessLog:
    """Write one row of the personal data access log (also used by cases for the people a case names)."""
    return AccessLog.objects.create(
        user=actor,
        region=region,
        target_type=target_type,
        target_id=target_id,
        target_label=label[:200],
        field=field,
        rows=rows,
    )


# --- parties named by records above parties (a case's, a dispute's) ----------------------------------------------


def named_party_fields(
    *, resident: Resident | None, organisation: Organisation | None, name: str, phone: str
) -> dict[str, str]:
    """The checked fields of a party that a record of an app above names: a resident or an organisation on record,
    or a person typed free (a name, and a mainland mobile stored encrypted, hashed and masked). Raises
    ValidationError with the field's message."""
    if resident is not None and organisation is not None:
        raise ValidationError(_("Choose a resident or an organisation, not both."))
    name = clean_text(name, field="name", max_length=120)
    number = ""
    if resident is None and organisation is None:
        if not name:
            raise ValidationError({"name": _("Choose someone on record or type the name.")})
        if phone and phone.strip():
            try:
                number = identity.check_mobile(phone)
            except ValidationError as exc:
                raise ValidationError({"phone": exc.messages}) from exc
    else:
        name = ""
    return {
        "name": name,
        "phone_enc": crypto.encrypt(number),
        "phone_hash": crypto.digest("phone", number),
        "phone_mask": identity.mask_phone(number),
    }


def require_records_seen(actor: User, *records: Resident | Organisation | None) -> None:
    """A record named as a party must be one the actor may see (else it is as if it did not exist)."""
    for record in records:
        if record is not None and not access.user_can(actor, "parties.view_household", record):
            raise ValidationError(_("No such record that you may see."))


def named_party_phone_reveal(*, actor: User, party: Any, region: Region, target_type: str, label: str) -> str:
    """The whole phone number of a party typed free (``party.phone_enc``), for a holder of
    ``parties.view_personal_data`` on ``region`` (the grid of the case or dispute that names it); one access log row.
    A party on record shows its number on the record's own page."""
    if party.resident_id or party.organisation_id:
        raise ValidationError(_("The number lives on the record: show it there."))
    if not access.user_can(actor, "parties.view_personal_data", region):
        raise PermissionDenied(_("You may not see whole phone numbers here."))
    value = crypto.decrypt(party.phone_enc)
    if value:
        access_log_record(
            actor=actor, region=region, target_type=target_type, target_id=party.pk, label=label, field="phone"
        )
    return value


def personal_data_reveal(*, actor: User, record: Resident | Organisation, field: str) -> str:
    """The whole value of one field, for a holder of ``parties.view_personal_data`` on the record's grid or above;
    writes one access log row in the same transaction."""
    attr = REVEALABLE.get((type(record), field))
    if attr is None:
        raise ValidationError(_("This field cannot be shown."))
    with transaction.atomic():
        record = type(record).objects.select_related("region").get(pk=record.pk)
        require(actor, PERSONAL, record)
        value = crypto.decrypt(getattr(record, attr))
        if not value:
            return ""
        access_log_record(
            actor=actor,
            region=record.region,
            target_type=type(record).__name__.lower(),
            target_id=record.pk,
            label=str(record),
            field=field,
        )
        return value


# --- grids merged or split: the records follow ----------------------------------------------------------------


def records_transfer(*, actor: User, source: Region, target: Region) -> dict[str, int]:
    """Move every record of grid ``source`` to grid ``target`` (a merge of two grids, before ``source`` is
    retired): buildings, households, residents, organisations, visits, and the party organisations serving it.

    Rows keep their ids, so 包联, visits, the access log and the cases that name a person stay attached.
    """
    with transaction.atomic():
        source, target = Region.objects.get(pk=source.pk), Region.objects.get(pk=target.pk)
        require(actor, CHANGE, source)
        require(actor, CHANGE, target)
        require(actor, "parties.manage_party", source)
        require(actor, "parties.manage_party", target)
        if source.depth != Level.GRID or target.depth != Level.GRID:
            raise ValidationError({"target": _("Records move from one grid to another.")})
        if source.pk == target.pk:
            raise ValidationError({"target": _("Choose another grid.")})
        if not target.is_active:
            raise ValidationError({"target": _("%(name)s is retired.") % {"name": target.name}})
        clashes = set(Building.objects.filter(region=source).values_list("name", flat=True)) & set(
            Building.objects.filter(region=target).values_list("name", flat=True)
        )
        if clashes:
            raise ValidationError(
                {
                    "target": _("Both grids have buildings named %(names)s: rename one first.")
                    % {"names": ", ".join(sorted(clashes)[:5])}
                }
            )
        moved = {
            "buildings": Building.objects.filter(region=source).update(region=target),
            "households": Household.objects.filter(region=source).update(region=target),
            "residents": Resident.objects.filter(region=source).update(region=target),
            "organisations": Organisation.objects.filter(region=source).update(region=target),
            "visits": Visit.objects.filter(region=source).update(region=target),
            "party_orgs": PartyOrg.objects.filter(region=source).update(region=target),
            "party_members": PartyMember.objects.filter(region=source).update(region=target),
        }
        audit(
            actor=actor,
            action="parties.transfer",
            target=source,
            region=target,
            source=source.code,
            destination=target.code,
            **moved,
        )
        return moved


def keeping_counts(member_ids: Iterable[int]) -> None:
    """Recount the 包联 of members (after bulk changes such as an import)."""
    ids = list(set(member_ids))
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        counts = {
            row["member_id"]: row
            for row in Keeping.objects.filter(member_id__in=chunk)
            .values("member_id")
            .annotate(h=Count("household"), o=Count("organisation"))
        }
        for pk in chunk:
            row = counts.get(pk, {"h": 0, "o": 0})
            PartyMember.objects.filter(pk=pk).update(household_count=row["h"], organisation_count=row["o"])


def last_visits(household_ids: Iterable[int]) -> None:
    """Recompute the last visit date of households (after visits were moved or removed in bulk)."""
    ids = list(set(household_ids))
    latest = dict(
        Visit.objects.filter(household_id__in=ids)
        .values_list("household_id")
        .annotate(last=Max("visited_on"))
        .values_list("household_id", "last")
    )
    for pk in ids:
        Household.objects.filter(pk=pk).update(last_visited_on=latest.get(pk))


def living(rows):
    """Residents who live in a household now."""
    return rows.filter(Q(household__isnull=False) & Q(deceased_on__isnull=True))
