"""Checksums of both codes (valid and invalid samples), and the birth date and gender read from an ID number."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from parties import identity

from .conftest import make_id

VALID_IDS = ["11010519491231002X", make_id("19650308", "123"), make_id("19900715", "124", "440305")]
VALID_USCC = ["91110000600037341L", "913100006073008933", "91110108551385082Q"]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_id_numbers_pass(number):
    assert identity.check_id_number(number).number == number.upper()


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("11010519491231002Y", "check character"),  # not the check character
        ("110105194912310021", "check character"),  # one character off
        ("11010519491231002", "18 characters"),
        ("1101051949123100AX", "17 digits"),
        (make_id("19491331", "002", "110105"), "birth date"),  # month 13
        (make_id("19491231", "002", "999999"), "place"),  # no such county
    ],
)
def test_invalid_id_numbers_are_refused_with_the_reason(number, why):
    with pytest.raises(ValidationError) as exc:
        identity.check_id_number(number)
    assert why in " ".join(exc.value.messages)


def test_birth_date_and_gender_come_from_the_number():
    odd, even = (
        identity.check_id_number(make_id("19650308", "123")),
        identity.check_id_number(make_id("19650308", "122")),
    )
    assert odd.birth_date == date(1965, 3, 8) and odd.gender == "M"
    assert even.gender == "F"
    assert identity.check_agreement(odd, birth_date=date(1965, 3, 8), gender="M") == {}
    mismatch = identity.check_agreement(odd, birth_date=date(1965, 3, 9), gender="F")
    assert set(mismatch) == {"birth_date", "gender"}


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_credit_codes_pass(code):
    assert identity.check_uscc(code) == code


@pytest.mark.parametrize("code", ["91110000600037341M", "9111000060003734", "ABCDEFGHIJKLMNOPQR", "91110108551385082R"])
def test_invalid_credit_codes_are_refused(code):
    with pytest.raises(ValidationError):
        identity.check_uscc(code)


@pytest.mark.parametrize(("raw", "clean"), [("13800001234", "13800001234"), ("+86 138-0000-1234", "13800001234")])
def test_mainland_mobiles(raw, clean):
    assert identity.check_mobile(raw) == clean


@pytest.mark.parametrize("raw", ["12800001234", "1380000123", "02812345678", "abc"])
def test_not_mobiles(raw):
    with pytest.raises(ValidationError):
        identity.check_mobile(raw)


def test_masks():
    assert identity.mask_id("11010519491231002X") == "1101**********002X"
    assert identity.mask_phone("13812345678") == "138****5678"
