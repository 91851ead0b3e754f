"""Region codes (区划代码 / 网格编码) and the level of each node.

A city has a 6-digit code ending in ``00`` (GB/T 2260) whose first 4 digits begin every code below it; a
district (county-level) code is 6 digits, a street 9 (GB/T 10114), a community 12 (统计用区划代码) and a grid
the community's 12 digits plus a 3-digit sequence. This module is pure: no database access.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.IntegerChoices):
    """The level of a node follows from its depth in the tree."""

    CITY = 1, _("City")  # 市
    DISTRICT = 2, _("District")  # 区/县
    STREET = 3, _("Street")  # 街道/乡镇
    COMMUNITY = 4, _("Community")  # 社区/村
    GRID = 5, _("Grid")  # 网格


CODE_LENGTH = {Level.CITY: 6, Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.GRID: 15}
# Digits a level adds after its parent's significant prefix.
SEQUENCE_WIDTH = {Level.DISTRICT: 2, Level.STREET: 3, Level.COMMUNITY: 3, Level.GRID: 3}
LEVEL_SLUGS = {
    "city": Level.CITY,
    "district": Level.DISTRICT,
    "street": Level.STREET,
    "community": Level.COMMUNITY,
    "grid": Level.GRID,
}


def level_slug(level: int) -> str:
    return {v: k for k, v in LEVEL_SLUGS.items()}[Level(level)]


def parse_level(value: str | int) -> Level:
    """Accept 1..5, an English slug, or the Chinese/English label."""
    text = str(value).strip().lower()
    if text.isdigit() and int(text) in Level.values:
        return Level(int(text))
    if text in LEVEL_SLUGS:
        return LEVEL_SLUGS[text]
    chinese = {"市": 1, "区": 2, "县": 2, "区/县": 2, "区县": 2, "街道": 3, "乡镇": 3, "社区": 4, "村": 4, "网格": 5}
    if text in chinese:
        return Level(chinese[text])
    raise ValidationError(
        _("Unknown level “%(value)s”: use city, district, street, community or grid."), params={"value": value}
    )


def significant_prefix(code: str, level: int) -> str:
    """The digits every code below this node must begin with."""
    return code[:4] if level == Level.CITY else code


def validate_code(code: str, level: int, parent_code: str | None = None) -> None:
    """Raise ValidationError with a message a person can act on, or return None."""
    level = Level(level)
    expected = CODE_LENGTH[level]
    if not code.isdigit() or not code.isascii():
        raise ValidationError(_("A code is made of digits only; “%(code)s” is not."), params={"code": code})
    if len(code) != expected:
        raise ValidationError(
            _("A %(level)s code has %(n)d digits; “%(code)s” has %(got)d."),
            params={"level": level.label, "n": expected, "code": code, "got": len(code)},
        )
    if level == Level.CITY:
        if not code.endswith("00") or code.endswith("0000"):
            raise ValidationError(
                _("A city code has 6 digits and ends in 00, e.g. 510100; “%(code)s” does not."), params={"code": code}
            )
        return
    if parent_code is None:
        raise ValidationError(_("A %(level)s needs a parent."), params={"level": level.label})
    prefix = significant_prefix(parent_code, Level(level - 1))
    if not code.startswith(prefix):
        raise ValidationError(
            _("A code under %(parent)s must begin with %(prefix)s; “%(code)s” does not."),
            params={"parent": parent_code, "prefix": prefix, "code": code},
        )
    if len(code) <= len(prefix) or int(code[len(prefix) :]) == 0:
        raise ValidationError(
            _("The last %(n)d digits of “%(code)s” cannot all be 0."),
            params={"n": len(code) - len(prefix), "code": code},
        )


def next_code(parent_code: str, parent_level: int, sibling_codes: list[str]) -> str | None:
    """The next free child code after the highest sibling, or None when the sequence is full."""
    child_level = Level(parent_level + 1)
    prefix = significant_prefix(parent_code, parent_level)
    width = SEQUENCE_WIDTH[child_level]
    used = [int(c[len(prefix) :]) for c in sibling_codes if c.startswith(prefix) and c[len(prefix) :].isdigit()]
    nxt = max(used, default=0) + 1
    if nxt >= 10**width:
        free = sorted(set(range(1, 10**width)) - set(used))
        if not free:
            return None
        nxt = free[0]
    return f"{prefix}{nxt:0{width}d}"


def recode_descendant(code: str, old_prefix: str, new_prefix: str) -> str:
    return new_prefix + code[len(old_prefix) :]
