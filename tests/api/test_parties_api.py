"""The parties API: households, residents and organisations as the pages show them — scoped (404 outside the
caller's regions), numbers masked, a whole number only through the logged reveal of a permission holder."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from parties import services
from parties.models import AccessLog
from tests.parties.conftest import make_id, world  # noqa: F401 - the parties' test world

pytestmark = pytest.mark.postgres


def test_households_are_listed_for_those_who_see_them_with_their_head_and_nothing_else(world, api):  # noqa: F811
    rows = api(world.worker).get("/api/v1/households/").json()["results"]
    assert [(r["id"], r["head_name"], r["member_count"], r["building"]) for r in rows] == [
        (world.household.pk, "张建国", 2, "1栋")
    ]
    assert api(world.worker2).get("/api/v1/households/").json()["results"] == []
    assert api(world.far).get("/api/v1/households/").json()["results"] == []
    assert api(world.dispatcher).get("/api/v1/households/", {"region": world.city.g1111.code}).json()["results"]
    # A region the caller may not see is 404; an unknown or bad parameter is 400 with its name.
    assert api(world.far).get("/api/v1/households/", {"region": world.city.g1111.code}).status_code == 404
    bad = api(world.worker).get("/api/v1/households/", {"kind": "palace"})
    assert bad.status_code == 400 and "kind" in bad.json()["fields"]
    unknown = api(world.worker).get("/api/v1/households/", {"colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["fields"]
    assert api().get("/api/v1/households/").status_code == 401


def test_a_household_lists_its_residents_masked_and_is_404_outside(world, api):  # noqa: F811
    url = f"/api/v1/households/{world.household.pk}/"
    body = api(world.worker).get(url).json()
    members = {m["name"]: m for m in body["members"]}
    assert set(members) == {"张建国", "李秀英"}
    whole = make_id("19650308", "123")
    assert members["张建国"]["id_number"] == whole[:4] + "*" * 10 + whole[-4:]
    assert members["张建国"]["phone"] == "138****1234"
    assert whole not in str(body) and "13800001234" not in str(body)
    for outsider in (world.worker2, world.outsider, world.far, world.nobody):
        assert api(outsider).get(url).status_code == 404, outsider.username


def test_residents_are_found_by_name_or_number_within_scope(world, api):  # noqa: F811
    found = api(world.worker).get("/api/v1/residents/", {"q": "张建国"}).json()
    assert [r["id"] for r in found] == [world.head.pk]
    by_number = api(world.dispatcher).get("/api/v1/residents/", {"q": make_id("19670912", "222")}).json()
    assert [r["id"] for r in by_number] == [world.spouse.pk]
    assert api(world.far).get("/api/v1/residents/", {"q": "张建国"}).json() == []
    assert api(world.worker).get("/api/v1/residents/").status_code == 400
    assert api(world.far).get(f"/api/v1/residents/{world.head.pk}/").status_code == 404


def test_a_whole_number_is_shown_only_to_a_holder_of_the_permission_and_logged(world, api):  # noqa: F811
    url = f"/api/v1/residents/{world.head.pk}/reveal/"
    before = AccessLog.objects.count()
    assert api(world.worker).post(url, {"field": "id_number"}, format="json").status_code == 403  # sees, masked
    assert api(world.far).post(url, {"field": "id_number"}, format="json").status_code == 404
    assert api(world.community).post(url, {"field": "colour"}, format="json").status_code == 400
    assert AccessLog.objects.count() == before
    shown = api(world.community).post(url, {"field": "id_number"}, format="json")
    assert shown.status_code == 200 and shown.json()["value"] == make_id("19650308", "123")
    log = AccessLog.objects.latest("id")
    assert (log.user, log.target_id, log.field) == (world.community, world.head.pk, "id_number")
    assert make_id("19650308", "123") not in log.target_label
    phone = api(world.community).post(
        f"/api/v1/organisations/{world.organisation.pk}/reveal/", {"field": "phone"}, format="json"
    )
    assert phone.status_code == 200 and phone.json()["value"] == "13700001111"
    assert AccessLog.objects.count() == before + 2


def test_organisations_are_scoped_and_their_contact_masked(world, api):  # noqa: F811
    rows = api(world.worker).get("/api/v1/organisations/", {"q": "超市"}).json()["results"]
    assert [(r["name"], r["uscc"], r["contact_phone"]) for r in rows] == [
        ("和平超市", "91110000600037341L", "137****1111")
    ]
    assert api(world.far).get("/api/v1/organisations/").json()["results"] == []
    assert api(world.far).get(f"/api/v1/organisations/{world.organisation.pk}/").status_code == 404


def test_the_household_list_costs_the_same_queries_whatever_its_length(world, api):  # noqa: F811
    client = api(world.worker)
    client.get("/api/v1/households/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/households/").status_code == 200
        return len(captured)

    few = queries()
    for room in range(20):
        services.household_save(actor=world.actor, region=world.city.g1111, building=world.building, room=f"{room}")
    assert queries() == few <= 8
