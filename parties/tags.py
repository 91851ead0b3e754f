"""The seeded tags (loaded after migrate when there are none of a kind); admins edit them afterwards."""

from __future__ import annotations

TAGS: dict[str, list[tuple[str, str]]] = {
    "resident": [
        ("elderly-alone", "独居老人"),
        ("disabled", "残疾"),
        ("low-income", "低保"),
        ("veteran", "退役军人"),
        ("key-person", "重点人员"),
        ("party-member", "党员"),
        ("migrant", "流动人口"),
        ("left-behind-child", "留守儿童"),
    ],
    "household": [
        ("hardship", "困难户"),
        ("rental-group", "群租房"),
        ("empty-nest", "空巢家庭"),
    ],
    "organisation": [
        ("private", "民营企业"),
        ("catering", "餐饮"),
        ("hazardous", "危化品"),
        ("crowded", "人员密集场所"),
    ],
}


def ensure_tags(**_kwargs) -> None:
    from .models import Tag

    for kind, tags in TAGS.items():
        if Tag.objects.filter(kind=kind).exists():
            continue
        Tag.objects.bulk_create(
            [Tag(kind=kind, code=code, name=name, sort_order=i) for i, (code, name) in enumerate(tags)]
        )
