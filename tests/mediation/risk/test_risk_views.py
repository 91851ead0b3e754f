"""The weekly 研判 list, a warning's page and actions, the XLSX and the map's GeoJSON: scope (404 across streets),
audit, and the export read back."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from cases import services as case_services
from cases.models import Case, CaseEvent, Category
from grids.models import Region
from mediation.risk import rules, services
from mediation.risk.models import Warning, WarningEvent

pytestmark = [pytest.mark.django_db]


def make_warning(region, rule="unvisited", n=1, **kw):
    day = timezone.localdate() - timedelta(days=1)
    street = Region.objects.get(path=region.path[: 3 * Region.steplen])
    district = Region.objects.get(path=region.path[: 2 * Region.steplen])
    params = {
        "who": f"张三{n}",
        "tags": "独居老人",
        "household": "3栋301",
        "last": "2026-01-01",
        "since": 90,
        "days": 60,
    }
    return Warning.objects.create(
        rule=rule,
        week=rules.week_of(day),
        dedupe_key=f"resident:{region.pk}:{n}",
        region=region,
        street=street,
        district=district,
        subject_kind="resident",
        subject_id=n,
        subject_label=f"张三{n} · 3栋301",
        explanation="张三（独居老人，3栋301）已 60 天未走访。",
        evidence={"params": params, "links": [{"label": "3栋301", "url": "/parties/households/1/"}]},
        lat=region.centre_lat,
        lng=region.centre_lng,
        found_on=day,
        **kw,
    )


@pytest.fixture
def warnings(city):
    return [make_warning(city.g1111, n=1), make_warning(city.g1112, n=2), make_warning(city.g1211, n=3)]


def login(client, user):
    client.force_login(user)
    return client


def test_the_street_list_shows_its_warnings_and_404_across_streets(client, city, people, warnings):
    login(client, people.dispatcher)
    page = client.get(reverse("mediation:risk:list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "张三1" in text and "张三2" in text and "张三3" not in text
    assert client.get(reverse("mediation:risk:list"), {"region": city.s12.pk}).status_code == 404
    assert client.get(reverse("mediation:risk:warning", args=[warnings[2].pk])).status_code == 404
    assert client.get(reverse("mediation:risk:export"), {"region": city.s12.pk}).status_code == 404
    geo = client.get(reverse("mediation:risk:geojson"), {"region": city.s12.pk})
    assert geo.status_code == 404 and geo.json()["code"] == "not_found"
    assert (
        client.post(reverse("mediation:risk:warning", args=[warnings[2].pk]), {"action": "follow_up"}).status_code
        == 404
    )


def test_the_district_list_and_who_may_see_it(client, city, people, warnings):
    login(client, people.supervisor)
    text = client.get(reverse("mediation:risk:list")).content.decode()
    assert all(f"张三{n}" in text for n in (1, 2, 3))
    assert 'data-testid="nav-risk"' in text
    login(client, people.worker)
    assert client.get(reverse("mediation:risk:list")).status_code == 403
    assert 'data-testid="nav-risk"' not in client.get(reverse("home")).content.decode()


def test_follow_up_and_dismiss_with_a_reason_are_audited(client, city, people, warnings):
    login(client, people.dispatcher)
    url = reverse("mediation:risk:warning", args=[warnings[0].pk])
    assert client.post(url, {"action": "follow_up", "reason": "已电话联系"}).status_code == 302
    w = Warning.objects.get(pk=warnings[0].pk)
    assert w.status == "followed_up" and w.status_by == people.dispatcher
    bad = client.post(url, {"action": "dismiss", "reason": " "})
    assert bad.status_code == 400
    assert "请填写排除预警的原因。" in bad.content.decode()  # the page speaks the user's language (zh-hans)
    assert Warning.objects.get(pk=w.pk).status == "followed_up"
    assert client.post(url, {"action": "dismiss", "reason": "已入住养老院"}).status_code == 302
    w.refresh_from_db()
    assert (w.status, w.status_reason) == ("dismissed", "已入住养老院")
    events = list(WarningEvent.objects.filter(warning=w).values_list("action", "from_status", "to_status", "reason"))
    assert events == [
        ("follow_up", "new", "followed_up", "已电话联系"),
        ("dismiss", "followed_up", "dismissed", "已入住养老院"),
    ]
    with pytest.raises(ValueError):
        WarningEvent.objects.first().save()


def test_turn_into_a_case_reports_a_case_visible_in_the_case_list(client, city, people, warnings):
    login(client, people.supervisor)
    category = Category.objects.get(code="msfw-djlr")
    url = reverse("mediation:risk:warning", args=[warnings[0].pk])
    assert client.post(url, {"action": "to_case"}).status_code == 400  # a category is needed
    assert (
        client.post(url, {"action": "to_case", "category": category.pk, "title": "上门探访独居老人"}).status_code == 302
    )
    w = Warning.objects.get(pk=warnings[0].pk)
    assert w.status == "turned_into_case" and w.case is not None
    case = Case.objects.get(pk=w.case_id)
    assert case.region == city.g1111 and case.title == "上门探访独居老人" and "60" in case.description
    assert case.reporter == people.supervisor and case.source == "other"
    assert case.description.startswith(f"来自风险预警 #{w.pk}")
    assert case.number in client.get(reverse("case_list")).content.decode()
    assert WarningEvent.objects.get(warning=w).data["number"] == case.number
    # and once a case, no further action
    assert client.post(url, {"action": "dismiss", "reason": "x"}).status_code == 400


def test_a_dispatcher_turns_a_warning_into_a_case_reported_by_himself(client, city, people, warnings):
    """The street dispatcher may not report cases in general, yet files the case of a warning he reviews: he is its
    reporter, the timeline names him and the warning (not Open311), and the street's case list shows it."""
    from grids import access

    dispatcher = people.dispatcher
    assert not access.user_can(dispatcher, "cases.report_case", city.g1111)
    login(client, dispatcher)
    category = Category.objects.get(code="msfw-djlr")
    url = reverse("mediation:risk:warning", args=[warnings[0].pk])
    assert client.post(url, {"action": "to_case", "category": category.pk}).status_code == 302
    w = Warning.objects.select_related("case").get(pk=warnings[0].pk)
    case = w.case
    assert case.reporter == dispatcher and case.region == city.g1111
    assert f"来自风险预警 #{w.pk}" in case.description
    report = CaseEvent.objects.get(case=case, transition="report")
    assert report.actor == dispatcher
    assert report.data == {"through": {"label": f"风险预警 #{w.pk}", "url": f"/mediation/risk/{w.pk}/"}}
    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert 'data-testid="event-through"' in page and f'href="/mediation/risk/{w.pk}/"' in page
    assert "Open311" not in page and 'data-testid="event-origin"' not in page
    assert dispatcher.label in page
    listed = client.get(reverse("case_list")).content.decode()  # his street's cases
    assert case.number in listed
    # the right goes no further than the warnings he reviews: not the general right to report
    with pytest.raises(PermissionDenied):
        case_services.case_report(reporter=dispatcher, category=category, title="x", region=city.g1111)
    with pytest.raises(PermissionDenied):  # nor in a grid whose warnings he may not review
        case_services.case_report(
            reporter=dispatcher, category=category, title="x", region=city.g1211, allowed_by="mediation.review_warning"
        )


def test_another_streets_warning_is_404_and_files_no_case(client, city, people, warnings):
    login(client, people.other_dispatcher)
    category = Category.objects.get(code="msfw-djlr")
    before = Case.objects.count()
    url = reverse("mediation:risk:warning", args=[warnings[0].pk])
    assert client.post(url, {"action": "to_case", "category": category.pk}).status_code == 404
    assert Case.objects.count() == before
    assert Warning.objects.get(pk=warnings[0].pk).status == "new"
    with pytest.raises(PermissionDenied):
        services.warning_to_case(actor=people.other_dispatcher, warning=warnings[0], category=category)
    assert Case.objects.count() == before


def test_the_export_reads_back_as_the_page_shows(client, city, people, warnings):
    login(client, people.supervisor)
    Warning.objects.filter(pk=warnings[1].pk).update(status="dismissed", status_reason="误报")
    page = client.get(reverse("mediation:risk:list"), {"region": city.d1.pk}).content.decode()
    response = client.get(reverse("mediation:risk:export"), {"region": city.d1.pk})
    assert response.status_code == 200
    ws = load_workbook(BytesIO(response.content)).active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert ws.cell(row=2, column=1).value == "序号" and ws.cell(row=2, column=7).value == "预警说明"
    assert len(rows) == page.count('data-testid="risk-row"') == 3
    for row in rows:
        assert row[5] in page and row[3] in page
    assert {r[8] for r in rows} == {"新", "已排除"} and "误报" in {r[9] for r in rows}


def test_the_geojson_of_the_map(client, city, people, warnings):
    login(client, people.supervisor)
    data = client.get(reverse("mediation:risk:geojson"), {"region": city.d1.pk}).json()
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 3
    p = data["features"][0]["properties"]
    assert p["kind"] == "warning" and p["url"].startswith("/mediation/risk/") and "60" in p["explanation"]
    login(client, people.worker)
    assert client.get(reverse("mediation:risk:geojson")).status_code == 403
    client.logout()
    assert client.get(reverse("mediation:risk:geojson")).status_code == 401


def test_the_rules_page_is_for_admins(client, city, people):
    login(client, people.dispatcher)
    assert client.get(reverse("mediation:risk:rules")).status_code == 403
    login(client, people.admin)
    assert client.get(reverse("mediation:risk:rules")).status_code == 200
    response = client.post(
        reverse("mediation:risk:rules"),
        {
            "rule": "cluster",
            "cluster-is_active": "on",
            "cluster-min_count": "7",
            "cluster-distance_m": "150",
            "cluster-window_days": "7",
        },
    )
    assert response.status_code == 302
    from mediation.risk.services import rule_settings

    assert rule_settings()["cluster"] == (True, {"min_count": 7, "distance_m": 150, "window_days": 7})
    bad = client.post(
        reverse("mediation:risk:rules"),
        {"rule": "cluster", "cluster-min_count": "0", "cluster-distance_m": "150", "cluster-window_days": "7"},
    )
    assert bad.status_code == 400
