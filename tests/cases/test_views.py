"""Case pages over HTTP: each role sees its pages and only its buttons; every POST goes through the services;
what a viewer may not see answers 404, a step on a changed case 409; lists cost a constant number of queries."""

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from cases import selectors, services
from cases.models import Attachment, Case, CaseEvent, ResponseTemplate, WorkOrder
from cases.views import mask_contact
from cases.workflow import State, WorkOrderState
from grids.codes import Level
from tests.factories import page_queries

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


def png(name: str = "photo.png", size=(40, 30)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def centre(grid) -> tuple[float, float]:
    return (grid.min_lat + grid.max_lat) / 2, (grid.min_lng + grid.max_lng) / 2


def report(cast, category, title="占道经营", grid=None, reporter=None, **kwargs) -> Case:
    return services.case_report(
        reporter=reporter or cast.worker, category=category, title=title, region=grid or cast.city.g1111, **kwargs
    )


def called(cast, category, **kwargs) -> Case:
    case = report(cast, category, **kwargs)
    return services.case_transition(case=case, action="call_street", actor=cast.community, comment="需街道协调")


def accepted(cast, category, **kwargs) -> Case:
    return services.case_transition(case=called(cast, category, **kwargs), action="accept", actor=cast.dispatcher)


def dispatched(cast, category, departments=("cgzf", "zj")) -> Case:
    return services.case_transition(
        case=accepted(cast, category),
        action="dispatch",
        actor=cast.dispatcher,
        departments=[cast.d[k] for k in departments],
    )


def act(user, case, action, data=None, **kwargs):
    payload = {"version": Case.objects.get(pk=case.pk).version, **(data or {})}
    return client_for(user).post(reverse("case_action", args=[case.pk, action]), payload, **kwargs)


def wo_act(user, order, action, data=None):
    payload = {"version": Case.objects.get(pk=order.case_id).version, **(data or {})}
    return client_for(user).post(reverse("work_order_action", args=[order.pk, action]), payload)


# --- pages per role, and what outsiders get -----------------------------------------------------------------


def test_each_role_has_its_pages_and_menu(cast, category):
    case = dispatched(cast, category)
    pages = [
        (cast.worker, "case_report", "nav-report"),
        (cast.worker, "my_cases", "nav-report"),
        (cast.worker, "verify_queue", "nav-report"),
        (cast.community, "triage", "nav-triage"),
        (cast.dispatcher, "street_queue", "nav-street"),
        (cast.cg, "inbox", "nav-inbox"),
        (cast.supervisor, "case_list", "nav-street"),
    ]
    for user, name, menu in pages:
        response = client_for(user).get(reverse(name))
        assert response.status_code == 200, (user, name)
        assert f'data-testid="{menu}"' in response.text, (user, menu)
    worker_home = client_for(cast.worker).get(reverse("home")).text
    assert 'data-testid="nav-street"' not in worker_home and 'data-testid="nav-inbox"' not in worker_home
    assert 'data-testid="nav-report"' not in client_for(cast.cg).get(reverse("home")).text
    for user in (cast.worker, cast.community, cast.dispatcher, cast.supervisor, cast.cg):
        page = client_for(user).get(reverse("case_detail", args=[case.pk]))
        assert page.status_code == 200 and case.number in page.text, user


def test_outsiders_get_404_for_every_case_url(cast, category):
    case = dispatched(cast, category)
    order = case.work_orders.get(department=cast.d["cgzf"])
    for user in (cast.outsider, cast.other_dispatcher, cast.scjg, cast.worker2):
        c = client_for(user)
        assert c.get(reverse("case_detail", args=[case.pk])).status_code == 404, user
        assert act(user, case, "cancel", {"comment": "x"}).status_code == 404
        assert wo_act(user, order, "sign").status_code == 404
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED
    assert not CaseEvent.objects.filter(case=case, actor__in=[cast.outsider, cast.scjg]).exists()
    assert client_for(cast.worker).get(reverse("case_detail", args=[999_999])).status_code == 404


def test_lists_are_scoped(cast, category):
    mine = report(cast, category, title="本网格")
    other = services.case_report(reporter=cast.outsider, category=category, title="别处", region=cast.city.g2111)
    text = client_for(cast.worker).get(reverse("case_list")).text
    assert mine.number in text and other.number not in text
    assert other.number not in client_for(cast.community).get(reverse("triage")).text
    assert mine.number in client_for(cast.community).get(reverse("triage")).text
    assert mine.number not in client_for(cast.outsider).get(reverse("my_cases")).text


# --- the buttons match the viewer ---------------------------------------------------------------------------


def test_buttons_shown_match_the_viewer(cast, category):
    case = report(cast, category)
    worker_page = client_for(cast.worker).get(reverse("case_detail", args=[case.pk])).text
    assert 'data-testid="action-call_street"' not in worker_page
    assert 'data-testid="action-dispatch"' not in worker_page
    community_page = client_for(cast.community).get(reverse("case_detail", args=[case.pk])).text
    for code in ("settle", "call_street", "cancel"):
        assert f'data-testid="action-{code}"' in community_page
    assert 'data-testid="action-dispatch"' not in community_page

    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="协调")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    dispatcher_page = client_for(cast.dispatcher).get(reverse("case_detail", args=[case.pk])).text
    assert 'data-testid="action-dispatch"' in dispatcher_page
    assert 'data-testid="action-accept"' not in dispatcher_page  # already accepted
    # the form loads when opened (htmx), with the lead department suggested by the category pre-selected
    assert 'data-testid="action-loader"' in dispatcher_page and 'name="lead"' not in dispatcher_page
    opened = client_for(cast.dispatcher).get(
        reverse("case_action", args=[case.pk, "dispatch"]), headers={"HX-Request": "true"}
    )
    lead = cast.d["cgzf"]
    assert opened.status_code == 200 and f'<option value="{lead.pk}" selected>' in opened.text
    assert "<html" not in opened.text  # the form alone
    # without JavaScript the same address is the case page with that form open
    page_open = client_for(cast.dispatcher).get(reverse("case_action", args=[case.pk, "dispatch"])).text
    assert "<html" in page_open and f'<option value="{lead.pk}" selected>' in page_open
    # an action the viewer may not take is not offered when opened either
    refused = client_for(cast.dispatcher).get(
        reverse("case_action", args=[case.pk, "settle"]), headers={"HX-Request": "true"}
    )
    assert 'data-testid="not-available"' in refused.text
    for user in (cast.worker, cast.community, cast.hotline):
        page = client_for(user).get(reverse("case_detail", args=[case.pk])).text
        assert 'data-testid="action-dispatch"' not in page, user
    # a supervisor of the district may dispatch what the street holds
    assert (
        'data-testid="action-dispatch"' in client_for(cast.supervisor).get(reverse("case_detail", args=[case.pk])).text
    )


def test_department_member_sees_only_their_work_order_steps(cast, category):
    case = dispatched(cast, category)
    cg_page = client_for(cast.cg).get(reverse("case_detail", args=[case.pk])).text
    cg_order = case.work_orders.get(department=cast.d["cgzf"])
    zj_order = case.work_orders.get(department=cast.d["zj"])
    assert reverse("work_order_action", args=[cg_order.pk, "sign"]) in cg_page
    assert reverse("work_order_action", args=[zj_order.pk, "sign"]) not in cg_page
    assert 'data-testid="action-dispatch"' not in cg_page and 'data-testid="action-close"' not in cg_page
    # acting on the other department's order: the case is visible, the step is not theirs
    assert wo_act(cast.cg, zj_order, "sign").status_code == 403
    assert WorkOrder.objects.get(pk=zj_order.pk).state == WorkOrderState.ASSIGNED


# --- reporting ----------------------------------------------------------------------------------------------


def test_report_with_a_photo_creates_the_case_and_its_attachment(cast, category):
    lat, lng = centre(cast.city.g1111)
    page = client_for(cast.worker).get(reverse("case_report"))
    assert 'capture="environment"' in page.text and 'accept="image/*,application/pdf"' in page.text
    assert f'<option value="{cast.city.g1111.pk}" selected>' in page.text  # the worker's own grid
    assert "<optgroup" in page.text
    response = client_for(cast.worker).post(
        reverse("case_report"),
        {
            "category": category.pk,
            "title": "门口占道",
            "description": "早市摊点占道",
            "urgency": "",
            "source": "patrol",
            "region": "",
            "lat": lat,
            "lng": lng,
            "address": "一号路",
            "reporter_contact": "13800000000",
            "files": [png()],
        },
    )
    case = Case.objects.get(title="门口占道")
    assert response.status_code == 302 and response.url == reverse("case_detail", args=[case.pk])
    assert case.region == cast.city.g1111 and case.reporter == cast.worker  # located from the point
    attachment = Attachment.objects.get(case=case)
    assert attachment.content_type == "image/png" and attachment.event.transition == "report"
    detail = client_for(cast.worker).get(response.url).text
    assert reverse("attachment_thumb", args=[attachment.pk]) in detail and 'data-testid="photos-before"' in detail


@pytest.mark.parametrize(
    "upload",
    [
        SimpleUploadedFile("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, content_type="image/jpeg"),
        "corrupt",
    ],
    ids=["renamed-executable", "corrupt-image"],
)
def test_report_of_a_bad_file_shows_an_error_and_writes_nothing(cast, category, upload):
    if upload == "corrupt":
        data = png().read()
        upload = SimpleUploadedFile("broken.png", data[: len(data) // 2], content_type="image/png")
    before = Case.objects.count()
    response = client_for(cast.worker).post(
        reverse("case_report"),
        {
            "category": category.pk,
            "title": "坏文件",
            "source": "patrol",
            "region": cast.city.g1111.pk,
            "files": [upload],
        },
    )
    assert response.status_code == 200
    assert "not a photo" in response.text or "damaged" in response.text
    assert Case.objects.count() == before and not Attachment.objects.exists()


def test_report_needs_a_grid_or_a_point_and_the_right_to_report(cast, category):
    response = client_for(cast.worker).post(
        reverse("case_report"), {"category": category.pk, "title": "无位置", "source": "patrol", "region": ""}
    )
    assert response.status_code == 200 and "Choose the grid" in response.text
    # a grid the worker may not report in is not a valid choice
    response = client_for(cast.worker).post(
        reverse("case_report"),
        {"category": category.pk, "title": "别处", "source": "patrol", "region": cast.city.g2111.pk},
    )
    assert response.status_code == 200 and not Case.objects.filter(title="别处").exists()
    assert client_for(cast.cg).get(reverse("case_report")).status_code == 403


def test_nearby_open_case_warns_and_nothing_is_written_until_confirmed(cast, category):
    lat, lng = centre(cast.city.g1111)
    first = report(cast, category, title="第一次", lat=lat, lng=lng)
    data = {
        "category": category.pk,
        "title": "又一次",
        "source": "patrol",
        "region": cast.city.g1111.pk,
        "lat": lat + 0.0005,  # about 55 m north
        "lng": lng,
    }
    c = client_for(cast.worker)
    warned = c.post(reverse("case_report"), data)
    assert warned.status_code == 200 and 'data-testid="nearby-warning"' in warned.text
    assert first.number in warned.text and " m" in warned.text
    assert reverse("case_detail", args=[first.pk]) in warned.text  # go to that case instead
    assert not Case.objects.filter(title="又一次").exists()
    fragment = c.get(reverse("case_report_nearby"), {"category": category.pk, "lat": data["lat"], "lng": lng})
    assert first.number in fragment.text
    far = c.get(reverse("case_report_nearby"), {"category": category.pk, "lat": lat + 0.01, "lng": lng})
    assert far.text.strip() == ""
    confirmed = c.post(reverse("case_report"), {**data, "confirm_nearby": "1"})
    assert confirmed.status_code == 302 and Case.objects.filter(title="又一次").count() == 1


def test_nearby_selector_measures_exact_distance(cast, category):
    lat, lng = centre(cast.city.g1111)
    near = report(cast, category, title="近", lat=lat + 0.001, lng=lng)  # ~111 m
    report(cast, category, title="框内但远", lat=lat + 0.0017, lng=lng + 0.0019)  # in the box, ~250 m
    closed = report(cast, category, title="已作废", lat=lat, lng=lng)
    services.case_transition(case=closed, action="cancel", actor=cast.community, comment="不属实")
    found = selectors.nearby_open_cases(user=cast.worker, category=category, lat=lat, lng=lng)
    assert [c.pk for c in found] == [near.pk] and 100 < found[0].distance < 120
    assert selectors.nearby_open_cases(user=cast.outsider, category=category, lat=lat, lng=lng) == []


# --- triage, street, inbox ----------------------------------------------------------------------------------


def test_triage_offers_stock_phrases_and_calls_the_street(cast, category):
    case = report(cast, category)
    ResponseTemplate.objects.create(category=category, transition="call_street", text="占道专用常用语")
    page = client_for(cast.community).get(reverse("triage")).text
    assert 'data-testid="action-call_street"' in page
    # the form, loaded as the action is opened, offers the category's and the general stock phrases
    opened = (
        client_for(cast.community)
        .get(
            reverse("case_action", args=[case.pk, "call_street"]),
            {"next": reverse("triage")},
            headers={"HX-Request": "true"},
        )
        .text
    )
    assert "占道专用常用语" in opened and "社区已多次协调未果" in opened
    assert 'data-template-text="' in opened and f'name="next" value="{reverse("triage")}"' in opened
    response = act(cast.community, case, "call_street", {"comment": "需街道协调", "next": reverse("triage")})
    assert response.status_code == 302 and response.url == reverse("triage")
    case.refresh_from_db()
    assert case.state == State.CALLED and case.level == Level.STREET
    missing = act(cast.community, report(cast, category), "call_street", {"comment": ""})
    assert missing.status_code == 400 and "This field is required" in missing.text


def test_street_queue_holds_what_the_dispatcher_holds_and_filters(cast, category):
    first = called(cast, category, title="甲事件")
    second = called(cast, category, title="乙事件", grid=cast.city.g1112, reporter=cast.worker2)
    escalated = services.case_transition(
        case=called(cast, category, title="丙事件"), action="escalate", actor=cast.dispatcher, comment="需区协调"
    )
    reported = report(cast, category, title="丁事件")
    text = client_for(cast.dispatcher).get(reverse("street_queue")).text
    assert first.number in text and second.number in text
    assert escalated.number not in text and reported.number not in text  # held by the district / the community
    assert escalated.number in client_for(cast.supervisor).get(reverse("street_queue")).text
    sibling = client_for(cast.other_dispatcher).get(reverse("street_queue"))
    assert sibling.status_code == 200 and 'data-testid="whoami"' in sibling.text  # a real, empty queue page
    assert first.number not in sibling.text and second.number not in sibling.text
    c = client_for(cast.dispatcher)
    assert second.number not in c.get(reverse("street_queue"), {"q": first.number}).text
    by_grid = c.get(reverse("street_queue"), {"grid": cast.city.g1112.code}).text
    assert second.number in by_grid and first.number not in by_grid
    assert first.number not in c.get(reverse("street_queue"), {"older_than": 3}).text
    assert first.number not in c.get(reverse("street_queue"), {"state": "accepted"}).text
    assert first.number in c.get(reverse("street_queue"), {"state": "called", "urgency": "normal"}).text


def test_bulk_accept_fires_each_case_and_reports_failures(cast, category):
    cases = [called(cast, category, title=f"批量{i}") for i in range(3)]
    stale = cases[2]
    services.case_transition(case=stale, action="assign", actor=cast.dispatcher, assignee=cast.dispatcher)
    ticked = [f"{c.pk}:{c.version}" for c in cases]
    response = client_for(cast.dispatcher).post(
        reverse("street_bulk"), {"action": "accept", "cases": ticked, "next": reverse("street_queue")}, follow=True
    )
    states = {c.pk: Case.objects.get(pk=c.pk).state for c in cases}
    assert states[cases[0].pk] == states[cases[1].pk] == State.ACCEPTED
    assert states[stale.pk] == State.CALLED
    assert cases[0].number in response.text and "Not done" in response.text and stale.number in response.text
    refused = client_for(cast.dispatcher).post(reverse("street_bulk"), {"action": "dispatch", "cases": ticked[:1]})
    assert refused.status_code == 302  # not a bulk action: nothing done
    assert Case.objects.get(pk=cases[0].pk).state == State.ACCEPTED


def test_dispatch_by_post_creates_work_orders(cast, category):
    case = accepted(cast, category)
    data = {"lead": cast.d["cgzf"].pk, "assisting": [cast.d["zj"].pk, cast.d["pcs"].pk], "comment": "两日内处置"}
    warned = act(cast.dispatcher, case, "dispatch", data)  # nobody staffs 派出所 in this cast: asked to confirm
    assert warned.status_code == 400 and "Nobody staffs 派出所" in warned.text
    assert not WorkOrder.objects.filter(case=case).exists()
    response = act(cast.dispatcher, case, "dispatch", {**data, "confirm_unstaffed": "on"})
    assert response.status_code == 302
    orders = list(WorkOrder.objects.filter(case=case).order_by("-is_lead", "id"))
    assert [(o.department.kind, o.is_lead) for o in orders][0] == ("cgzf", True)
    assert {o.department.kind for o in orders} == {"cgzf", "zj", "pcs"} and sum(o.is_lead for o in orders) == 1
    assert all(o.note == "两日内处置" for o in orders)
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED
    # a department of another district cannot be chosen
    other = accepted(cast, category)
    from grids import services as grid_services

    far = grid_services.department_save(actor=cast.city.actor, name="外区城管", code="d2-cg", region=cast.city.d2)
    bad = act(cast.dispatcher, other, "dispatch", {"lead": far.pk})
    assert bad.status_code == 400 and "Select a valid choice" in bad.text
    assert not WorkOrder.objects.filter(case=other).exists()


def test_stale_version_answers_409_and_changes_nothing(cast, category):
    case = called(cast, category)
    seen = case.version
    services.case_transition(case=case, action="accept", actor=cast.supervisor)  # someone else was quicker
    response = client_for(cast.dispatcher).post(
        reverse("case_action", args=[case.pk, "return"]), {"version": seen, "comment": "退回"}
    )
    assert response.status_code == 409
    assert "This case changed while you were looking at it; reload" in response.text
    # it says who changed it and how, not only that it changed
    assert f"{cast.supervisor.label} changed it at" in response.text and "(Accept)" in response.text
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == State.ACCEPTED and fresh.version == seen + 1
    assert not CaseEvent.objects.filter(case=case, transition="return").exists()
    # a step that no longer applies is a conflict too
    late = act(cast.dispatcher, case, "accept")
    assert late.status_code == 409
    # nothing changed under this viewer: the page says what is true, not "it changed"
    assert "not possible while the case is Accepted" in late.text
    assert "changed while you were looking" not in late.text


def test_permission_denied_is_403(cast, category):
    case = report(cast, category)
    response = act(cast.worker, case, "cancel", {"comment": "不属实"})
    assert response.status_code == 403
    assert Case.objects.get(pk=case.pk).state == State.REPORTED


def test_department_sign_refuse_complete_through_post(cast, category):
    case = dispatched(cast, category)
    cg_order = case.work_orders.get(department=cast.d["cgzf"])
    zj_order = case.work_orders.get(department=cast.d["zj"])
    inbox = client_for(cast.cg).get(reverse("inbox")).text
    assert case.number in inbox and reverse("work_order_action", args=[cg_order.pk, "sign"]) in inbox
    assert wo_act(cast.cg, cg_order, "sign", {"next": reverse("inbox")}).url == reverse("inbox")
    assert WorkOrder.objects.get(pk=cg_order.pk).state == WorkOrderState.SIGNED
    missing = wo_act(cast.zj, zj_order, "refuse", {"refusal_reason": ""})
    assert missing.status_code == 400 and WorkOrder.objects.get(pk=zj_order.pk).state == WorkOrderState.ASSIGNED
    assert (
        wo_act(cast.zj, zj_order, "refuse", {"refusal_reason": "not_our_duty", "comment": "非本部门"}).status_code
        == 302
    )
    assert WorkOrder.objects.get(pk=zj_order.pk).state == WorkOrderState.REFUSED
    assert case.number in client_for(cast.zj).get(reverse("inbox"), {"tab": "refused"}).text
    queue = client_for(cast.dispatcher).get(reverse("street_queue")).text
    assert 'data-testid="flag-refused"' in queue
    # the dispatcher re-dispatches the refused part
    assert (
        'data-testid="action-redispatch"'
        in client_for(cast.dispatcher).get(reverse("case_detail", args=[case.pk])).text
    )
    assert act(cast.dispatcher, case, "redispatch", {"lead": cast.d["scjg"].pk}).status_code == 302
    scjg_order = WorkOrder.objects.get(case=case, department=cast.d["scjg"])
    assert wo_act(cast.scjg, scjg_order, "sign").status_code == 302
    # complete with a photo: it shows among the "after" photos
    done = client_for(cast.cg).post(
        reverse("work_order_action", args=[cg_order.pk, "complete"]),
        {"version": Case.objects.get(pk=case.pk).version, "result": "摊点已劝离", "files": [png("after.png")]},
    )
    assert done.status_code == 302
    assert wo_act(cast.scjg, scjg_order, "complete", {"result": "已检查"}).status_code == 302
    case.refresh_from_db()
    assert case.state == State.PENDING_VERIFICATION
    after = Attachment.objects.get(case=case, event__transition="wo_complete")
    page = client_for(cast.worker).get(reverse("case_detail", args=[case.pk])).text
    assert 'data-testid="photos-after"' in page and reverse("attachment_thumb", args=[after.pk]) in page
    assert 'data-testid="action-verify_ok"' in page
    assert case.number in client_for(cast.worker).get(reverse("verify_queue")).text
    assert case.number in client_for(cast.cg).get(reverse("inbox"), {"tab": "done"}).text


def test_extension_request_is_answered_by_the_dispatcher(cast, category):
    case = dispatched(cast, category, departments=("cgzf",))
    order = case.work_orders.get()
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    response = wo_act(cast.cg, order, "request_extension", {"until": "2099-01-02T10:00", "comment": "需要协调产权方"})
    assert response.status_code == 302
    assert WorkOrder.objects.get(pk=order.pk).extension_state == "pending"
    page = client_for(cast.dispatcher).get(reverse("case_detail", args=[case.pk])).text
    assert "需要协调产权方" in page and reverse("work_order_action", args=[order.pk, "grant_extension"]) in page
    assert (
        reverse("work_order_action", args=[order.pk, "grant_extension"])
        not in client_for(cast.cg).get(reverse("case_detail", args=[case.pk])).text
    )
    assert 'data-testid="flag-extension"' in client_for(cast.dispatcher).get(reverse("street_queue")).text
    assert wo_act(cast.dispatcher, order, "grant_extension").status_code == 302
    order.refresh_from_db()
    assert order.extension_state == "granted" and order.due_at.year == 2099


def test_close_evaluate_reopen_duplicate_and_assign(cast, category):
    case = report(cast, category)
    services.case_transition(case=case, action="settle", actor=cast.community, comment="已调解")
    services.case_transition(case=case, action="verify_ok", actor=cast.worker)
    assert act(cast.dispatcher, case, "close").status_code == 302
    assert act(cast.hotline, case, "evaluate", {"satisfaction": "basically", "comment": "还行"}).status_code == 302
    assert Case.objects.get(pk=case.pk).satisfaction == "basically"
    assert act(cast.hotline, case, "evaluate", {"satisfaction": "satisfied"}).status_code == 409  # one per round
    assert act(cast.dispatcher, case, "reopen", {"comment": "复核"}).status_code == 302
    assert Case.objects.get(pk=case.pk).state == State.REPORTED

    original = called(cast, category, title="原件")
    repeat = called(cast, category, title="重复")
    unknown = act(cast.dispatcher, repeat, "mark_duplicate", {"duplicate_of": "NO-SUCH"})
    assert unknown.status_code == 400 and "No such case" in unknown.text
    assert act(cast.dispatcher, repeat, "mark_duplicate", {"duplicate_of": original.number.lower()}).status_code == 302
    repeat.refresh_from_db()
    assert repeat.state == State.CANCELLED and repeat.duplicate_of == original
    assert original.number in client_for(cast.dispatcher).get(reverse("case_detail", args=[repeat.pk])).text

    assert act(cast.dispatcher, original, "assign", {"assignee": "supervisor"}).status_code == 302
    assert Case.objects.get(pk=original.pk).assignee == cast.supervisor
    refused = act(cast.dispatcher, original, "assign", {"assignee": "outsider"})
    assert refused.status_code == 400 and "may see this case" in refused.text


# --- files and contact --------------------------------------------------------------------------------------


def test_report_form_defaults_to_the_reporters_own_grid(cast, category):
    cast.community.region = cast.city.g1112
    cast.community.save()
    page = client_for(cast.community).get(reverse("case_report")).text
    assert f'<option value="{cast.city.g1112.pk}" selected>' in page
    assert f'<option value="{cast.city.g1111.pk}">' in page  # the other grids of the community are offered
    assert f'value="{cast.city.g2111.pk}"' not in page


def test_assign_suggests_staff_of_the_holding_node(cast, category):
    cast.supervisor.region = cast.city.s11
    cast.supervisor.save()
    case = called(cast, category)
    page = (
        client_for(cast.dispatcher)
        .get(reverse("case_action", args=[case.pk, "assign"]), headers={"HX-Request": "true"})
        .text
    )
    assert f'<datalist id="assignees-{case.pk}">' in page and 'value="supervisor"' in page


def test_pdf_is_served_inline_and_other_viewers_are_refused(cast, category):
    pdf = SimpleUploadedFile("report.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    case = report(cast, category, files=[pdf])
    attachment = Attachment.objects.get(case=case)
    response = client_for(cast.supervisor).get(reverse("attachment", args=[attachment.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert client_for(cast.worker).get(reverse("attachment_thumb", args=[attachment.pk])).status_code == 404
    assert "PDF · report.pdf" in client_for(cast.worker).get(reverse("case_detail", args=[case.pk])).text


def test_attachment_download_only_for_viewers(cast, category):
    case = report(cast, category, files=[png()])
    attachment = Attachment.objects.get(case=case)
    ok = client_for(cast.community).get(reverse("attachment", args=[attachment.pk]))
    assert ok.status_code == 200 and ok["Content-Type"] == "image/png"
    assert ok["X-Content-Type-Options"] == "nosniff" and ok["Content-Disposition"].startswith("inline")
    assert b"".join(ok.streaming_content).startswith(b"\x89PNG")
    thumb = client_for(cast.worker).get(reverse("attachment_thumb", args=[attachment.pk]))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    for user in (cast.outsider, cast.cg, cast.other_dispatcher):
        assert client_for(user).get(reverse("attachment", args=[attachment.pk])).status_code == 404
        assert client_for(user).get(reverse("attachment_thumb", args=[attachment.pk])).status_code == 404


def test_reporter_contact_is_masked_unless_the_viewer_dispatches_at_the_holder(cast, category):
    case = report(cast, category, reporter_contact="13812340000")
    for user in (cast.worker, cast.community):
        text = client_for(user).get(reverse("case_detail", args=[case.pk])).text
        assert "138****0000" in text and "13812340000" not in text, user
    assert "13812340000" in client_for(cast.supervisor).get(reverse("case_detail", args=[case.pk])).text
    assert mask_contact("138 1234 0000") == "138****0000" and mask_contact("王") == "王***" and mask_contact("") == ""


def test_case_page_shows_path_holder_map_and_timeline(cast, category):
    lat, lng = centre(cast.city.g1111)
    case = called(cast, category, lat=lat, lng=lng, address="一号路")
    text = client_for(cast.dispatcher).get(reverse("case_detail", args=[case.pk])).text
    for name in (cast.city.city.name, cast.city.d1.name, cast.city.s11.name, cast.city.g1111.name):
        assert name in text
    assert 'data-testid="holder">' + cast.city.s11.name in text
    assert 'data-testid="case-map"' in text and "leaflet.js" in text
    assert 'data-testid="event-report"' in text and 'data-testid="event-call_street"' in text
    assert "需街道协调" in text and "Called to the street" in text
    assert f'name="version" value="{case.version}"' in text


# --- constant query counts and pagination -------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"sort": "due"}], ids=["default order", "due first"])
def test_list_pages_cost_a_constant_number_of_queries(cast, category, django_assert_max_num_queries, params):
    pages = [
        (cast.dispatcher, reverse("street_queue")),
        (cast.community, reverse("triage")),
        (cast.worker, reverse("my_cases")),
        (cast.cg, reverse("inbox")),
        (cast.supervisor, reverse("case_list")),
        (cast.worker, reverse("verify_queue")),
    ]
    dispatched(cast, category, departments=("cgzf",))
    called(cast, category)
    report(cast, category)
    services.case_transition(case=report(cast, category), action="settle", actor=cast.community, comment="已化解")
    small = {url: page_queries(client_for(user), url, params) for user, url in pages}
    for i in range(30):
        report(cast, category, title=f"事件{i}")
        dispatched(cast, category, departments=("cgzf",))
        services.case_transition(case=report(cast, category), action="settle", actor=cast.community, comment="已化解")
    for user, url in pages:
        c = client_for(user)
        with django_assert_max_num_queries(8):
            response = c.get(url, params)
        assert (
            response.content.count(b'data-testid="case-row"') + response.content.count(b'data-testid="work-order-row"')
            == 30
        ), url
        assert page_queries(client_for(user), url, params) == small[url], url


def test_case_page_costs_a_constant_number_of_queries(cast, category, django_assert_max_num_queries):
    case = dispatched(cast, category)
    c = client_for(cast.dispatcher)
    url = reverse("case_detail", args=[case.pk])
    before = page_queries(c, url)
    order = case.work_orders.get(department=cast.d["cgzf"])
    services.work_order_step(work_order=order, action="sign", actor=cast.cg, files=[png("a.png")])
    for i in range(10):
        services.case_transition(
            case=case,
            action="assign",
            actor=cast.dispatcher,
            assignee=cast.supervisor,
            comment=f"第{i}次",
            files=[png()],
        )
    # 15: the case's parties (cases.CaseParty with their records) are one query of their own.
    with django_assert_max_num_queries(15):
        c.get(url)
    assert page_queries(c, url) == before
    for user in (cast.cg, cast.worker):
        other = client_for(user)
        with django_assert_max_num_queries(15):
            assert other.get(url).status_code == 200


def _statements(client, method: str, url: str, data=None) -> tuple[Any, list[str]]:
    """The SQL statements one request runs, without transaction control (BEGIN, COMMIT, savepoints)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, data)
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
    return response, [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(control)]


@pytest.mark.django_db(transaction=True)  # as in production: no test transaction, grants from the shared cache
def test_a_report_and_a_dispatch_cost_at_most_fifteen_queries(cast, category):
    lat, lng = centre(cast.city.g1111)
    reporter = client_for(cast.worker)
    reporter.get(reverse("case_report"))  # the session and the cached grants, as a person who has the page open
    data = {"category": category.pk, "title": "路灯不亮", "source": "patrol", "region": "", "lat": lat, "lng": lng}
    response, sql = _statements(reporter, "post", reverse("case_report"), data)
    assert response.status_code == 302 and Case.objects.filter(title="路灯不亮").count() == 1
    assert len(sql) <= 15, "\n".join(sql)
    case = accepted(cast, category)
    dispatcher = client_for(cast.dispatcher)
    dispatcher.get(reverse("case_detail", args=[case.pk]))
    payload = {
        "version": Case.objects.get(pk=case.pk).version,
        "lead": cast.d["cgzf"].pk,
        "assisting": [cast.d["zj"].pk],
    }
    response, sql = _statements(dispatcher, "post", reverse("case_action", args=[case.pk, "dispatch"]), payload)
    assert response.status_code == 302 and Case.objects.get(pk=case.pk).state == State.DISPATCHED
    assert WorkOrder.objects.filter(case=case).count() == 2
    assert len(sql) <= 15, "\n".join(sql)


def test_keyset_pages_walk_forward_and_back(cast, category):
    for i in range(35):
        report(cast, category, title=f"第{i:02d}件")
    c = client_for(cast.worker)
    first = c.get(reverse("my_cases"))
    assert first.content.count(b'data-testid="case-row"') == 30 and "第34件" in first.text
    page = selectors.keyset_page(selectors.my_cases(user=cast.worker), size=30)
    second = c.get(reverse("my_cases"), {"after": page.next_cursor})
    assert second.content.count(b'data-testid="case-row"') == 5 and "第00件" in second.text
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    tail = selectors.keyset_page(selectors.my_cases(user=cast.worker), after=page.next_cursor, size=30)
    back = selectors.keyset_page(selectors.my_cases(user=cast.worker), before=tail.previous_cursor, size=30)
    assert [c.pk for c in back] == [c.pk for c in page] and not back.has_previous
    assert c.get(reverse("my_cases"), {"after": "garbage"}).status_code == 200


@pytest.mark.django_db(transaction=True)  # outside a test transaction a user's departments come from the cache
def test_a_member_taken_off_a_department_loses_its_cases_on_the_very_next_request(cast, category):
    from grids import services as grid_services

    case = dispatched(cast, category, departments=("cgzf",))
    member = client_for(cast.cg)
    page = reverse("case_detail", args=[case.pk])
    assert member.get(page).status_code == 200
    assert member.get(page).status_code == 200  # the department list from the shared cache now
    grid_services.department_set_members(actor=cast.city.actor, department=cast.d["cgzf"], members=[])
    assert member.get(page).status_code == 404
    inbox = member.get(reverse("inbox"))
    assert inbox.status_code == 200 and b'data-testid="work-order-row"' not in inbox.content
