"""Bad input gets a clear 400 or a form error, never a 500, and writes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from govgrid import safejson
from grids.models import AuditLog, Region, Role
from tests.factories import grant_role


@pytest.fixture
def people(city, make_user):
    admin = make_user("admin", region=city.city)
    grant_role(admin, "region_admin", city.city, actor=city.actor)
    worker = make_user("worker", region=city.g1111)
    grant_role(worker, "grid_worker", city.g1111, actor=city.actor)
    return {"admin": admin, "worker": worker}


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


def test_nul_in_a_query_string_is_a_400_that_says_so(people):
    response = client_for(people["admin"]).get(reverse("staff_list"), {"q": "a\x00b"})
    assert response.status_code == 400 and "NUL character" in response.text
    api_like = client_for(people["admin"]).get("/staff/?q=%00", headers={"accept": "application/json"})
    assert api_like.status_code == 400 and api_like.json()["detail"]


def test_nul_in_a_form_is_refused_and_nothing_changes(city, people):
    admin = client_for(people["admin"])
    before = AuditLog.objects.count()
    response = admin.post(reverse("region_retire", args=[city.g1111.pk]), {"reason": "合并\x00"})
    assert response.status_code == 400
    assert Region.objects.get(pk=city.g1111.pk).is_active
    assert AuditLog.objects.count() == before


def test_deeply_nested_geojson_is_refused_in_the_import_and_in_the_form(city, people):
    deep = "[" * 100_000 + "]" * 100_000
    body = ('{"type": "FeatureCollection", "features": ' + deep + "}").encode()
    c = client_for(people["admin"])
    response = c.post(
        reverse("boundary_import"), {"file": SimpleUploadedFile("b.geojson", body, "application/geo+json")}
    )
    assert response.status_code == 200 and "nested deeper than" in response.text
    before = Region.objects.get(pk=city.g1111.pk).boundary
    edit = c.post(
        reverse("region_edit", args=[city.g1111.pk]),
        {"name": city.g1111.name, "boundary": '{"type": "Polygon", "coordinates": ' + deep + "}"},
    )
    assert edit.status_code == 200 and "nested deeper than" in edit.text
    assert Region.objects.get(pk=city.g1111.pk).boundary == before


def test_safejson_bounds_depth_size_and_nul():
    assert safejson.loads('{"a": [1, {"b": "]]]"}]}') == {"a": [1, {"b": "]]]"}]}
    assert safejson.depth('"[[[[" ') == 0 and safejson.depth('[["\\"["]]') == 2
    with pytest.raises(safejson.JSONTooDeep):
        safejson.loads("[" * 65 + "]" * 65)
    with pytest.raises(ValueError, match="larger than"):
        safejson.loads(b"[" + b" " * 100 + b"]", max_bytes=50)
    with pytest.raises(ValueError, match="NUL"):
        safejson.loads('{"name": "a\\u0000b"}')
    with pytest.raises(ValueError, match="not valid JSON"):
        safejson.loads("{nope")


@pytest.mark.parametrize(
    "name, args",
    [
        ("role_create", []),
        ("team_create", []),
        ("region_add", ["g1111"]),
        ("region_edit", ["g1111"]),
        ("region_recode", ["g1111"]),
        ("region_move", ["g1111"]),
        ("region_retire", ["g1111"]),
        ("region_delete", ["g1111"]),
        ("staff_list", []),
        ("staff_create", []),
        ("department_create", []),
        ("transfer", []),
        ("region_import", []),
    ],
)
def test_forms_are_not_shown_to_people_who_may_not_use_them(city, people, name, args):
    args = [getattr(city, a).pk for a in args]
    response = client_for(people["worker"]).get(reverse(name, args=args))
    assert response.status_code in (403, 404), (name, response.status_code)
    assert response.status_code != 403 or "permission" in response.text or "Only" in response.text


def test_an_existing_roles_form_is_refused_to_a_grid_worker(people):
    role = Role.objects.get(code="grid_worker")
    assert client_for(people["worker"]).get(reverse("role_edit", args=[role.pk])).status_code == 403
    assert client_for(people["admin"]).get(reverse("role_edit", args=[role.pk])).status_code == 200


def test_an_import_with_a_nul_character_is_refused_in_the_preview(city, people):
    row = [f"{city.c111.code}099", "导入\x00网格", city.c111.code, "grid"]
    # far enough down the file that the first bytes look like ordinary text
    padding = "".join(f"{city.c111.code}{n:03d},网格{n},{city.c111.code},grid\n" for n in range(5, 400))
    body = ("code,name,parent_code,level\n" + padding + ",".join(row) + "\n").encode()
    c = client_for(people["admin"])
    preview = c.post(reverse("region_import"), {"file": SimpleUploadedFile("r.csv", body)})
    assert preview.status_code == 200 and "contains a NUL character" in preview.text
    assert c.post(reverse("region_import"), {"confirm": "1"}).status_code == 302  # nothing stored to confirm
    assert not Region.objects.filter(code__in=[row[0], f"{city.c111.code}005"]).exists()
