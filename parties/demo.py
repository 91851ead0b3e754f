"""Demo households, residents, organisations, party organisations, 包联 and visits for the demo city 云川市 (loaded
by ``seed_demo`` after the city). Made through the services, like the pages; loaded once (skipped when the city
has households). ID numbers are fictional but valid (check character computed by python-stdnum).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric

from grids.models import Region, User

from . import party, services, visits
from .models import Household, PartyOrgKind, Tag

# grid code → buildings, households (building, unit, room, kind, [(name, birth, seq, relation, phone, tags)])
GRIDS = {
    "519902001001001": (
        ["和平小区1栋", "和平小区2栋", "和平小区3栋"],
        [
            (
                "和平小区1栋",
                "1",
                "101",
                "resident",
                [("张建国", "19520308", "131", "head", "13880001001", ["elderly-alone", "veteran"])],
            ),
            (
                "和平小区1栋",
                "1",
                "102",
                "resident",
                [
                    ("李明", "19780512", "113", "head", "13880001002", []),
                    ("王芳", "19800921", "124", "spouse", "13880001003", []),
                    ("李小雨", "20120301", "106", "child", "", ["left-behind-child"]),
                ],
            ),
            (
                "和平小区1栋",
                "2",
                "201",
                "rented",
                [
                    ("赵磊", "19950116", "215", "tenant", "13880001004", ["migrant"]),
                    ("钱晓", "19960707", "226", "tenant", "13880001005", ["migrant"]),
                ],
            ),
            (
                "和平小区1栋",
                "2",
                "202",
                "resident",
                [("孙桂兰", "19480214", "302", "head", "13880001006", ["elderly-alone", "disabled"])],
            ),
            (
                "和平小区2栋",
                "1",
                "301",
                "resident",
                [
                    ("周强", "19700630", "317", "head", "13880001007", ["party-member"]),
                    ("吴丽", "19720819", "328", "spouse", "13880001008", []),
                ],
            ),
            ("和平小区2栋", "1", "302", "vacant", []),
            (
                "和平小区2栋",
                "2",
                "401",
                "resident",
                [("郑海", "19651111", "339", "head", "13880001009", ["low-income"])],
            ),
            (
                "和平小区3栋",
                "1",
                "501",
                "resident",
                [
                    ("冯军", "19830402", "351", "head", "13880001010", ["veteran", "party-member"]),
                    ("陈静", "19850525", "362", "spouse", "13880001011", []),
                ],
            ),
        ],
    ),
    "519902001001002": (
        ["幸福里1栋", "幸福里2栋"],
        [
            (
                "幸福里1栋",
                "1",
                "101",
                "resident",
                [("褚德福", "19500920", "373", "head", "13880002001", ["elderly-alone"])],
            ),
            ("幸福里1栋", "1", "102", "rented", [("卫东", "19900103", "395", "tenant", "13880002002", ["migrant"])]),
            (
                "幸福里2栋",
                "1",
                "201",
                "resident",
                [
                    ("蒋文", "19751212", "417", "head", "13880002003", ["party-member"]),
                    ("沈梅", "19770606", "428", "spouse", "", []),
                ],
            ),
            (
                "幸福里2栋",
                "1",
                "202",
                "collective",
                [("韩立", "19880808", "439", "head", "13880002004", ["key-person"])],
            ),
        ],
    ),
    "519903001001001": (
        ["江岸花园1栋", "江岸花园2栋"],
        [
            ("江岸花园1栋", "1", "101", "resident", [("杨光", "19600505", "451", "head", "13880003001", ["veteran"])]),
            (
                "江岸花园1栋",
                "1",
                "102",
                "resident",
                [
                    ("朱红", "19920220", "462", "head", "13880003002", []),
                    ("秦朗", "19900315", "473", "spouse", "13880003003", ["party-member"]),
                ],
            ),
            ("江岸花园2栋", "1", "201", "rented", [("尤佳", "19980718", "484", "tenant", "13880003004", ["migrant"])]),
        ],
    ),
}
ORGANISATIONS = {
    "519902001001001": [
        (
            "云川市和平超市有限公司",
            "91110108551385082Q",
            "enterprise",
            "和平小区1栋",
            "张店长",
            "13880009001",
            ["private"],
        ),
        ("东湖路老李面馆", "", "shop", "", "李老板", "13880009002", ["catering"]),
    ],
    "519902001001002": [("幸福里幼儿园", "", "non_enterprise", "幸福里1栋", "王园长", "13880009003", ["crowded"])],
    "519903001001001": [
        ("江岸物流有限公司", "91110000600037341L", "enterprise", "", "赵经理", "13880009004", ["private"])
    ],
}
AREA = "510104"  # a real county-level code, so the demo numbers pass the same checks as real ones


def demo_id(birth: str, seq: str) -> str:
    body = f"{AREA}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")


@transaction.atomic
def seed_demo_parties() -> int:
    """Load the demo records; returns how many households were made (0 when loaded already or no city)."""
    from grids.demo import system_actor

    city = Region.objects.filter(code="519900").first()
    if city is None or Household.objects.filter(region__path__startswith=city.path).exists():
        return 0
    actor = system_actor()
    tags = {t.code: t for t in Tag.objects.all()}
    users = {u.username: u for u in User.objects.filter(username__in=["gridworker", "gridworker2", "leader"])}
    made: dict[str, list[Household]] = {}
    residents: dict[str, object] = {}
    for code, (building_names, households) in GRIDS.items():
        grid = Region.objects.get(code=code)
        buildings = {name: services.building_save(actor=actor, region=grid, name=name) for name in building_names}
        made[code] = []
        for building, unit, room, kind, people in households:
            household = services.household_save(
                actor=actor, region=grid, building=buildings[building], unit=unit, room=room, kind=kind
            )
            made[code].append(household)
            for name, birth, seq, relation, phone, tag_codes in people:
                residents[name] = services.resident_save(
                    actor=actor,
                    household=household,
                    name=name,
                    id_number=demo_id(birth, seq),
                    phone=phone or None,
                    relation=relation,
                    tags=[tags[t] for t in tag_codes if t in tags],
                )
        for name, uscc, kind, building, contact, phone, tag_codes in ORGANISATIONS.get(code, []):
            services.organisation_save(
                actor=actor,
                region=grid,
                name=name,
                uscc=uscc,
                kind=kind,
                building=buildings.get(building),
                contact_name=contact,
                contact_phone=phone,
                tags=[tags[t] for t in tag_codes if t in tags],
            )
    _party(actor, made, residents, users)
    _visits(made, users)
    return sum(len(v) for v in made.values())


def _party(actor, made, residents, users) -> None:
    def org(kind, name, code, parent=None, building=None):
        return party.party_org_save(
            actor=actor, kind=kind, name=name, region=Region.objects.get(code=code), parent=parent, building=building
        )

    donghu = org(PartyOrgKind.STREET, "中共东湖街道工作委员会", "519902001")
    heping = org(PartyOrgKind.COMMUNITY, "中共东湖和平社区委员会", "519902001001", donghu)
    branch1 = org(PartyOrgKind.GRID, "和平社区第1网格党支部", "519902001001001", heping)
    branch2 = org(PartyOrgKind.GRID, "和平社区第2网格党支部", "519902001001002", heping)
    first_building = made["519902001001001"][0].building
    org(PartyOrgKind.BUILDING, "和平小区1栋党小组", "519902001001001", branch1, first_building)
    bailu = org(PartyOrgKind.STREET, "中共白鹭街道工作委员会", "519903001")
    bailu_community = org(PartyOrgKind.COMMUNITY, "中共白鹭和平社区委员会", "519903001001", bailu)
    bailu_branch = org(PartyOrgKind.GRID, "白鹭和平社区第1网格党支部", "519903001001001", bailu_community)

    def member(org_, name, *, resident=None, user=None, limit=10):
        return party.party_member_save(
            actor=actor,
            org=org_,
            name=name,
            resident=resident,
            user=user,
            household_limit=limit,
            joined_on=timezone.localdate() - timedelta(days=3650),
        )

    zhou = member(branch1, "周强", resident=residents["周强"], limit=5)
    feng = member(branch1, "冯军", resident=residents["冯军"], limit=3)
    sun = member(branch1, "孙网格员", user=users.get("gridworker"))
    jiang = member(branch2, "蒋文", resident=residents["蒋文"])
    qin = member(bailu_branch, "秦朗", resident=residents["秦朗"], user=users.get("gridworker2"))
    grid1, grid2, far = made["519902001001001"], made["519902001001002"], made["519903001001001"]
    for m, household in [
        (zhou, grid1[0]),
        (zhou, grid1[1]),
        (zhou, grid1[3]),
        (feng, grid1[4]),
        (sun, grid1[6]),
        (jiang, grid2[0]),
        (jiang, grid2[2]),
        (qin, far[0]),
        (qin, far[1]),
    ]:
        party.keeping_assign(actor=actor, member=m, household=household)
    from .models import Organisation

    party.keeping_assign(actor=actor, member=feng, organisation=Organisation.objects.get(name="云川市和平超市有限公司"))


def _visits(made, users) -> None:
    worker, worker2 = users.get("gridworker"), users.get("gridworker2")
    if worker is None or worker2 is None:
        return
    today = timezone.localdate()
    grid1, far = made["519902001001001"], made["519903001001001"]
    plan = [
        (worker, grid1[0], 3, ["elderly"], "独居老人张建国腿脚不便，希望社区提供助餐服务。"),
        (worker, grid1[3], 12, ["elderly", "disability"], "孙桂兰需要上门助浴，已联系社区。"),
        (worker, grid1[6], 45, ["hardship"], "低保复核材料已收齐。"),
        (worker, grid1[2], 70, ["safety"], "出租屋楼道内电动车充电，已当面提醒。"),
        (worker2, far[0], 5, ["policy"], "咨询退役军人优待政策。"),
    ]
    for user, household, days_ago, needs, notes in plan:
        met = list(household.members.all()[:1])
        visits.visit_record(
            actor=user,
            household=household,
            visited_on=today - timedelta(days=days_ago),
            needs=needs,
            notes=notes,
            people_met=met,
        )
