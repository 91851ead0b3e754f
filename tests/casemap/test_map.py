"""The case map: who may open it and where (404 beyond one's regions), the GeoJSON it answers and its counts on a
known set of cases, the caps on points and polygons, the filters, bad input, the cache of simplified boundaries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from casemap import geometry
from grids import services as grid_services
from tests.casemap.conftest import client_for
from tests.factories import box

pytestmark = pytest.mark.postgres

PAGE = reverse("casemap:page")
DATA = reverse("casemap:data")


def data(user, **params):
    response = client_for(user).get(DATA, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def by_kind(body, kind):
    return [f for f in body["features"] if f["properties"]["kind"] == kind]


def areas_by_code(body):
    return {f["properties"]["code"]: f["properties"] for f in by_kind(body, "area")}


def link(body, area, which):
    """An area's link as the page builds it: the body's address with the area's id and prefix filled in."""
    return body["area_urls"][which].replace("{id}", str(area["id"])).replace("{prefix}", area["prefix"])


# --- who and where ----------------------------------------------------------------------------------------------


def test_each_role_sees_its_own_region_by_default(city, people, cases):
    for user, region in ((people.dispatcher, city.s11), (people.supervisor, city.d1), (people.admin, city.city)):
        response = client_for(user).get(PAGE)
        assert response.status_code == 200
        assert response.context["region"].pk == region.pk
        assert f"region={region.pk}" in response.context["data_url"]
        assert data(user)["region"]["id"] == region.pk


def test_a_region_outside_the_viewers_is_404_on_the_page_and_the_endpoint(city, people, cases):
    refused = [
        (people.dispatcher, city.s12),  # the next street
        (people.dispatcher, city.d1),  # the district above
        (people.supervisor, city.d2),  # another district
        (people.supervisor, city.g2111),
    ]
    for user, region in refused:
        c = client_for(user)
        assert c.get(PAGE, {"region": region.pk}).status_code == 404
        response = c.get(DATA, {"region": region.pk})
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client_for(people.dispatcher).get(DATA, {"region": city.c111.pk}).status_code == 200
    assert client_for(people.supervisor).get(PAGE, {"region": city.s12.pk}).status_code == 200
    assert client_for(people.dispatcher).get(DATA, {"region": 987654}).status_code == 404


def test_only_dispatchers_and_supervisors_have_the_map(city, people, cases):
    assert client_for(people.worker).get(PAGE).status_code == 403
    assert client_for(people.worker).get(DATA).status_code == 403
    assert client_for(people.community).get(DATA).status_code == 403
    anonymous = Client()
    assert anonymous.get(PAGE).status_code == 302
    assert anonymous.get(DATA).status_code == 401


def test_the_supervision_menu_offers_the_map_to_those_who_may_use_it(city, people):
    for user in (people.dispatcher, people.supervisor, people.admin):
        html = client_for(user).get("/account/").content.decode()
        assert 'data-testid="nav-supervision-menu"' in html and 'data-testid="nav-map"' in html, user
    html = client_for(people.worker).get("/account/").content.decode()
    assert 'data-testid="nav-map"' not in html


# --- the GeoJSON ----------------------------------------------------------------------------------------------


def test_geojson_shape_and_counts_per_grid(city, people, cases):
    body = data(people.supervisor, region=city.d1.pk, zoom=13)
    assert body["type"] == "FeatureCollection"
    assert body["region"] == {"id": city.d1.pk, "name": city.d1.name, "code": city.d1.code, "level": 2}
    assert body["area_level"] == 5 and body["zoom"] == 13 and body["aggregated"] is False
    areas = areas_by_code(body)
    assert len(areas) == 8  # every grid of the district, with or without cases
    assert (areas[city.g1111.code]["count"], areas[city.g1111.code]["overdue"]) == (3, 1)  # the cancelled one is out
    assert (areas[city.g1112.code]["count"], areas[city.g1211.code]["count"], areas[city.g1122.code]["count"]) == (
        1,
        2,
        0,
    )
    assert city.g2111.code not in areas  # another district
    assert (body["total"], body["overdue"]) == (6, 1)
    assert body["max"] == {"count": 3, "overdue": 1}
    g = areas[city.g1111.code]
    assert link(body, g, "page") == reverse("region_detail", args=[city.g1111.pk])
    assert link(body, g, "cases").startswith(reverse("case_list") + "?grid=" + city.g1111.code)
    assert body["area_urls"]["map"] is None  # a grid is the bottom of the map
    assert "url" not in g and "cases_url" not in g  # the addresses are said once, not per area
    polygon = next(f for f in by_kind(body, "area") if f["properties"]["code"] == city.g1111.code)["geometry"]
    assert polygon["type"] == "Polygon" and len(polygon["coordinates"][0]) == 5

    points = by_kind(body, "case")
    assert sorted(p["properties"]["id"] for p in points) == sorted(
        c.pk for c in (cases.a, cases.b, cases.old, cases.c, cases.d, cases.e)
    )
    a = next(p for p in points if p["properties"]["id"] == cases.a.pk)
    assert a["geometry"] == {"type": "Point", "coordinates": [104.01, 30.01]}
    assert a["properties"] == {
        "kind": "case",
        "id": cases.a.pk,
        "number": cases.a.number,
        "category": cases.zdjy.name,
        "state": "reported",
        "light": "red",
    }
    assert body["case_url"].replace("{id}", str(cases.a.pk)) == cases.a.get_absolute_url()
    assert body["labels"]["states"]["reported"] == "Reported" and body["labels"]["lights"]["red"] == "Overdue"


def test_the_grid_list_link_opens_the_case_list_of_that_grid(city, people, cases):
    body = data(people.supervisor, region=city.d1.pk)
    url = link(body, areas_by_code(body)[city.g1111.code], "cases")
    page = client_for(people.supervisor).get(url)
    assert page.status_code == 200
    shown = {c.pk for c in page.context["page"]}
    assert shown == {cases.a.pk, cases.b.pk, cases.old.pk, cases.gone.pk}  # the list's own default: every state
    grid_page = client_for(people.supervisor).get(link(body, areas_by_code(body)[city.g1111.code], "page"))
    assert grid_page.status_code == 200


def test_a_case_without_a_point_is_placed_at_its_grids_centre(city, people, cases):
    from cases import services

    bare = services.case_report(reporter=city.actor, category=cases.zdjy, title="无坐标", region=city.g1122)
    point = next(p for p in by_kind(data(people.supervisor), "case") if p["properties"]["id"] == bare.pk)
    city.g1122.refresh_from_db()
    assert point["geometry"]["coordinates"] == [round(city.g1122.centre_lng, 6), round(city.g1122.centre_lat, 6)]


def test_beyond_the_point_cap_the_cases_come_as_counts_per_grid(city, people, cases, settings):
    settings.GOVGRID_MAP_MAX_POINTS = 3
    body = data(people.supervisor)
    assert body["aggregated"] is True and body["total"] == 6
    assert by_kind(body, "case") == []
    groups = by_kind(body, "group")
    assert sorted(g["properties"]["count"] for g in groups) == [1, 2, 3]
    assert sum(g["properties"]["overdue"] for g in groups) == 1
    assert {g["properties"]["grid"] for g in groups} == {city.g1111.pk, city.g1112.pk, city.g1211.pk}
    settings.GOVGRID_MAP_MAX_POINTS = 2  # even the grids with cases are too many: one point per area
    groups = by_kind(data(people.supervisor), "group")
    assert len(groups) == 3 and all("area" in g["properties"] for g in groups)


def test_beyond_the_polygon_cap_the_map_draws_a_level_up(city, people, cases, settings):
    settings.GOVGRID_MAP_MAX_AREAS = 4  # the city has 16 grids, 8 communities, 4 streets
    body = data(people.admin)
    assert body["area_level"] == 3
    areas = areas_by_code(body)
    assert set(areas) == {city.s11.code, city.s12.code, city.s21.code, city.s22.code}
    assert (areas[city.s11.code]["count"], areas[city.s12.code]["count"], areas[city.s21.code]["count"]) == (4, 2, 1)
    assert link(body, areas[city.s11.code], "map") == f"{PAGE}?region={city.s11.pk}"
    assert link(body, areas[city.s11.code], "cases").startswith(f"{reverse('case_list')}?grid={city.s11.code}")


def test_boundaries_are_simplified_by_zoom(city, people, cases):
    import math

    ring = [[104.0 + 0.02 * math.cos(i / 50), 30.0 + 0.02 * math.sin(i / 50)] for i in range(0, 314)]
    grid_services.region_set_boundary(
        actor=city.actor, region=city.g1111, boundary={"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    )
    sizes = {}
    for zoom in (8, 16):
        body = data(people.supervisor, zoom=zoom)
        polygon = next(f for f in by_kind(body, "area") if f["properties"]["code"] == city.g1111.code)
        sizes[zoom] = geometry.vertex_count(polygon["geometry"])
    assert sizes[8] < sizes[16] <= 315


@pytest.mark.django_db(transaction=True)  # nothing is cached from inside a transaction
def test_simplified_boundaries_are_cached_until_the_tree_changes(city, people, cases):
    c = client_for(people.supervisor)
    c.get(DATA, {"zoom": 12})
    with CaptureQueriesContext(connection) as cached:
        c.get(DATA, {"zoom": 12})
    assert not any('"grids_region"."boundary"' in q["sql"] for q in cached.captured_queries)
    grid_services.region_set_boundary(actor=city.actor, region=city.g1112, boundary=box(104.02, 30.02, 104.03, 30.03))
    body = c.get(DATA, {"zoom": 12}).json()
    polygon = next(f for f in by_kind(body, "area") if f["properties"]["code"] == city.g1112.code)["geometry"]
    assert polygon["coordinates"][0][0] == [104.02, 30.02]


@pytest.mark.django_db(transaction=True)  # the grants, categories and areas come from the cache, as in production
def test_the_endpoint_makes_a_bounded_number_of_queries(city, people, cases, django_assert_max_num_queries):
    c = client_for(people.supervisor)
    c.get(DATA)
    # the session's user, the region, the tree's stamp, the counts, the points
    with django_assert_max_num_queries(5):
        assert c.get(DATA).status_code == 200


# --- filters --------------------------------------------------------------------------------------------------


def test_filters_category_state_light_and_period(city, people, cases):
    s = people.supervisor
    assert data(s, category=cases.other.pk)["total"] == 1
    assert data(s, category=cases.zdjy.pk)["total"] == 5
    assert data(s, category=cases.zdjy.parent_id)["total"] == 5 + (cases.other.parent_id == cases.zdjy.parent_id)
    red = data(s, light="red")
    assert red["total"] == 1 and [p["properties"]["id"] for p in by_kind(red, "case")] == [cases.a.pk]
    assert data(s, light="green")["total"] == 1
    assert data(s, state="reported")["total"] == 6
    assert data(s, state="called")["total"] == 0
    assert data(s, period="30d")["total"] == 5  # the case reported 40 days ago is out
    assert data(s, period="today")["total"] == 5
    today = timezone.localdate()
    old_day = today - timedelta(days=40)
    assert data(s, period="custom", date_from=old_day.isoformat(), date_to=old_day.isoformat())["total"] == 1
    cancelled = data(s, state="cancelled", period="7d")
    assert cancelled["total"] == 1 and by_kind(cancelled, "case")[0]["properties"]["id"] == cases.gone.pk


def test_the_page_carries_the_filters_to_the_endpoint(city, people, cases):
    response = client_for(people.supervisor).get(PAGE, {"category": cases.zdjy.pk, "light": "red", "period": "7d"})
    assert response.status_code == 200
    url = response.context["data_url"]
    assert f"category={cases.zdjy.pk}" in url and "light=red" in url and "period=7d" in url
    html = response.content.decode()
    assert 'data-testid="case-map"' in html and "data-url=" in html
    assert "<script>" not in html


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "forever"}, "period"),
        ({"category": "999999"}, "category"),
        ({"category": "abc"}, "category"),
        ({"state": "lost"}, "state"),
        ({"light": "blue"}, "light"),
        ({"state": "closed"}, "period"),  # closed cases need a period
        ({"period": "custom", "date_from": "2026-01-02"}, "date_from"),
        ({"period": "custom", "date_from": "2026-02-02", "date_to": "2026-01-01"}, "date_to"),
        ({"period": "custom", "date_from": "2020-01-01", "date_to": "2026-01-01"}, "date_to"),
        ({"period": "custom", "date_from": "not-a-date", "date_to": "2026-01-01"}, "date_from"),
        ({"zoom": "far"}, "zoom"),
        ({"zoom": "99"}, "zoom"),
        ({"region": "x"}, "region"),
    ],
)
def test_bad_input_is_a_400_with_a_message(city, people, params, field):
    c = client_for(people.supervisor)
    response = c.get(DATA, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["detail"] and field in body["fields"]
    page = c.get(PAGE, params)
    assert page.status_code == 400
    assert 'data-testid="map-errors"' in page.content.decode()
    assert "data-url=" not in page.content.decode()


def test_the_page_speaks_chinese(city, people, cases):
    c = Client(headers={"accept-language": "zh-hans"})
    c.force_login(people.supervisor)
    html = c.get(PAGE).content.decode()
    assert "民情地图" in html and "图例" in html
    body = c.get(DATA, {"period": "forever"}).json()
    assert "period" in body["fields"] and body["detail"].startswith("上报时间")
