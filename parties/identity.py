"""Checks and masks of identity numbers (pure: no database).

- 居民身份证 (GB 11643): 18 characters with the check character, read with python-stdnum's ``stdnum.cn.ric``; the
  birth date is digits 7–14 and the gender the parity of digit 17 (odd: male).
- 统一社会信用代码 (GB 32100): ``stdnum.cn.uscc``.
- Mainland mobile numbers: 11 digits beginning with 1 and 3–9, optionally with +86/86 in front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc
from stdnum.util import isdigits

MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class IdNumber:
    number: str  # compact, upper case
    birth_date: date
    gender: str  # "M" or "F"


@lru_cache(maxsize=8192)
def _place_known(area: str) -> bool:
    """Is ``area`` a county-level code of stdnum's table (cached: imports check 100,000s of rows)?

    ``ric.validate`` also wants the code to have existed in the birth year, but a card carries the code of the
    place of registration when it was issued, so people born before their county got its code (most people over
    forty in a newer district) would be refused: any year will do here.
    """
    from stdnum import numdb

    return any("county" in props for _part, props in numdb.get("cn/loc").info(area))


PLAIN = re.compile(r"^[0-9]{17}[0-9Xx]$")


def _birth(number: str) -> date:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise stdnum_errors.InvalidComponent() from exc


def _validate(raw: str) -> str:
    """``ric.validate``'s checks in its order (length, digits, check character, birth date, place code).

    A number typed plainly skips stdnum's general clean-up (the bulk of the time when 100,000 rows are imported).
    """
    number = raw.upper() if PLAIN.match(raw) else ric.compact(raw)
    if len(number) != 18:
        raise stdnum_errors.InvalidLength()
    if not isdigits(number[:-1]):
        raise stdnum_errors.InvalidFormat()
    if number[-1] != ric.calc_check_digit(number):
        raise stdnum_errors.InvalidChecksum()
    _birth(number)
    if not _place_known(number[:6]):
        raise stdnum_errors.InvalidComponent()
    return number


def check_id_number(value: str) -> IdNumber:
    """The ID number normalised with its birth date and gender, or a ValidationError saying what is wrong."""
    raw = (value or "").strip()
    try:
        number = _validate(raw)
    except stdnum_errors.InvalidLength as exc:
        raise ValidationError(_("An ID number has 18 characters.")) from exc
    except stdnum_errors.InvalidFormat as exc:
        raise ValidationError(_("An ID number has 17 digits and a last digit or X.")) from exc
    except stdnum_errors.InvalidChecksum as exc:
        raise ValidationError(_("The ID number's check character is wrong: a character was mistyped.")) from exc
    except stdnum_errors.ValidationError as exc:
        raise ValidationError(_("The ID number holds no valid birth date or place of registration.")) from exc
    birth = _birth(number)
    if birth > date.today():
        raise ValidationError(_("The ID number's birth date is in the future."))
    return IdNumber(number=number, birth_date=birth, gender="M" if int(number[16]) % 2 else "F")


def check_agreement(id_number: IdNumber, *, birth_date: date | None, gender: str) -> dict[str, str]:
    """Field errors where the record disagrees with what the ID number says (empty when they agree)."""
    errors: dict[str, str] = {}
    if birth_date is not None and birth_date != id_number.birth_date:
        errors["birth_date"] = _("The birth date does not match the ID number (%(date)s).") % {
            "date": id_number.birth_date.isoformat()
        }
    if gender and gender != id_number.gender:
        errors["gender"] = _("The gender does not match the ID number.")
    return errors


def check_mobile(value: str) -> str:
    """A mainland mobile number as its 11 digits, or a ValidationError."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not MOBILE.match(digits):
        raise ValidationError(_("Enter a mainland mobile number: 11 digits beginning with 13–19."))
    return digits


def check_uscc(value: str) -> str:
    """A unified social credit code, compact and upper case, or a ValidationError."""
    raw = (value or "").strip()
    try:
        return uscc.validate(raw)
    except stdnum_errors.InvalidLength as exc:
        raise ValidationError(_("A unified social credit code has 18 characters.")) from exc
    except stdnum_errors.InvalidChecksum as exc:
        raise ValidationError(
            _("The unified social credit code's check character is wrong: a character was mistyped.")
        ) from exc
    except stdnum_errors.ValidationError as exc:
        raise ValidationError(_("This is not a unified social credit code (GB 32100).")) from exc


def mask_id(number: str) -> str:
    """5101**********1234: the first four and last four characters."""
    if not number:
        return ""
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}" if len(number) > 8 else "*" * len(number)


def mask_phone(number: str) -> str:
    """138****5678."""
    if not number:
        return ""
    return f"{number[:3]}****{number[-4:]}" if len(number) >= 7 else "*" * len(number)
