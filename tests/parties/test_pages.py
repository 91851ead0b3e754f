"""The pages: masking by permission, one access log row per unmasked view, 404 across streets for every page and
export, and constant queries on the lists."""

import pytest
from django.urls import reverse

from parties import party, visits
from parties.models import AccessLog
from tests.factories import page_queries

from .conftest import make_id


def queries(client, url: str) -> int:
    """Queries of one GET of a page that also shows counts (the visit coverage): those are one aggregate query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    counting = [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counting) <= 2, counting  # the households' and the organisations' aggregates, nothing per row
    return len(ctx.captured_queries)


pytestmark = pytest.mark.postgres


def login(client, user):
    client.force_login(user)
    return client


def test_masked_for_everyone_without_the_permission(world, client):
    number = make_id("19650308", "123")
    login(client, world.worker)
    page = client.get(reverse("parties:household", args=[world.household.pk])).content.decode()
    assert f"{number[:4]}**********{number[-4:]}" in page and "138****1234" in page
    assert number not in page and "13800001234" not in page
    assert 'data-testid="reveal-id_number"' not in page  # no "show" button without the permission
    assert client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"])).status_code == 403
    assert AccessLog.objects.count() == 0


def test_each_show_writes_exactly_one_access_log_row(world, client):
    number = make_id("19650308", "123")
    login(client, world.community)
    page = client.get(reverse("parties:resident", args=[world.head.pk])).content.decode()
    assert number not in page and 'data-testid="reveal-id_number"' in page  # masked until the click
    assert AccessLog.objects.count() == 0
    response = client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"]))
    assert response.status_code == 200 and number in response.content.decode()
    rows = list(AccessLog.objects.values_list("user__username", "target_type", "target_id", "field"))
    assert rows == [("community", "resident", world.head.pk, "id_number")]
    client.post(reverse("parties:reveal", args=["resident", world.head.pk, "phone"]))
    client.post(reverse("parties:reveal", args=["organisation", world.organisation.pk, "contact_phone"]))
    assert AccessLog.objects.count() == 3
    log = AccessLog.objects.get(field="phone")
    assert "13800001234" not in log.target_label


def test_show_needs_the_permission_on_the_grid_or_above(world, client, make_user):
    from tests.factories import grant_role

    # view_personal_data granted on another grid of the same community does not reach g1111.
    nearby = make_user("nearby")
    grant_role(nearby, "community_staff", world.city.c112, actor=world.actor)
    login(client, nearby)
    assert client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"])).status_code == 404
    assert AccessLog.objects.count() == 0


def test_the_admin_reads_the_log_by_person_record_and_date(world, client):
    login(client, world.community)
    client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"]))
    client.post(reverse("parties:reveal", args=["resident", world.spouse.pk, "phone"]))
    login(client, world.admin)
    url = reverse("parties:access_log")
    page = client.get(url).content.decode()
    assert page.count('data-testid="log-row"') == 2
    assert client.get(url, {"record": "李秀英"}).content.decode().count('data-testid="log-row"') == 1
    assert client.get(url, {"person": "community"}).content.decode().count('data-testid="log-row"') == 2
    assert client.get(url, {"person": "worker"}).content.decode().count('data-testid="log-row"') == 0
    assert (
        client.get(url, {"since": "2000-01-01", "until": "2000-12-31"}).content.decode().count('data-testid="log-row"')
        == 0
    )
    login(client, world.community)  # may show numbers, may not read the log
    assert client.get(url).status_code == 404


def test_exports_are_masked_by_default_and_logged_when_not(world, client):
    number = make_id("19650308", "123")
    url = reverse("parties:export", args=[world.city.g1111.pk, "households", "csv"])
    login(client, world.worker)
    body = client.get(url).content.decode("utf-8-sig")
    assert "张建国" in body and number not in body and f"{number[:4]}**********{number[-4:]}" in body
    assert client.get(url, {"unmasked": "1"}).status_code == 403
    login(client, world.community)
    body = client.get(url, {"unmasked": "1"}).content.decode("utf-8-sig")
    assert number in body and "13800001234" in body
    log = AccessLog.objects.get()
    assert (log.target_type, log.field, log.rows) == ("export", "export", 2)


def _pages(world, visit):
    g = world.city.g1111
    return [
        reverse("parties:households", args=[g.pk]),
        reverse("parties:buildings", args=[g.pk]),
        reverse("parties:household_create", args=[g.pk]),
        reverse("parties:organisations", args=[g.pk]),
        reverse("parties:organisation_create", args=[g.pk]),
        reverse("parties:visits", args=[g.pk]),
        reverse("parties:coverage", args=[g.pk]),
        reverse("parties:party", args=[g.pk]),
        reverse("parties:export", args=[g.pk, "households", "csv"]),
        reverse("parties:export", args=[g.pk, "households", "xlsx"]),
        reverse("parties:export", args=[g.pk, "organisations", "csv"]),
        reverse("parties:building_edit", args=[world.building.pk]),
        reverse("parties:household", args=[world.household.pk]),
        reverse("parties:household_edit", args=[world.household.pk]),
        reverse("parties:resident_create", args=[world.household.pk]),
        reverse("parties:resident", args=[world.head.pk]),
        reverse("parties:resident_edit", args=[world.head.pk]),
        reverse("parties:resident_move", args=[world.head.pk]),
        reverse("parties:resident_deceased", args=[world.head.pk]),
        reverse("parties:organisation", args=[world.organisation.pk]),
        reverse("parties:organisation_edit", args=[world.organisation.pk]),
        reverse("parties:party_org", args=[world.branch.pk]),
        reverse("parties:member_create", args=[world.branch.pk]),
        reverse("parties:member", args=[world.member.pk]),
        reverse("parties:visit", args=[visit.pk]),
        reverse("parties:visit_create") + f"?household={world.household.pk}",
        reverse("parties:visit_create") + f"?organisation={world.organisation.pk}",
        reverse("parties:coverage", args=[world.city.c111.pk]),
        reverse("parties:households", args=[world.city.c111.pk]),
    ]


def test_every_page_and_export_is_404_across_streets(world, client):
    visit = visits.visit_record(actor=world.worker, household=world.household, notes="ok")
    login(client, world.leader)  # the grid leader of the community may use every one of them
    for url in _pages(world, visit):
        assert client.get(url).status_code == 200, url
    login(client, world.outsider)
    for url in _pages(world, visit):
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("parties:reveal", args=["resident", world.head.pk, "id_number"]),
        reverse("parties:reveal", args=["organisation", world.organisation.pk, "contact_phone"]),
    ]
    for url in posts:
        assert client.post(url).status_code == 404, url
    assert (
        client.post(
            reverse("parties:keeping_assign"),
            {"kind": "household", "target": world.household.pk, "member": world.member.pk},
        ).status_code
        == 404
    )
    keeping = party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    assert client.post(reverse("parties:keeping_remove", args=[keeping.pk])).status_code == 404
    # The search finds nothing across streets.
    page = client.get(reverse("parties:search"), {"q": make_id("19650308", "123")}).content.decode()
    assert "张建国" not in page


def test_a_street_sees_its_grids_but_not_the_next_street(world, client):
    login(client, world.dispatcher)
    assert client.get(reverse("parties:household", args=[world.household.pk])).status_code == 200
    assert client.get(reverse("parties:households", args=[world.city.s12.pk])).status_code == 404
    login(client, world.far)
    assert client.get(reverse("parties:households", args=[world.city.s11.pk])).status_code == 404


def test_list_pages_make_constant_queries(world, client):
    from parties import services

    login(client, world.community)
    urls = [
        reverse("parties:households", args=[world.city.g1111.pk]),
        reverse("parties:households", args=[world.city.c111.pk]),
        reverse("parties:organisations", args=[world.city.g1111.pk]),
        reverse("parties:visits", args=[world.city.g1111.pk]),
        reverse("parties:coverage", args=[world.city.c111.pk]),
        reverse("parties:coverage", args=[world.city.g1111.pk]),
    ]
    before = {url: queries(client, url) for url in urls}
    for i in range(12):
        h = services.household_save(
            actor=world.actor, region=world.city.g1111, building=world.building, unit="3", room=f"{i + 1}01"
        )
        services.resident_save(actor=world.actor, household=h, name=f"居民{i}", relation="head")
        services.organisation_save(actor=world.actor, region=world.city.g1111, name=f"单位{i}")
        visits.visit_record(actor=world.worker, household=h)
    after = {url: queries(client, url) for url in urls}
    assert page_queries(client, reverse("parties:organisations", args=[world.city.g1111.pk]))
    assert after == before
    assert max(after.values()) <= 16
    login(client, world.admin)
    client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"]))
    first = page_queries(client, reverse("parties:access_log"))
    for _ in range(5):
        client.post(reverse("parties:reveal", args=["resident", world.head.pk, "id_number"]))
    assert page_queries(client, reverse("parties:access_log")) == first


def test_pages_render_in_chinese(world, client):
    login(client, world.worker)
    page = client.get(reverse("parties:households", args=[world.city.g1111.pk]), headers={"accept-language": "zh-hans"})
    assert page.status_code == 200


def test_the_household_filter_opens_and_filters(world, client):
    from parties import party, services

    other = services.household_save(
        actor=world.actor, region=world.city.g1111, building=world.building, unit="2", room="201"
    )
    party.keeping_assign(actor=world.actor, member=world.member, household=world.household)
    login(client, world.worker)
    url = reverse("parties:households", args=[world.city.g1111.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="open-filter"' in page and 'data-testid="household-filter"' not in page
    assert (
        'data-testid="household-filter"'
        in client.get(reverse("parties:household_filter", args=[world.city.g1111.pk])).content.decode()
    )
    page = client.get(url, {"uncovered": "on"}).content.decode()
    assert other.label in page and world.household.label not in page and 'data-testid="household-filter"' in page
    assert world.household.label in client.get(url, {"q": "501"}).content.decode()
