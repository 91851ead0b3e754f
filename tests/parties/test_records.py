"""Residents and organisations through the services: encryption at rest, search through the keyed hash, the ID
number's agreement with the record, duplicates, moves, and audit rows without a whole number."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from grids.models import AuditLog
from parties import crypto, selectors, services
from parties.models import Organisation, Residence, Resident

from .conftest import make_id

pytestmark = pytest.mark.postgres


def raw_row(table: str, pk: int) -> str:
    """Everything PostgreSQL stores for the row, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t::text FROM {table} t WHERE id = %s", [pk])  # noqa: S608 - our table names
        return cursor.fetchone()[0]


def test_numbers_are_encrypted_at_rest(world):
    number = make_id("19650308", "123")
    row = raw_row("parties_resident", world.head.pk)
    assert number not in row and "13800001234" not in row
    assert number[:6] + number[6:14] not in row  # not even the first 14 digits together
    stored = Resident.objects.get(pk=world.head.pk)
    assert stored.id_number_enc.startswith("gAAAA")  # a Fernet token
    assert crypto.decrypt(stored.id_number_enc) == number
    assert stored.id_number_mask == f"{number[:4]}**********{number[-4:]}"
    assert stored.phone_mask == "138****1234"
    org_row = raw_row("parties_organisation", world.organisation.pk)
    assert "13700001111" not in org_row


def test_audit_rows_hold_masks_only(world):
    texts = [str(a.data) for a in AuditLog.objects.filter(target_type__in=["resident", "organisation"])]
    assert texts
    for text in texts:
        assert make_id("19650308", "123") not in text and "13800001234" not in text and "13700001111" not in text


def test_search_by_exact_id_number_uses_the_hash(world, django_assert_max_num_queries):
    number = make_id("19650308", "123")
    with django_assert_max_num_queries(3):
        found = selectors.resident_search(user=world.community, q=number)
    assert [r.pk for r in found] == [world.head.pk]
    assert selectors.resident_search(user=world.community, q=number.lower().replace("x", "x")) == found
    assert [r.pk for r in selectors.resident_search(user=world.community, q="13900005678")] == [world.spouse.pk]
    assert [r.pk for r in selectors.resident_search(user=world.community, q=number[-4:])] == [world.head.pk]
    assert [r.pk for r in selectors.resident_search(user=world.community, q="李秀")] == [world.spouse.pk]
    # Someone elsewhere finds nobody, even with the whole number.
    assert selectors.resident_search(user=world.outsider, q=number) == []


def test_birth_date_and_gender_must_agree_with_the_id_number(world):
    with pytest.raises(ValidationError) as exc:
        services.resident_save(
            actor=world.worker,
            household=world.household,
            name="王小明",
            id_number=make_id("20150601", "131"),
            birth_date=date(2015, 6, 2),
            gender="F",
        )
    assert set(exc.value.message_dict) == {"birth_date", "gender"}
    child = services.resident_save(
        actor=world.worker, household=world.household, name="王小明", id_number=make_id("20150601", "131")
    )
    assert child.birth_date == date(2015, 6, 1) and child.gender == "M"


def test_a_bad_check_character_is_refused(world):
    number = make_id("19900715", "124")
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(ValidationError) as exc:
        services.resident_save(actor=world.worker, household=world.household, name="错号", id_number=wrong)
    assert "check character" in " ".join(exc.value.message_dict["id_number"])
    assert not Resident.objects.filter(name="错号").exists()


def test_the_same_id_number_cannot_be_entered_twice(world):
    with pytest.raises(ValidationError) as exc:
        services.resident_save(
            actor=world.worker, household=world.household, name="重复", id_number=make_id("19650308", "123")
        )
    assert "already on record" in " ".join(exc.value.message_dict["id_number"])
    # Someone who may not see the holder is not told who it is.
    other = services.household_save(actor=world.actor, region=world.city.g2111, address="远方路1号")
    from tests.factories import UserFactory, grant_role

    stranger = UserFactory(username="stranger")
    grant_role(stranger, "grid_worker", world.city.g2111, actor=world.actor)
    with pytest.raises(ValidationError) as exc:
        services.resident_save(actor=stranger, household=other, name="重复", id_number=make_id("19650308", "123"))
    assert "张建国" not in str(exc.value) and "you may not see" in str(exc.value)


def test_phone_must_be_a_mainland_mobile(world):
    with pytest.raises(ValidationError) as exc:
        services.resident_save(actor=world.worker, household=world.household, name="座机", phone="028-12345678")
    assert "phone" in exc.value.message_dict


def test_nul_characters_are_refused(world):
    with pytest.raises(ValidationError):
        services.resident_save(actor=world.worker, household=world.household, name="a\x00b")
    with pytest.raises(ValidationError):
        services.household_save(actor=world.worker, region=world.city.g1111, address="x\x00y")


def test_moves_keep_their_history(world):
    other = services.household_save(
        actor=world.worker, region=world.city.g1111, building=world.building, unit="2", room="301"
    )
    services.resident_move(
        actor=world.worker, resident=world.spouse, household=other, relation="head", on=date(2024, 1, 2)
    )
    services.resident_move(actor=world.worker, resident=world.spouse, household=None, on=date(2024, 6, 1))
    spouse = Resident.objects.get(pk=world.spouse.pk)
    assert spouse.household is None and spouse.moved_out_on == date(2024, 6, 1)
    stays = list(Residence.objects.filter(resident=spouse).order_by("id").values_list("household_id", "moved_out_on"))
    assert stays == [(world.household.pk, date(2024, 1, 2)), (other.pk, date(2024, 6, 1))]
    world.household.refresh_from_db()
    other.refresh_from_db()
    assert world.household.member_count == 1 and other.member_count == 0


def test_credit_code_checked_and_unique(world):
    with pytest.raises(ValidationError) as exc:
        services.organisation_save(actor=world.worker, region=world.city.g1111, name="错码", uscc="91110000600037341M")
    assert "uscc" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.organisation_save(actor=world.worker, region=world.city.g1111, name="重码", uscc="91110000600037341L")
    assert Organisation.objects.count() == 1


def test_writes_need_the_permission_where_the_record_is(world):
    with pytest.raises(PermissionDenied):
        services.household_save(actor=world.outsider, region=world.city.g1111, address="x")
    with pytest.raises(PermissionDenied):
        services.resident_save(actor=world.dispatcher, resident=world.head, name="改名")
