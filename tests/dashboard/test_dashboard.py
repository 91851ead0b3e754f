"""The dashboard: who sees which region (404 beyond), the indicators' arithmetic on a small known set of cases,
and the XLSX export read back with openpyxl against the page's figures."""

import io
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from dashboard import selectors

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


EXPECTED = {
    "new": 4,
    "open": 2,  # b accepted, d reported
    "overdue": 1,
    "closed": 2,
    "closure_rate": 33.3,  # a closed now, of 4 reported less 1 cancelled
    "on_time_close_rate": 50.0,  # b's dispatch step was late
    "dispatch_rate": 0.0,
    "rework_rate": 33.3,  # 1 failed of 3 verifications
    "rehandle_rate": 50.0,  # 1 re-handled of 2 evaluated
    "satisfaction_rate": 50.0,
    "local_rate": 33.3,  # 1 settled of 3 triaged (1 settled, 2 called)
}


def cards_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="card-(\w+)" data-value="([^"]*)"', html))


def test_the_indicators_of_a_known_set_of_cases(cast, known):
    for who, region in ((cast.dispatcher, cast.city.s11), (cast.supervisor, cast.city.d1)):
        response = client_for(who).get(reverse("dashboard:index"), {"region": region.pk, "period": "today"})
        assert response.status_code == 200
        cards = cards_of(response.text)
        for code, value in EXPECTED.items():
            assert float(cards[code]) == value, (code, cards[code])
        assert cards["avg_hours"] != "" and cards["p90_hours"] != ""
    # a street's dashboard defaults to the street; its communities are the breakdown, and they add up
    d = selectors.dashboard(user=cast.dispatcher, region=cast.city.s11, period=selectors.parse_period("7"))
    assert sum(r["new"] for r in d.children) == 4 and sum(r["open"] for r in d.children) == 2
    assert [r["overdue"] for r in d.children if r["name"] == cast.city.c111.name] == [1]
    assert {r["name"]: r["done"] for r in d.departments} == {cast.d["cgzf"].name: 2}
    assert sum(r["new"] for r in d.trend) == 4 and sum(r["closed"] for r in d.trend) == 2
    assert d.open_by_state and {s: n for s, _l, n in d.open_by_state}["accepted"] == 1
    # the other street sees nothing of it
    other = selectors.dashboard(user=cast.city.actor, region=cast.city.s12, period=selectors.parse_period("7"))
    assert other.totals["new"] == 0 and other.totals["open"] == 0


def test_the_xlsx_has_the_page_figures(cast, known):
    c = client_for(cast.supervisor)
    page = cards_of(c.get(reverse("dashboard:index"), {"region": cast.city.d1.pk, "period": "today"}).text)
    response = c.get(reverse("dashboard:export"), {"region": cast.city.d1.pk, "period": "today"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames[:3] == ["指标", "在办状态", "下级区域"] and "职能部门" in wb.sheetnames
    rows = list(wb["指标"].iter_rows(values_only=True))
    assert rows[0][:3] == ("指标", "数值", "口径")
    codes = ["new", "open", "overdue", "closed", "closure_rate", "on_time_close_rate", "dispatch_rate"]
    codes += ["rework_rate", "rehandle_rate", "satisfaction_rate", "avg_hours", "p90_hours", "local_rate"]
    for code, row in zip(codes, rows[1:], strict=True):
        assert (row[1] if row[1] is not None else "") == (float(page[code]) if page[code] else ""), code
    streets = {r[0]: r for r in wb["下级区域"].iter_rows(min_row=2, values_only=True)}
    assert streets[cast.city.s11.name][2] == 4 and streets[cast.city.s12.name][2] == 0
    trend = list(wb["趋势"].iter_rows(min_row=2, values_only=True))
    assert sum(r[1] for r in trend) == 4


def test_who_sees_which_dashboard(cast, known):
    url = reverse("dashboard:index")
    dispatcher = client_for(cast.dispatcher)
    home = dispatcher.get(url)
    assert home.status_code == 200 and cast.city.s11.name in home.text  # his top region by default
    assert dispatcher.get(url, {"region": cast.city.c111.pk}).status_code == 200  # below it: drill down
    assert dispatcher.get(url, {"region": cast.city.s12.pk}).status_code == 404  # another street
    assert dispatcher.get(url, {"region": cast.city.d1.pk}).status_code == 404  # above his region
    assert dispatcher.get(reverse("dashboard:export"), {"region": cast.city.d1.pk}).status_code == 404
    assert dispatcher.get(url, {"region": "nonsense"}).status_code == 404
    assert client_for(cast.other_dispatcher).get(url, {"region": cast.city.s11.pk}).status_code == 404
    supervisor = client_for(cast.supervisor)
    assert supervisor.get(url, {"region": cast.city.s11.pk}).status_code == 200
    assert supervisor.get(url, {"region": cast.city.d2.pk}).status_code == 404
    assert supervisor.get(url, {"region": cast.city.city.pk}).status_code == 404
    assert client_for(cast.city_supervisor).get(url, {"region": cast.city.d2.pk}).status_code == 200
    for nobody in (cast.worker, cast.cg):  # a grid worker, a department handler: no dashboard at all
        assert client_for(nobody).get(url).status_code == 404
    # the breadcrumb climbs back only as far as the viewer may see
    page = dispatcher.get(url, {"region": cast.city.c111.pk}).text
    crumbs = page.split('data-testid="dashboard-breadcrumb"')[1].split("</ol>")[0]
    assert f">{cast.city.s11.name}<" in crumbs and f">{cast.city.d1.name}<" not in crumbs


def test_the_menu_offers_the_dashboard_to_those_who_supervise(cast):
    assert 'data-testid="nav-dashboard"' in client_for(cast.dispatcher).get("/").text
    assert 'data-testid="nav-dashboard"' in client_for(cast.supervisor).get("/").text
    assert 'data-testid="nav-dashboard"' not in client_for(cast.worker).get("/").text


def test_periods():
    today = timezone.localdate()
    assert selectors.parse_period("today").days == [today]
    assert len(selectors.parse_period("7").days) == 7 and len(selectors.parse_period(None).days) == 30
    assert selectors.parse_period("month").start == today.replace(day=1)
    custom = selectors.parse_period("custom", "2026-03-10", "2026-03-01")
    assert (custom.start.isoformat(), custom.end.isoformat()) == ("2026-03-01", "2026-03-10")
    assert selectors.parse_period("custom", "bad", "").code == "30"


def test_p90_from_buckets():
    assert selectors.p90_hours([0] * 10) is None
    assert selectors.p90_hours([10, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 1.8  # 9 of 10 within the first 2 hours
    assert selectors.p90_hours([0, 0, 0, 0, 0, 0, 0, 0, 0, 5]) == 320.0


def test_overdue_now_comes_from_the_minute_count_when_fresh(cast, known):
    from cases import overdue

    before = selectors.dashboard(user=cast.supervisor, region=cast.city.d1, period=selectors.parse_period("today"))
    assert before.overdue_counted_at is None  # nothing counted yet: live
    overdue.count_overdue()
    response = client_for(cast.supervisor).get(reverse("dashboard:index"), {"region": cast.city.d1.pk})
    assert response.status_code == 200 and "was counted at" in response.text
    assert float(cards_of(response.text)["overdue"]) == EXPECTED["overdue"]
    after = selectors.dashboard(user=cast.supervisor, region=cast.city.d1, period=selectors.parse_period("today"))
    assert after.overdue_counted_at is not None
    assert after.totals["overdue"] == before.totals["overdue"]
    assert [(r["name"], r["overdue"]) for r in after.children] == [(r["name"], r["overdue"]) for r in before.children]
    assert [(r["name"], r["overdue"]) for r in after.departments] == [
        (r["name"], r["overdue"]) for r in before.departments
    ]
