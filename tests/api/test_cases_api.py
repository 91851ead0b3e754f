"""The cases API over HTTP, against the pages: the same rows for each role, the same events for a transition, the
same permissions (404 unseen, 403 seen but not allowed, 401 first), 409 with the current state, constant queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Attachment, Case, CaseEvent, WorkOrder
from tests.cases.test_views import act, called, client_for, dispatched, png, report

pytestmark = pytest.mark.postgres

NUMBER = re.compile(r"\b\d{6}-\d{8}-\d{4}\b")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def town(cast, category):
    """Cases at every stage in district 1, and one in district 2 that nobody in district 1 sees."""
    made = {
        "reported": report(cast, category, title="甲"),
        "reported2": report(cast, category, title="乙", grid=cast.city.g1112, reporter=cast.worker2),
        "called": called(cast, category, title="丙"),
        "dispatched": dispatched(cast, category, departments=("cgzf",)),
        "elsewhere": report(cast, category, title="丁", grid=cast.city.g2111, reporter=cast.outsider),
    }
    return made


def page_numbers(user, url: str) -> set[str]:
    response = client_for(user).get(url)
    assert response.status_code == 200
    return set(NUMBER.findall(response.text))


def api_numbers(api, user, url: str, key="number") -> set[str]:
    response = api(user).get(url)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    return {r[key] for r in rows}


@pytest.mark.parametrize(
    "who, page, endpoint, key",
    [
        ("dispatcher", "street_queue", "/api/v1/cases/?queue=street", "number"),
        ("dispatcher", "case_list", "/api/v1/cases/", "number"),
        ("cg", "inbox", "/api/v1/work-orders/", "case_number"),
        ("cg", "case_list", "/api/v1/cases/", "number"),
        ("community", "triage", "/api/v1/cases/?queue=triage", "number"),
        ("community", "case_list", "/api/v1/cases/", "number"),
        ("worker", "my_cases", "/api/v1/cases/?queue=mine", "number"),
        ("worker", "case_list", "/api/v1/cases/", "number"),
        ("outsider", "case_list", "/api/v1/cases/", "number"),
    ],
)
def test_endpoint_rows_are_the_page_rows(api, cast, town, who, page, endpoint, key):
    user = getattr(cast, who)
    on_page = page_numbers(user, reverse(page))
    assert on_page, "the page should list something for this role"
    assert api_numbers(api, user, endpoint, key) == on_page


def test_filters_and_sorts_match_the_page(api, cast, town):
    url = reverse("case_list") + "?sort=oldest&q=丙"
    assert api_numbers(api, cast.dispatcher, "/api/v1/cases/?sort=oldest&q=丙") == page_numbers(cast.dispatcher, url)
    rows = api(cast.community).get("/api/v1/cases/?sort=oldest").json()["results"]
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    states = api(cast.dispatcher).get("/api/v1/cases/", {"state": ["called", "dispatched"]}).json()["results"]
    assert {r["state"] for r in states} == {"called", "dispatched"}


def test_unknown_or_bad_parameters_are_400_with_fields(api, cast, town):
    client = api(cast.dispatcher)
    for params, field in [
        ({"colour": "red"}, "colour"),
        ({"state": "flying"}, "state"),
        ({"sort": "random"}, "sort"),
        ({"size": "0"}, "size"),
        ({"size": "abc"}, "size"),
        ({"older_than": "-1"}, "older_than"),
        ({"queue": "everything"}, "queue"),
    ]:
        r = client.get("/api/v1/cases/", params)
        assert r.status_code == 400, (params, r.content)
        body = r.json()
        assert body["code"] == "invalid" and field in body["fields"] and body["detail"]


def test_keyset_pages_walk_every_row_once(api, cast, category):
    for i in range(7):
        report(cast, category, title=f"第{i}件")
    client = api(cast.community)
    seen, url = [], "/api/v1/cases/?size=3"
    while url:
        body = client.get(url).json()
        seen += [r["number"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == 7 == len(set(seen))
    back = client.get(body["previous"]).json() if body["previous"] else None
    assert back and back["results"]


def test_case_list_queries_do_not_grow_with_page_size(api, cast, category):
    for i in range(25):
        report(cast, category, title=f"第{i}件")
    client = api(cast.dispatcher)
    counts = []
    for size in (1, 10, 25):
        client.get("/api/v1/cases/?size=1")  # warm the per-process caches as a running app has them
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(f"/api/v1/cases/?size={size}&queue=all")
        assert r.status_code == 200 and len(r.json()["results"]) == size
        assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
        counts.append(len(ctx.captured_queries))
    assert max(counts) <= 8 and len(set(counts)) == 1, counts
    for queue in ("street", "triage", "mine", "verify"):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/cases/?queue={queue}&size=25").status_code == 200
        assert len(ctx.captured_queries) <= 8, (queue, len(ctx.captured_queries))


def test_a_transition_through_the_api_writes_the_same_event_as_the_page(api, cast, category):
    by_page, by_api = called(cast, category, title="页"), called(cast, category, title="接口")
    assert act(cast.dispatcher, by_page, "accept").status_code == 302
    r = api(cast.dispatcher).post(
        f"/api/v1/cases/{by_api.pk}/transitions/accept/",
        {"version": Case.objects.get(pk=by_api.pk).version},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "accepted"

    def last(case):
        e = CaseEvent.objects.filter(case=case).latest("id")
        return (e.transition, e.from_state, e.to_state, e.actor_id, e.comment, e.data)

    assert last(by_page) == last(by_api)
    # dispatch, with the lead and an assisting department, as the page's form takes them
    dispatch = {"lead": cast.d["cgzf"].pk, "assisting": [cast.d["zj"].pk], "comment": "今日处理"}
    assert act(cast.dispatcher, by_page, "dispatch", dispatch).status_code == 302
    r = api(cast.dispatcher).post(
        f"/api/v1/cases/{by_api.pk}/transitions/dispatch/",
        {**dispatch, "version": Case.objects.get(pk=by_api.pk).version},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert last(by_page)[:5] == last(by_api)[:5]
    assert set(WorkOrder.objects.filter(case=by_api).values_list("department__kind", flat=True)) == {"cgzf", "zj"}


def test_errors_401_403_404_409_and_400(api, cast, town):
    case = town["reported"]
    url = f"/api/v1/cases/{case.pk}/transitions/call_street/"
    assert api().post(url, {"version": 1, "comment": "x"}, format="json").status_code == 401
    bad = api().get("/api/v1/cases/", HTTP_AUTHORIZATION="Bearer gg_nope")
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"
    # the worker sees the case but may not call the street: 403
    r = api(cast.worker).post(url, {"version": case.version, "comment": "x"}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    # the other district's worker does not see it: 404, for the case and its sub-resources
    for sub in ("", "events/", "actions/", "work-orders/", "deadlines/"):
        assert api(cast.outsider).get(f"/api/v1/cases/{case.pk}/{sub}").status_code == 404, sub
    assert api(cast.outsider).post(url, {"version": case.version, "comment": "x"}, format="json").status_code == 404
    # a required comment missing: 400 with the field
    r = api(cast.community).post(url, {"version": case.version}, format="json")
    assert r.status_code == 400 and "comment" in r.json()["fields"]
    r = api(cast.community).post(url, {"comment": "x"}, format="json")
    assert r.status_code == 400 and "version" in r.json()["fields"]
    # stale version: 409 with the current state and version
    r = api(cast.community).post(url, {"version": case.version + 5, "comment": "x"}, format="json")
    assert r.status_code == 409
    assert r.json()["current"] == {"id": case.pk, "number": case.number, "state": "reported", "level": 4, "version": 1}
    # not possible in this state: 409 too
    r = api(cast.dispatcher).post(
        f"/api/v1/cases/{case.pk}/transitions/close/", {"version": case.version}, format="json"
    )
    assert r.status_code == 409 and r.json()["current"]["state"] == "reported"
    assert api(cast.dispatcher).post(f"/api/v1/cases/{case.pk}/transitions/fly/", {}, format="json").status_code == 404
    assert not CaseEvent.objects.filter(case=case).exclude(transition="report").exists()  # nothing half-written


def test_actions_are_what_the_page_offers(api, cast, town):
    case = town["dispatched"]
    for user in (cast.dispatcher, cast.cg, cast.community, cast.worker):
        body = api(user).get(f"/api/v1/cases/{case.pk}/actions/").json()
        page = client_for(user).get(reverse("case_detail", args=[case.pk])).text
        offered = set(re.findall(r'data-testid="action-([a-z_]+)"', page)) - {"loader"}
        listed = set(body["transitions"]) | {c for codes in body["work_orders"].values() for c in codes}
        assert offered == listed, (user, offered, listed)
        assert body["version"] == Case.objects.get(pk=case.pk).version


def test_work_order_steps_through_the_api(api, cast, town):
    case = town["dispatched"]
    order = WorkOrder.objects.get(case=case)
    client = api(cast.cg)
    version = lambda: Case.objects.get(pk=case.pk).version  # noqa: E731
    r = client.post(f"/api/v1/work-orders/{order.pk}/steps/sign/", {"version": version()}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "signed"
    r = client.post(f"/api/v1/work-orders/{order.pk}/steps/complete/", {"version": version()}, format="json")
    assert r.status_code == 400 and "result" in r.json()["fields"]
    r = client.post(
        f"/api/v1/work-orders/{order.pk}/steps/complete/",
        {"version": version(), "result": "已清理", "files": [png()]},
        format="multipart",
    )
    assert r.status_code == 200, r.content
    assert Case.objects.get(pk=case.pk).state == "pending_verification"
    assert api(cast.zj).post(f"/api/v1/work-orders/{order.pk}/steps/sign/", {"version": version()}).status_code == 404
    inbox = api(cast.cg).get("/api/v1/work-orders/?tab=done").json()["results"]
    assert [o["id"] for o in inbox] == [order.pk]
    # the file: its details and download for those who see the case, 404 for others
    att = Attachment.objects.get(case=case)
    assert api(cast.cg).get(f"/api/v1/attachments/{att.pk}/").json()["content_type"] == "image/png"
    download = api(cast.dispatcher).get(f"/api/v1/attachments/{att.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content)[:4] == b"\x89PNG"
    assert api(cast.outsider).get(f"/api/v1/attachments/{att.pk}/download/").status_code == 404
    events = api(cast.dispatcher).get(f"/api/v1/cases/{case.pk}/events/").json()["results"]
    assert [e["transition"] for e in events][-2:] == ["wo_sign", "wo_complete"]
    assert events[-1]["attachments"][0]["id"] == att.pk


def test_report_through_the_api_with_a_photo(api, cast, category):
    r = api(cast.worker).post(
        "/api/v1/cases/",
        {
            "category": category.pk,
            "title": "门口占道",
            "region": cast.city.g1111.pk,
            "files": [png()],
            "reporter_contact": "13812345678",
        },
        format="multipart",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    case = Case.objects.get(pk=body["id"])
    assert case.reporter == cast.worker and Attachment.objects.filter(case=case).count() == 1
    assert body["reporter_contact"] == "138****5678"  # the worker does not dispatch: masked
    assert api(cast.dispatcher).get(f"/api/v1/cases/{case.pk}/").json()["reporter_contact"] == "13812345678"
    r = api(cast.worker).post(
        "/api/v1/cases/", {"category": category.pk, "title": "x", "region": cast.city.g2111.pk}, format="json"
    )
    assert r.status_code == 400 and "region" in r.json()["fields"]
    r = api(cast.cg).post("/api/v1/cases/", {"category": category.pk, "title": "x"}, format="json")
    assert r.status_code == 403


def test_deadlines_regions_departments_categories_notifications(api, cast, town):
    case = town["called"]
    clocks = api(cast.dispatcher).get(f"/api/v1/cases/{case.pk}/deadlines/").json()
    assert [c["step"] for c in clocks] == ["accept"] and clocks[0]["status"] in ("green", "yellow", "red")
    regions = api(cast.community).get("/api/v1/regions/").json()["results"]
    codes = {r["code"] for r in regions}
    assert cast.city.c111.code in codes and cast.city.c211.code not in codes
    located = api(cast.community).get("/api/v1/regions/locate/", {"lat": 30.01, "lng": 104.01}).json()
    assert located["code"] == cast.city.g1111.code and located["parent_code"] == cast.city.c111.code
    assert api(cast.community).get("/api/v1/regions/locate/", {"lat": 30.01, "lng": 104.13}).status_code == 404
    assert api(cast.community).get("/api/v1/regions/locate/", {"lat": 99, "lng": 104}).status_code == 400
    path = api(cast.community).get(f"/api/v1/regions/{cast.city.g1111.pk}/path/").json()
    assert [r["level"] for r in path] == [1, 2, 3, 4, 5]
    assert api(cast.community).get(f"/api/v1/regions/{cast.city.g2111.pk}/").status_code == 404
    kids = api(cast.community).get(f"/api/v1/regions/{cast.city.c111.pk}/children/").json()
    assert {k["code"] for k in kids} == {cast.city.g1111.code, cast.city.g1112.code}
    assert api(cast.cg).get("/api/v1/departments/").status_code == 200
    cats = api(cast.worker).get("/api/v1/categories/").json()
    assert any(c["code"] == "csgl-zdjy" and c["time_limits"]["normal"]["accept"] == 4 for c in cats)
    inbox = api(cast.cg).get("/api/v1/notifications/").json()["results"]
    assert inbox and inbox[0]["link"] == f"/cases/{town['dispatched'].pk}/"
    first = inbox[0]["id"]
    assert api(cast.cg).post(f"/api/v1/notifications/{first}/read/").json()["is_read"] is True
    assert api(cast.dispatcher).post(f"/api/v1/notifications/{first}/read/").status_code == 404
    assert api(cast.cg).get("/api/v1/notifications/?unread=true").json()["results"] == [
        n for n in api(cast.cg).get("/api/v1/notifications/?unread=true").json()["results"] if not n["is_read"]
    ]
