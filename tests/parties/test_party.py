"""The party organisation, 包联 with per-member limits, coverage rolled up the tree, visits, and grids moved or
merged with everything attached."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from grids import services as grid_services
from parties import coverage, party, services, visits
from parties.models import Household, Keeping, PartyMember, PartyOrgKind, Visit

pytestmark = pytest.mark.postgres


def test_the_party_tree_follows_the_levels(world):
    with pytest.raises(ValidationError):  # a grid branch under a street committee
        party.party_org_save(
            actor=world.actor, parent=world.street_org, kind=PartyOrgKind.GRID, name="x", region=world.city.g1112
        )
    with pytest.raises(ValidationError):  # a community committee serving a grid
        party.party_org_save(
            actor=world.actor, parent=world.street_org, kind=PartyOrgKind.COMMUNITY, name="x", region=world.city.g1112
        )
    with pytest.raises(ValidationError):  # under another street's committee
        party.party_org_save(
            actor=world.actor, parent=world.street_org, kind=PartyOrgKind.COMMUNITY, name="x", region=world.city.c121
        )
    group = party.party_org_save(
        actor=world.actor,
        parent=world.branch,
        kind=PartyOrgKind.BUILDING,
        name="1栋党小组",
        region=world.city.g1111,
        building=world.building,
    )
    assert group.parent == world.branch and group.building == world.building


def test_keeping_respects_the_member_limit_and_one_keeper(world):
    h2 = services.household_save(
        actor=world.actor, region=world.city.g1111, building=world.building, unit="1", room="502"
    )
    h3 = services.household_save(
        actor=world.actor, region=world.city.g1111, building=world.building, unit="1", room="503"
    )
    party.keeping_assign(actor=world.leader, member=world.member, household=world.household)
    party.keeping_assign(actor=world.leader, member=world.member, household=h2)
    with pytest.raises(ValidationError) as exc:
        party.keeping_assign(actor=world.leader, member=world.member, household=h3)
    assert "limit" in str(exc.value)
    other = party.party_member_save(actor=world.actor, org=world.branch, name="党员乙")
    with pytest.raises(ValidationError):
        party.keeping_assign(actor=world.leader, member=other, household=world.household)  # already kept
    assert PartyMember.objects.get(pk=world.member.pk).household_count == 2
    party.keeping_remove(actor=world.leader, keeping=Keeping.objects.get(household=h2))
    assert PartyMember.objects.get(pk=world.member.pk).household_count == 1
    assert Household.objects.get(pk=h2.pk).keeper is None
    party.keeping_assign(actor=world.leader, member=world.member, household=h3)


def test_a_member_keeps_only_where_the_organisation_serves(world):
    far = services.household_save(actor=world.actor, region=world.city.g1112, address="和平巷2号")
    with pytest.raises(ValidationError):
        party.keeping_assign(actor=world.actor, member=world.member, household=far)
    # A member of the community committee may keep households of every grid of the community.
    community_member = party.party_member_save(actor=world.actor, org=world.community_org, name="社区党员")
    party.keeping_assign(actor=world.actor, member=community_member, household=far)


def test_a_limit_below_what_a_member_keeps_is_refused(world):
    party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    with pytest.raises(ValidationError):
        party.party_member_save(
            actor=world.actor, member=world.member, org=world.branch, name="党员甲", household_limit=0
        )


def test_coverage_rolls_up_the_tree(world):
    services.household_save(actor=world.actor, region=world.city.g1112, address="和平巷2号")
    services.household_save(actor=world.actor, region=world.city.g1211, address="南门路3号")
    party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    party.keeping_assign(actor=world.actor, member=world.member, organisation=world.organisation)
    visits.visit_record(
        actor=world.worker, household=world.household, visited_on=timezone.localdate() - timedelta(days=40)
    )
    total, rows = coverage.region_coverage(region=world.city.d1)
    assert (total.households, total.households_kept, total.organisations, total.organisations_kept) == (3, 1, 1, 1)
    assert (total.visited_30, total.visited_90, total.never_visited) == (0, 1, 2)
    by_name = {r.region.name: (r.households, r.households_kept) for r in rows}
    assert by_name == {"街道11": (2, 1), "街道12": (1, 0)}
    _, grids = coverage.region_coverage(region=world.city.c111)
    assert {r.region.name: r.households for r in grids} == {"网格1111": 1, "网格1112": 1}


def test_one_click_assignment_on_the_coverage_page(world, client):
    client.force_login(world.leader)
    page = client.get(reverse("parties:coverage", args=[world.city.g1111.pk])).content.decode()
    assert 'data-testid="uncovered-household"' in page
    response = client.post(
        reverse("parties:keeping_assign"),
        {"kind": "household", "target": world.household.pk, "member": world.member.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and 'data-testid="assigned"' in response.content.decode()
    assert Household.objects.get(pk=world.household.pk).keeper_id == world.member.pk
    client.force_login(world.worker)  # records but does not manage the party
    h2 = services.household_save(actor=world.actor, region=world.city.g1111, address="和平巷9号")
    response = client.post(
        reverse("parties:keeping_assign"), {"kind": "household", "target": h2.pk, "member": world.member.pk}
    )
    assert response.status_code == 403


def test_a_visit_keeps_the_last_visit_date_and_checks_the_people(world):
    other = services.household_save(actor=world.actor, region=world.city.g1111, address="和平巷9号")
    stranger = services.resident_save(actor=world.actor, household=other, name="外人")
    with pytest.raises(ValidationError):
        visits.visit_record(actor=world.worker, household=world.household, people_met=[stranger])
    with pytest.raises(ValidationError):
        visits.visit_record(
            actor=world.worker, household=world.household, visited_on=timezone.localdate() + timedelta(days=1)
        )
    visit = visits.visit_record(
        actor=world.worker, household=world.household, people_met=[world.head], needs=["elderly"], notes="需要助餐"
    )
    assert visit.member == world.member  # the worker is also a party member
    assert Household.objects.get(pk=world.household.pk).last_visited_on == timezone.localdate()
    with pytest.raises(ValidationError):
        visits.visit_record(actor=world.worker, household=world.household, needs=["nonsense"])


def test_moving_a_grid_keeps_everything_attached(world, client):
    """The tree's move: the grid goes to another street; households, visits and members stay, and access follows."""
    visits.visit_record(actor=world.worker, household=world.household)
    party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    grid_services.region_move(actor=world.actor, region=world.city.g1111, new_parent=world.city.c121)
    client.force_login(world.outsider)  # grid worker in street 12: still not his grid
    assert client.get(reverse("parties:household", args=[world.household.pk])).status_code == 404
    client.force_login(world.dispatcher)  # street 11 no longer sees it
    assert client.get(reverse("parties:household", args=[world.household.pk])).status_code == 404
    client.force_login(world.worker)  # the grid's own worker keeps it
    assert client.get(reverse("parties:household", args=[world.household.pk])).status_code == 200
    household = Household.objects.get(pk=world.household.pk)
    assert household.keeper_id == world.member.pk and household.members.count() == 2
    assert Visit.objects.filter(household=household).count() == 1


def test_merging_two_grids_keeps_everything(world):
    """A merge: the records of g1111 move to g1112, then g1111 is retired."""
    visit = visits.visit_record(actor=world.worker, household=world.household)
    keeping = party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    moved = services.records_transfer(actor=world.community, source=world.city.g1111, target=world.city.g1112)
    grid_services.region_retire(actor=world.actor, region=world.city.g1111)
    assert moved["households"] == 1 and moved["residents"] == 2 and moved["visits"] == 1
    household = Household.objects.get(pk=world.household.pk)
    assert household.region == world.city.g1112 and household.building.region == world.city.g1112
    assert Visit.objects.get(pk=visit.pk).region == world.city.g1112
    assert Keeping.objects.get(pk=keeping.pk).household == household
    assert PartyMember.objects.get(pk=world.member.pk).region == world.city.g1112
    assert {r.region_id for r in household.members.all()} == {world.city.g1112.pk}
    _, rows = coverage.region_coverage(region=world.city.c111)
    assert {r.region.name: r.households for r in rows} == {"网格1111": 0, "网格1112": 1}
