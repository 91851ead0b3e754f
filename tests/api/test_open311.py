"""Open311 GeoReport v2, checked against the shapes of the specification's own examples, in JSON and XML, and
every error case (the spec's error format: a list of {code, description})."""

import pytest
from defusedxml.ElementTree import fromstring

from cases import services as case_services
from cases.models import Case, CaseEvent, Category, Open311Request
from cases.open311 import services as open311

# Element names and order of the spec's examples (GeoReport v2: GET services, GET service definition, GET requests,
# POST requests, GET tokens, errors).
SERVICE = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
ATTRIBUTE = ["variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"]
REQUEST = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
POSTED = ["service_request_id", "token", "service_notice", "account_id"]
INSIDE = {"lat": "30.01", "long": "104.01"}  # grid 1111 of the test city
OUTSIDE = {"lat": "31.5", "long": "110.0"}


@pytest.fixture
def key(db):
    return open311.key_create(actor=None, name="市民云", requests_per_minute=100).secret


@pytest.fixture
def client():
    """A client app that asks for English (the city's default is Chinese)."""
    from django.test import Client

    return Client(headers={"accept-language": "en"})


@pytest.fixture
def street(cast):
    return cast


def post(client, fmt="json", **data):
    return client.post(f"/open311/v2/requests.{fmt}", data)


def xml(response):
    assert response["Content-Type"].startswith("text/xml")
    return fromstring(response.content)


def errors_of(response, fmt="json"):
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "errors"
        return [(int(e.findtext("code")), e.findtext("description")) for e in root.findall("error")]
    return [(e["code"], e["description"]) for e in response.json()]


def test_services_in_both_formats_have_the_spec_fields(client, db):
    rows = client.get("/open311/v2/services.json").json()
    codes = {r["service_code"] for r in rows}
    assert "csgl-zdjy" in codes and "mdjf-llj" not in codes  # only public categories
    assert all(list(r) == SERVICE for r in rows)
    zdjy = next(r for r in rows if r["service_code"] == "csgl-zdjy")
    assert zdjy["metadata"] is True and zdjy["type"] == "realtime" and zdjy["group"] == "城市管理"
    root = xml(client.get("/open311/v2/services.xml"))
    assert root.tag == "services"
    first = root.find("service")
    assert [c.tag for c in first] == SERVICE
    assert {s.findtext("service_code") for s in root.findall("service")} == codes


def test_service_definition_lists_the_attributes(client, db):
    body = client.get("/open311/v2/services/csgl-zdjy.json").json()
    assert body["service_code"] == "csgl-zdjy"
    (attr,) = body["attributes"]
    assert list(attr) == ATTRIBUTE and attr["code"] == "blocking" and attr["required"] is True
    assert [v["key"] for v in attr["values"]] == ["yes", "no"]
    root = xml(client.get("/open311/v2/services/csgl-zdjy.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "csgl-zdjy"
    values = root.find("attributes/attribute/values")
    assert [v.findtext("key") for v in values.findall("value")] == ["yes", "no"]
    assert client.get("/open311/v2/services/mdjf-llj.json").status_code == 404  # not public


def test_discovery(client, db):
    body = client.get("/open311/v2/discovery.json").json()
    assert body["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert xml(client.get("/open311/v2/discovery.xml")).tag == "discovery"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_a_request_makes_an_ordinary_report_of_its_grid(client, street, key, fmt):
    r = post(
        client,
        fmt,
        api_key=key,
        service_code="csgl-zdjy",
        description="门口有人摆摊，挡住盲道",
        first_name="San",
        last_name="Zhang",
        phone="13800138000",
        email="zs@example.org",
        **{"attribute[blocking]": "yes"},
        **INSIDE,
    )
    assert r.status_code == 201, r.content
    if fmt == "json":
        (row,) = r.json()
        assert list(row) == POSTED
        number, token = row["service_request_id"], row["token"]
    else:
        root = xml(r)
        assert root.tag == "service_requests" and [c.tag for c in root.find("request")] == POSTED
        number, token = root.findtext("request/service_request_id"), root.findtext("request/token")
    case = Case.objects.get(number=number)
    assert case.source == "open311" and case.state == "reported" and case.region == street.city.g1111
    assert case.reporter is None and "13800138000" in case.reporter_contact
    assert Open311Request.objects.get(case=case).token == token
    report = CaseEvent.objects.get(case=case, transition="report")
    assert report.data["origin"]["client"] == "市民云"
    # The community sees it in its triage queue like any other report.
    assert case in case_services.selectors.triage_queue(user=street.community)


def test_get_requests_never_shows_personal_data(client, street, key):
    number = post(
        client,
        api_key=key,
        service_code="csgl-ldlf",
        description="楼道堆物",
        phone="13800138000",
        email="zs@example.org",
        first_name="San",
        **INSIDE,
    ).json()[0]["service_request_id"]
    for url in ["/open311/v2/requests.json", f"/open311/v2/requests/{number}.json", "/open311/v2/requests.xml"]:
        body = client.get(url).content.decode()
        assert number in body
        assert "13800138000" not in body and "zs@example.org" not in body and "San" not in body
    (row,) = client.get(f"/open311/v2/requests/{number}.json").json()
    assert list(row) == REQUEST and row["status"] == "open"
    assert row["requested_datetime"].endswith("+08:00")
    assert row["status_notes"] == "Received; the community is looking at it."
    root = xml(client.get(f"/open311/v2/requests/{number}.xml"))
    assert [c.tag for c in root.find("request")] == REQUEST


def test_requests_filters(client, street, key):
    a = post(client, api_key=key, service_code="csgl-ldlf", description="a", **INSIDE).json()[0]["service_request_id"]
    b = post(client, api_key=key, service_code="hjws-lj", description="b", **INSIDE).json()[0]["service_request_id"]
    ids = lambda r: {x["service_request_id"] for x in r.json()}  # noqa: E731
    assert ids(client.get("/open311/v2/requests.json", {"service_code": "hjws-lj"})) == {b}
    assert ids(client.get("/open311/v2/requests.json", {"service_request_id": f"{a},{b}"})) == {a, b}
    assert ids(client.get("/open311/v2/requests.json", {"status": "closed"})) == set()
    assert ids(client.get("/open311/v2/requests.json", {"status": "open"})) == {a, b}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_error_in_the_spec_format(client, street, key, fmt, settings):
    settings.OPEN311_JURISDICTION = "yunchuan.gov.cn"
    cases = [
        (post(client, fmt, service_code="csgl-ldlf", **INSIDE), 403),  # no api_key
        (post(client, fmt, api_key="o311_wrong", service_code="csgl-ldlf", **INSIDE), 403),
        (post(client, fmt, api_key=key, **INSIDE), 400),  # no service_code
        (post(client, fmt, api_key=key, service_code="nope", **INSIDE), 404),
        (post(client, fmt, api_key=key, service_code="csgl-ldlf"), 400),  # no location
        (post(client, fmt, api_key=key, service_code="csgl-zdjy", **INSIDE), 400),  # required attribute missing
    ]
    for response, code in cases:
        assert response.status_code == code, response.content
        ((got, description),) = errors_of(response, fmt)
        assert got == code and description
    outside = post(client, fmt, api_key=key, service_code="csgl-ldlf", **OUTSIDE)
    assert outside.status_code == 400
    assert "outside every grid" in errors_of(outside, fmt)[0][1]
    address_only = post(client, fmt, api_key=key, service_code="csgl-ldlf", address_string="人民路1号")
    assert address_only.status_code == 400 and "address alone" in errors_of(address_only, fmt)[0][1]
    too_long = post(client, fmt, api_key=key, service_code="csgl-ldlf", description="x" * 4001, **INSIDE)
    assert too_long.status_code == 400
    bad = client.get(
        f"/open311/v2/requests.{fmt}", {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    )
    assert bad.status_code == 400 and "90 days" in errors_of(bad, fmt)[0][1]
    assert client.get(f"/open311/v2/requests.{fmt}", {"status": "maybe"}).status_code == 400
    assert client.get(f"/open311/v2/requests.{fmt}", {"start_date": "yesterday"}).status_code == 400
    assert client.get(f"/open311/v2/requests/NOPE-1.{fmt}").status_code == 404
    assert client.get(f"/open311/v2/tokens/deadbeef.{fmt}").status_code == 404
    wrong = client.get(f"/open311/v2/services.{fmt}", {"jurisdiction_id": "elsewhere.gov"})
    assert wrong.status_code == 404 and errors_of(wrong, fmt)[0][0] == 404
    assert client.get(f"/open311/v2/services.{fmt}", {"jurisdiction_id": "yunchuan.gov.cn"}).status_code == 200
    # No case was written by any of the refused posts.
    assert not Case.objects.filter(source="open311").exists()


def test_address_alone_goes_to_the_configured_grid(client, street, key, settings):
    settings.OPEN311_ADDRESS_GRID = street.city.g1112.code
    r = post(client, api_key=key, service_code="csgl-ldlf", address_string="人民路1号")
    assert r.status_code == 201
    assert Case.objects.get(number=r.json()[0]["service_request_id"]).region == street.city.g1112


def test_a_key_has_its_own_rate_limit_and_can_be_revoked(client, street):
    key = open311.key_create(actor=None, name="小程序", requests_per_minute=5).secret
    codes = [post(client, api_key=key, service_code="csgl-ldlf", **INSIDE).status_code for _ in range(6)]
    assert codes[:5] == [201] * 5 and codes[5] == 429
    from cases.models import Open311Key

    open311.key_revoke(actor=street.city.actor, key=Open311Key.objects.get(name="小程序"))
    assert post(client, api_key=key, service_code="csgl-ldlf", **INSIDE).status_code == 403


def test_status_follows_the_case_to_closed(client, street, key, category):
    made = post(client, api_key=key, service_code="csgl-ldlf", description="楼道堆物", **INSIDE).json()[0]
    case = Case.objects.get(number=made["service_request_id"])
    case = case_services.case_transition(case=case, action="settle", actor=street.community, comment="已清理")
    case = case_services.case_transition(case=case, action="verify_ok", actor=street.worker)
    case = case_services.case_transition(case=case, action="close", actor=street.dispatcher)
    (row,) = client.get(f"/open311/v2/requests/{case.number}.json").json()
    assert row["status"] == "closed" and row["status_notes"] == "Closed." and "已清理" not in str(row)
    (row,) = client.get(f"/open311/v2/tokens/{made['token']}.json").json()
    assert row == {"service_request_id": case.number, "token": made["token"]}


def test_open311_key_command_and_page(client, street):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("open311_key", "一网通办", stdout=out)
    secret = out.getvalue().strip()
    assert secret.startswith("o311_") and open311.key_check(secret).name == "一网通办"
    client.force_login(street.city.actor)
    page = client.get("/cases/open311/keys/")
    assert page.status_code == 200 and "一网通办" in page.content.decode() and secret not in page.content.decode()
    client.force_login(street.dispatcher)
    assert client.get("/cases/open311/keys/").status_code == 403


def test_category_fields(db):
    assert Category.objects.get(code="csgl-zdjy").is_public


def test_a_photo_uploaded_with_the_request_is_checked_and_kept(client, street, key, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cases.models import Attachment
    from tests.cases.test_views import png

    settings.MEDIA_ROOT = str(tmp_path / "media")
    r = client.post(
        "/open311/v2/requests.json",
        {"api_key": key, "service_code": "csgl-ldlf", "media": png(), **INSIDE},
    )
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    assert Attachment.objects.get(case=case).content_type == "image/png"
    fake = SimpleUploadedFile("x.jpg", b"MZ\x90\x00" + b"\x00" * 100, content_type="image/jpeg")
    bad = client.post(
        "/open311/v2/requests.json", {"api_key": key, "service_code": "csgl-ldlf", "media": fake, **INSIDE}
    )
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    assert Case.objects.filter(source="open311").count() == 1
