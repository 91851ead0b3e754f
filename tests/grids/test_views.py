"""Pages over HTTP: scoped to the viewer, 404 for what they may not see, forms that say what is wrong."""

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from grids.models import AuditLog, Department, Grant, Region, Role, User
from tests.factories import grant_role


@pytest.fixture
def people(city, make_user):
    admin = make_user("admin", display_name="王管理")
    grant_role(admin, "region_admin", city.city, actor=city.actor)
    street_admin = make_user("street-admin")
    grant_role(street_admin, "region_admin", city.s11, actor=city.actor)
    worker = make_user("worker", region=city.g1111)
    grant_role(worker, "grid_worker", city.g1111, actor=city.actor)
    other = make_user("other", region=city.g2111)
    grant_role(other, "grid_worker", city.g2111, actor=city.actor)
    return {"admin": admin, "street_admin": street_admin, "worker": worker, "other": other}


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


def test_login_required_and_inactive_cannot_log_in(people):
    c = Client()
    assert c.get(reverse("region_tree")).status_code == 302
    assert c.post(reverse("login"), {"username": "worker", "password": "pass-12345"}).status_code == 302
    people["other"].is_active = False
    people["other"].save()
    response = Client().post(reverse("login"), {"username": "other", "password": "pass-12345"})
    assert response.status_code == 200 and "_auth_user_id" not in Client().session


def test_tree_shows_only_the_viewers_subtree(city, people):
    response = client_for(people["worker"]).get(reverse("region_tree"))
    assert response.status_code == 200
    assert city.g1111.name in response.text and city.city.name not in response.text
    search = client_for(people["worker"]).get(reverse("region_tree"), {"q": "5199"})
    assert city.g1111.code in search.text and city.g2111.code not in search.text


@pytest.mark.parametrize(
    "name",
    [
        "region_detail",
        "region_children",
        "region_access",
        "region_add",
        "region_edit",
        "region_move",
        "region_retire",
        "region_delete",
        "region_recode",
    ],
)
def test_unseen_nodes_answer_404(city, people, name):
    assert client_for(people["worker"]).get(reverse(name, args=[city.g2111.pk])).status_code == 404
    assert client_for(people["street_admin"]).get(reverse(name, args=[city.c121.pk])).status_code == 404


def test_seen_but_not_allowed_answers_403(city, people):
    c = client_for(people["worker"])
    response = c.post(reverse("region_edit", args=[city.g1111.pk]), {"name": "改名"})
    assert response.status_code == 403
    assert Region.objects.get(pk=city.g1111.pk).name == city.g1111.name


def test_detail_page_shows_path_children_departments_and_actions(city, people):
    Department.objects.create(name="城管执法局", code="d1-cg", region=city.d1)
    response = client_for(people["street_admin"]).get(reverse("region_detail", args=[city.c111.pk]))
    text = response.text
    assert city.s11.name in text and city.g1112.name in text and "城管执法局" in text
    assert reverse("region_add", args=[city.c111.pk]) in text
    worker_page = client_for(people["worker"]).get(reverse("region_detail", args=[city.g1111.pk])).text
    assert reverse("region_edit", args=[city.g1111.pk]) not in worker_page


def test_add_child_through_the_form(city, people):
    c = client_for(people["street_admin"])
    form = c.get(reverse("region_add", args=[city.c111.pk]))
    assert city.c111.code + "003" in form.text  # the suggested code
    response = c.post(reverse("region_add", args=[city.c111.pk]), {"name": "第三网格", "code": city.c111.code + "003"})
    grid = Region.objects.get(code=city.c111.code + "003")
    assert response.status_code == 302 and response.url == reverse("region_detail", args=[grid.pk])
    assert AuditLog.objects.filter(action="region.add", actor=people["street_admin"]).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "code": "123"}, "15 digits"),
        ({"name": "x", "code": "519902001001009"}, "must begin with"),
        ({"name": "x", "code": "519901001001001"}, "already used"),
        ({"name": "x", "code": "519901001001009", "boundary": "{not json"}, "not valid JSON"),
        (
            {
                "name": "x",
                "code": "519901001001009",
                "boundary": '{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}',
            },
            "not valid",
        ),
        ({"name": "", "code": "519901001001009"}, "required"),
    ],
)
def test_add_child_bad_input_shows_errors_and_writes_nothing(city, people, data, message):
    before = Region.objects.count()
    response = client_for(people["admin"]).post(reverse("region_add", args=[city.c111.pk]), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Region.objects.count() == before


def test_move_form_refuses_wrong_level_and_moves(city, people):
    c = client_for(people["admin"])
    wrong = c.post(reverse("region_move", args=[city.c111.pk]), {"new_parent": city.d2.code})
    assert wrong.status_code == 200 and "No node with the code" in wrong.text
    ok = c.post(reverse("region_move", args=[city.c111.pk]), {"new_parent": city.s21.code})
    assert ok.status_code == 302
    assert Region.objects.get(pk=city.c111.pk).code.startswith(city.s21.code)


def test_grant_and_revoke_from_the_access_page(city, people):
    c = client_for(people["street_admin"])
    newbie = User.objects.create_user("newbie", password="pass-12345", region=city.c111)
    response = c.post(
        reverse("region_access", args=[city.c111.pk]),
        {"user": "newbie", "role": Role.objects.get(code="grid_worker").pk},
    )
    assert response.status_code == 302
    grant = Grant.objects.get(user=newbie)
    page = c.get(reverse("region_access", args=[city.c111.pk])).text
    assert "newbie" in page and "street-admin" in page  # here, and inherited from the street
    assert c.post(reverse("grant_revoke", args=[grant.pk])).status_code == 302
    assert not Grant.objects.filter(user=newbie).exists()


def test_grant_form_errors(city, people):
    c = client_for(people["street_admin"])
    response = c.post(
        reverse("region_access", args=[city.c111.pk]),
        {"user": "nobody", "role": Role.objects.get(code="grid_worker").pk},
    )
    assert "No active user" in response.text
    response = c.post(reverse("region_access", args=[city.c111.pk]), {"user": "worker"})
    assert "Choose either a role" in response.text
    # users outside the street admin's subtree cannot be picked
    response = c.post(
        reverse("region_access", args=[city.c111.pk]),
        {"user": "other", "role": Role.objects.get(code="grid_worker").pk},
    )
    assert "No active user" in response.text
    assert Grant.objects.filter(user=people["other"]).count() == 1


def test_team_grant_through_the_page(city, people):
    team = Group.objects.create(name="巡查组")
    response = client_for(people["admin"]).post(
        reverse("region_access", args=[city.s12.pk]),
        {"group": team.pk, "role": Role.objects.get(code="grid_worker").pk},
    )
    assert response.status_code == 302 and Grant.objects.filter(group=team, region=city.s12).exists()


def test_check_access_form(city, people):
    c = client_for(people["admin"])
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(codename="view_region")
    yes = c.get(reverse("access_check"), {"user": "worker", "permission": perm.pk, "region": city.g1111.code})
    assert "Yes" in yes.text and city.g1111.code in yes.text
    no = c.get(reverse("access_check"), {"user": "worker", "permission": perm.pk, "region": city.g1112.code})
    assert "No grant on this node" in no.text


def test_locate_page_and_json(city, people):
    c = client_for(people["worker"])
    lat, lng = (city.g1111.min_lat + city.g1111.max_lat) / 2, (city.g1111.min_lng + city.g1111.max_lng) / 2
    data = c.get(reverse("locate"), {"lat": lat, "lng": lng, "format": "json"}).json()
    assert data["grid"]["code"] == city.g1111.code
    assert c.get(reverse("locate"), {"lat": 95, "lng": lng, "format": "json"}).status_code == 400
    assert c.get(reverse("locate"), {"lat": 10, "lng": 10, "format": "json"}).status_code == 404
    other_grid = city.g2111
    lat2 = (other_grid.min_lat + other_grid.max_lat) / 2
    lng2 = (other_grid.min_lng + other_grid.max_lng) / 2
    assert c.get(reverse("locate"), {"lat": lat2, "lng": lng2, "format": "json"}).status_code == 404
    assert city.g1111.name in c.get(reverse("locate"), {"lat": lat, "lng": lng}).text


def test_department_pages(city, people):
    c = client_for(people["admin"])
    response = c.post(
        reverse("department_create"), {"name": "水务局", "code": "d1-sw", "region": city.d1.code, "is_active": "on"}
    )
    assert response.status_code == 302
    dept = Department.objects.get(code="d1-sw")
    bad = c.post(reverse("department_create"), {"name": "x", "code": "x", "region": city.c111.code, "is_active": "on"})
    assert "district or a street" in bad.text
    assert c.post(reverse("department_members", args=[dept.pk]), {"members": "worker\nother"}).status_code == 302
    assert set(dept.members.values_list("username", flat=True)) == {"worker", "other"}
    assert "Unknown or inactive" in c.post(reverse("department_members", args=[dept.pk]), {"members": "ghost"}).text
    assert (
        c.post(
            reverse("department_edit", args=[dept.pk]), {"name": "水务局", "code": "d1-sw", "region": city.d1.code}
        ).status_code
        == 302
    )
    assert not Department.objects.get(pk=dept.pk).is_active  # retired
    assert client_for(people["street_admin"]).get(reverse("department_edit", args=[dept.pk])).status_code == 404


def test_staff_pages_are_scoped(city, people):
    c = client_for(people["street_admin"])
    listing = c.get(reverse("staff_list")).text
    assert "worker" in listing and ">other<" not in listing
    assert c.get(reverse("staff_edit", args=[people["other"].pk])).status_code == 404
    created = c.post(
        reverse("staff_create"),
        {
            "username": "new-worker",
            "display_name": "新人",
            "region": city.g1112.code,
            "is_active": "on",
            "password": "a-Long-pass-2026",
        },
    )
    assert created.status_code == 302
    assert User.objects.get(username="new-worker").check_password("a-Long-pass-2026")
    outside = c.post(
        reverse("staff_create"),
        {"username": "x", "display_name": "x", "region": city.g2111.code, "password": "a-Long-pass-2026"},
    )
    assert "where you manage staff" in outside.text and not User.objects.filter(username="x").exists()
    c.post(
        reverse("staff_edit", args=[people["worker"].pk]),
        {"username": "worker", "display_name": "W", "region": city.g1111.code},
    )
    assert not User.objects.get(username="worker").is_active


def test_roles_page_edits_bundles(city, people):
    c = client_for(people["admin"])
    role = Role.objects.get(code="grid_worker")
    from django.contrib.auth.models import Permission

    perms = [Permission.objects.get(codename="view_region").pk, Permission.objects.get(codename="change_region").pk]
    assert (
        c.post(
            reverse("role_edit", args=[role.pk]), {"code": role.code, "name": "网格员", "permissions": perms}
        ).status_code
        == 302
    )
    assert role.permissions.count() == 2
    assert (
        client_for(people["street_admin"])
        .post(reverse("role_edit", args=[role.pk]), {"code": role.code, "name": "x", "permissions": []})
        .status_code
        == 403
    )


def test_csrf_is_enforced(city, people):
    c = Client(enforce_csrf_checks=True)
    c.force_login(people["admin"])
    assert (
        c.post(reverse("region_add", args=[city.c111.pk]), {"name": "x", "code": city.c111.code + "009"}).status_code
        == 403
    )
    assert not Region.objects.filter(code=city.c111.code + "009").exists()


def test_chinese_by_default_and_language_switch_is_remembered_per_user(city, people):
    c = Client()
    c.force_login(people["worker"])
    assert "区域树" in c.get(reverse("region_tree")).text
    c.post(reverse("language_switch"), {"language": "en", "next": "/regions/"})
    assert User.objects.get(pk=people["worker"].pk).language == "en"
    fresh = Client()  # another browser: the account's choice follows the person
    fresh.force_login(people["worker"])
    page = fresh.get(reverse("region_tree")).text
    assert "Region tree" in page and "区域树" not in page
    evil = c.post(reverse("language_switch"), {"language": "zh-hans", "next": "https://evil.example/"})
    assert evil.url == "/"


def test_export_is_scoped(city, people):
    body = client_for(people["street_admin"]).get(reverse("region_export_csv")).content.decode("utf-8-sig")
    assert city.g1111.code in body and city.g2111.code not in body
    geo = json.loads(client_for(people["street_admin"]).get(reverse("boundary_export")).content)
    assert {f["properties"]["code"] for f in geo["features"]} >= {city.g1111.code}


def test_import_preview_then_confirm(city, people):
    from django.core.files.uploadedfile import SimpleUploadedFile

    c = client_for(people["street_admin"])
    csv = f"code,name,parent_code,level\n{city.c111.code}005,导入网格,{city.c111.code},grid\n".encode()
    preview = c.post(reverse("region_import"), {"file": SimpleUploadedFile("r.csv", csv, "text/csv")})
    assert "import-preview" in preview.text and not Region.objects.filter(code=f"{city.c111.code}005").exists()
    done = c.post(reverse("region_import"), {"confirm": "1"})
    assert done.status_code == 302 and Region.objects.filter(code=f"{city.c111.code}005").exists()
    bad = c.post(reverse("region_import"), {"file": SimpleUploadedFile("r.csv", b"\x89PNG\r\n\x1a\n0000", "text/csv")})
    assert "import-errors" in bad.text


# The home page is each role's work now (cases.home_views, counted in tests/cases/test_home.py).
@pytest.mark.parametrize("name", ["region_tree", "department_list", "staff_list", "role_list"])
def test_pages_use_a_constant_number_of_queries(city, people, django_assert_max_num_queries, name):
    for i in range(5):
        User.objects.create_user(f"extra{i}", region=city.g1111)
    c = client_for(people["admin"])
    with django_assert_max_num_queries(9):  # session, user, grants, unread notifications, the page's own
        assert c.get(reverse(name)).status_code == 200


def test_detail_page_query_count(city, people, django_assert_max_num_queries):
    c = client_for(people["admin"])
    with django_assert_max_num_queries(10):
        assert c.get(reverse("region_detail", args=[city.c111.pk])).status_code == 200
    with django_assert_max_num_queries(14):
        assert c.get(reverse("region_access", args=[city.c111.pk])).status_code == 200
