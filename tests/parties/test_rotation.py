"""Key rotation: tokens are re-encrypted under the new first key in batches; a new HMAC key is applied by rehashing;
the search by a whole number works afterwards."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command

from cases import case_parties
from cases.models import CaseParty
from parties import crypto, selectors, visits
from parties.models import Organisation, Resident

from . import conftest as parties_conftest
from .conftest import make_id

pytestmark = pytest.mark.postgres
world = parties_conftest.world


@pytest.fixture
def category(db):
    from cases.models import Category

    return Category.objects.get(code="csgl-zdjy")


@pytest.fixture
def fresh_keys(settings):
    yield settings
    crypto.clear_cache()


def test_rotation_re_encrypts_everything_under_the_new_key(world, fresh_keys, category):
    free = case_parties.case_party_add(
        actor=world.worker,
        case=case_parties.case_open_from_visit(
            actor=world.worker,
            visit=visits.visit_record(actor=world.worker, household=world.household),
            category=category,
        ),
        role="respondent",
        name="摊主",
        phone="13655556666",
    )
    old = fresh_keys.GOVGRID_FIELD_KEYS[0]
    new = Fernet.generate_key().decode()
    fresh_keys.GOVGRID_FIELD_KEYS = [new, old]
    crypto.clear_cache()
    assert crypto.decrypt(Resident.objects.get(pk=world.head.pk).id_number_enc) == make_id("19650308", "123")
    out = StringIO()
    call_command("rotate_personal_data", "--dry-run", stdout=out)
    assert "would change" in out.getvalue()
    assert not crypto.is_current(Resident.objects.get(pk=world.head.pk).id_number_enc)  # a dry run changes nothing
    call_command("rotate_personal_data", "--batch", "1", stdout=out)
    only_new = Fernet(new.encode())
    for token in [
        *Resident.objects.values_list("id_number_enc", flat=True),
        *Resident.objects.exclude(phone_enc="").values_list("phone_enc", flat=True),
        *Organisation.objects.values_list("contact_phone_enc", flat=True),
        CaseParty.objects.get(pk=free.pk).phone_enc,
    ]:
        if token:
            only_new.decrypt(token.encode())  # raises if any was left under the old key
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(Resident.objects.get(pk=world.head.pk).id_number_enc.encode())
    out = StringIO()
    call_command("rotate_personal_data", stdout=out)
    assert "Nothing left to rotate" in out.getvalue()
    fresh_keys.GOVGRID_FIELD_KEYS = [new]  # the old key can go
    crypto.clear_cache()
    assert crypto.decrypt(Resident.objects.get(pk=world.spouse.pk).phone_enc) == "13900005678"


def test_a_new_hmac_key_is_applied_by_rehashing(world, fresh_keys):
    number = make_id("19650308", "123")
    fresh_keys.GOVGRID_HMAC_KEY = "another-hmac-key-" + "z" * 30
    assert selectors.resident_search(user=world.community, q=number) == []  # hashes of the old key
    call_command("rotate_personal_data", "--rehash", stdout=StringIO())
    assert [r.pk for r in selectors.resident_search(user=world.community, q=number)] == [world.head.pk]
    assert [r.pk for r in selectors.resident_search(user=world.community, q="13900005678")] == [world.spouse.pk]
