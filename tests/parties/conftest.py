from datetime import date
from functools import partial

import pytest
from stdnum.cn import ric

from grids.models import Region
from parties import party, services
from parties.models import Building, Household, PartyOrgKind, Resident, Tag
from tests.factories import staff


def make_id(birth: str = "19650308", seq: str = "123", area: str = "510104") -> str:
    """A valid 居民身份证 number (GB 11643 check character computed by stdnum)."""
    body = f"{area}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture
def client():
    """The pages in English, as the assertions read them (the product defaults to zh-hans)."""
    from django.test import Client

    return Client(headers={"accept-language": "en"})


@pytest.fixture
def world(city):
    """People of the small test city, a building, a household with two residents and an organisation in g1111."""
    actor = city.actor

    person = partial(staff, actor=actor)

    people = {
        "worker": person("worker", "grid_worker", city.g1111),
        "worker2": person("worker2", "grid_worker", city.g1112),
        "leader": person("leader", "grid_leader", city.c111),
        "community": person("community", "community_staff", city.c111),
        "dispatcher": person("dispatcher", "street_dispatcher", city.s11),
        "outsider": person("outsider", "grid_worker", city.g1211),  # another street of the same district
        "far": person("far", "community_staff", city.c211),  # another district
        "admin": person("admin", "region_admin", city.city),
        "nobody": person("nobody"),
    }
    building = services.building_save(actor=actor, region=city.g1111, name="1栋", address="东湖路1号")
    household = services.household_save(actor=actor, region=city.g1111, building=building, unit="1", room="501")
    head = services.resident_save(
        actor=actor,
        household=household,
        name="张建国",
        id_number=make_id("19650308", "123"),
        phone="13800001234",
        relation="head",
    )
    spouse = services.resident_save(
        actor=actor,
        household=household,
        name="李秀英",
        id_number=make_id("19670912", "222"),
        phone="13900005678",
        relation="spouse",
    )
    organisation = services.organisation_save(
        actor=actor,
        region=city.g1111,
        name="和平超市",
        uscc="91110000600037341L",
        contact_name="王强",
        contact_phone="13700001111",
    )
    street_org = party.party_org_save(actor=actor, kind=PartyOrgKind.STREET, name="街道11党工委", region=city.s11)
    community_org = party.party_org_save(
        actor=actor, parent=street_org, kind=PartyOrgKind.COMMUNITY, name="社区111党委", region=city.c111
    )
    branch = party.party_org_save(
        actor=actor, parent=community_org, kind=PartyOrgKind.GRID, name="网格1111党支部", region=city.g1111
    )
    member = party.party_member_save(actor=actor, org=branch, name="党员甲", user=people["worker"], household_limit=2)

    class World:
        pass

    w = World()
    w.__dict__.update(
        city=city,
        actor=actor,
        building=building,
        household=household,
        head=head,
        spouse=spouse,
        organisation=organisation,
        street_org=street_org,
        community_org=community_org,
        branch=branch,
        member=member,
        **people,
    )
    return w


__all__ = ["make_id", "Building", "Household", "Resident", "Tag", "Region", "date"]
