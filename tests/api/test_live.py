"""Against the running server with a real HTTP client: an Open311 client's whole round trip, and the API docs
page, which loads nothing from outside the machine."""

import re

import httpx
import pytest

from cases import services as case_services
from cases.models import Case
from cases.open311 import services as open311

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_open311_client_reports_and_sees_the_case_close(live_server, cast):
    key = open311.key_create(actor=None, name="市民云", requests_per_minute=100).secret
    with httpx.Client(base_url=f"{live_server.url}/open311/v2/", timeout=30) as client:
        services = client.get("services.json")
        assert services.status_code == 200 and services.headers["content-type"].startswith("application/json")
        assert "csgl-ldlf" in {s["service_code"] for s in services.json()}
        posted = client.post(
            "requests.json",
            data={
                "api_key": key,
                "service_code": "csgl-ldlf",
                "lat": "30.01",
                "long": "104.01",
                "description": "楼道里堆满杂物",
                "email": "resident@example.org",
            },
        )
        assert posted.status_code == 201, posted.text
        (made,) = posted.json()
        number, token = made["service_request_id"], made["token"]
        (by_id,) = client.get(f"requests/{number}.json").json()
        assert by_id["status"] == "open" and by_id["service_code"] == "csgl-ldlf"
        assert "resident@example.org" not in client.get(f"requests/{number}.json").text
        assert client.get(f"tokens/{token}.json").json() == [{"service_request_id": number, "token": token}]
        xml = client.get(f"requests/{number}.xml")
        assert xml.headers["content-type"].startswith("text/xml") and f"<service_request_id>{number}<" in xml.text

        case = Case.objects.get(number=number)
        assert case.region == cast.city.g1111 and case.source == "open311"
        case = case_services.case_transition(case=case, action="settle", actor=cast.community, comment="已清理")
        case = case_services.case_transition(case=case, action="verify_ok", actor=cast.worker)
        case_services.case_transition(case=case, action="close", actor=cast.dispatcher)
        (closed,) = client.get(f"requests/{number}.json").json()
        assert closed["status"] == "closed"


def test_the_api_docs_load_only_from_this_server(live_server, cast, settings):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        for page in ("/api/docs/", "/api/docs/redoc/"):
            html = client.get(page)
            assert html.status_code == 200
            addresses = re.findall(r'(?:src|href)="([^"]+)"', html.text) + re.findall(r"https?://[^\s\"')]+", html.text)
            outside = [
                a
                for a in addresses
                if a.startswith(("http://", "https://", "//")) and not a.startswith(live_server.url)
            ]
            assert not outside, outside
            for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html.text):
                assert client.get(asset).status_code == 200, asset
        schema = client.get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"})
        assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
