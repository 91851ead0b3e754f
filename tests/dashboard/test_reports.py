"""The monthly reports (月报): written from known cases with the dashboard's numbers for that month, the XLSX read
back, exactly once however many times (and workers) the job runs, caught up after a downtime, announced to the
supervisors, scoped to the viewer (404 beyond), the printable page, and the admins' command."""

import io
import threading
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from dashboard import reports, selectors, services
from dashboard.models import MonthlyReport
from grids.models import Region
from notifications import selectors as notification_selectors
from notifications.models import Notification
from tests.dashboard.test_dashboard import EXPECTED, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def this_month() -> date:
    return timezone.localdate().replace(day=1)


def next_month() -> date:
    return (this_month() + timedelta(days=32)).replace(day=1)


def run_next_month():
    """The job as it runs on the first of next month: this month (with the known cases) has just ended."""
    return services.monthly_reports_run(today=next_month())


def report_of(region) -> MonthlyReport:
    return MonthlyReport.objects.get(region=region, month=this_month())


def month_period():
    start, end = reports.month_bounds(this_month())
    return selectors.parse_period("custom", start.isoformat(), end.isoformat())


def test_every_district_and_street_gets_one_report_of_the_month_just_ended(cast, known):
    written = run_next_month()
    regions = set(Region.objects.filter(depth__in=(2, 3), is_active=True).values_list("pk", flat=True))
    assert {r.region_id for r in written} == regions
    assert MonthlyReport.objects.count() == len(regions)
    assert set(MonthlyReport.objects.values_list("month", flat=True)) == {this_month()}
    report = report_of(cast.city.s11)
    assert report.generated_at is not None and report.file.name.endswith(".xlsx")
    assert report.data["month"] == f"{this_month():%Y-%m}"
    for code, value in EXPECTED.items():
        assert report.data["headline"][code] == value, code
    assert report_of(cast.city.s12).data["headline"]["new"] == 0
    # the job again, and again: nothing more is written
    assert run_next_month() == []
    assert MonthlyReport.objects.count() == len(regions)


def test_the_report_has_the_dashboards_numbers_for_that_month(cast, known):
    run_next_month()
    for region in (cast.city.d1, cast.city.s11):
        report = report_of(region)
        d = selectors.dashboard(user=cast.city.actor, region=region, period=month_period())
        page = {c["code"]: c["value"] for c in selectors.cards(d)}
        assert report.data["headline"] == page
        assert [(r["name"], r["new"], r["closed"], r["open"], r["overdue"], r["closure_rate"]) for r in d.children] == [
            (r["name"], r["new"], r["closed"], r["open"], r["overdue"], r["closure_rate"])
            for r in report.data["children"]
        ]
        assert [(r["name"], r["done"], r["refused"]) for r in d.departments] == [
            (r["name"], r["done"], r["refused"]) for r in report.data["departments"]
        ]


def test_the_xlsx_reads_back_with_the_dashboards_figures(cast, known):
    run_next_month()
    report = report_of(cast.city.d1)
    c = client_for(cast.supervisor)
    response = c.get(reverse("dashboard:report_xlsx", args=[report.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    for sheet in ("指标", "在办状态", "下级区域", "结案率排名", "按期结案率排名", "满意率排名", "超期排名"):
        assert sheet in wb.sheetnames, sheet
    for sheet in ("职能部门", "部门按时办结排名", "部门退单排名", "突出问题", "事件分类", "趋势"):
        assert sheet in wb.sheetnames, sheet
    # the 指标 sheet of the report has the figures of the dashboard's export for the same month (its definitions are
    # in Chinese; the export's in the viewer's language)
    start, end = reports.month_bounds(this_month())
    export = c.get(
        reverse("dashboard:export"),
        {"region": cast.city.d1.pk, "period": "custom", "start": start.isoformat(), "end": end.isoformat()},
    )
    dashboard_wb = load_workbook(io.BytesIO(export.content))
    ours = [r[:2] for r in wb["指标"].iter_rows(values_only=True)]
    theirs = [r[:2] for r in dashboard_wb["指标"].iter_rows(values_only=True)]
    assert ours == theirs
    assert ours[1][:2] == ("新增案件", 4)
    streets = {r[0]: r for r in wb["下级区域"].iter_rows(min_row=2, values_only=True)}
    assert streets[cast.city.s11.name][2] == 4 and streets[cast.city.s11.name][5] == 1  # new, overdue now
    overdue = list(wb["超期排名"].iter_rows(min_row=2, values_only=True))
    assert overdue[0] == (1, cast.city.s11.name, 1)
    closure = list(wb["结案率排名"].iter_rows(min_row=2, values_only=True))
    assert closure[0] == (1, cast.city.s11.name, 33.3) and all(r[0] is None for r in closure[1:])
    refused = list(wb["部门退单排名"].iter_rows(min_row=2, values_only=True))
    assert refused and refused[0][1] == cast.d["cgzf"].name
    problems = list(wb["突出问题"].iter_rows(values_only=True))
    assert problems[0] == ("名次", "事件分类", "本月新增", "上月新增", "增减", "增减(%)")
    assert problems[1][2:5] == (4, 0, 4)


def test_ranking_shares_ranks_and_puts_the_unknown_last():
    rows = [
        {"id": 1, "name": "甲", "r": 50.0},
        {"id": 2, "name": "乙", "r": None},
        {"id": 3, "name": "丙", "r": 80.0},
        {"id": 4, "name": "丁", "r": 50.0},
        {"id": 5, "name": "戊", "r": 10.0},
    ]
    assert [(x["rank"], x["id"]) for x in reports.ranked(rows, "r")] == [(1, 3), (2, 4), (2, 1), (4, 5), (None, 2)]


def test_top_problems_compare_with_the_month_before(cast, known):
    from cases.models import CaseDaily

    # move one of the known reports' roll-up to last month (as if reported then)
    before = reports.previous_month(this_month())
    row = CaseDaily.objects.filter(region=cast.city.s11, day__gte=this_month()).first()
    CaseDaily.objects.create(region=cast.city.s11, category_id=row.category_id, day=before, new=2)
    data = reports.build(region=cast.city.s11, month=this_month(), now=timezone.now())
    top = data["top_problems"][0]
    assert (top["new"], top["previous"], top["change"], top["change_rate"]) == (4, 2, 2, 100.0)


def test_the_job_catches_up_the_months_missed(cast):
    months = [this_month()]
    for _ in range(2):
        months.insert(0, reports.previous_month(months[0]))
    # a report was written three months ago; the job did not run for the two months since
    MonthlyReport.objects.create(region=cast.city.d1, month=months[0], generated_at=timezone.now())
    run_next_month()
    streets_and_districts = Region.objects.filter(depth__in=(2, 3), is_active=True).count()
    assert MonthlyReport.objects.filter(month=months[1]).count() == streets_and_districts
    assert MonthlyReport.objects.filter(month=months[2]).count() == streets_and_districts
    assert MonthlyReport.objects.filter(month=months[0]).count() == streets_and_districts  # the rest of that month
    # a new installation starts with the month just ended, not its past
    MonthlyReport.objects.all().delete()
    run_next_month()
    assert set(MonthlyReport.objects.values_list("month", flat=True)) == {this_month()}


def test_a_report_left_unwritten_is_written_by_the_next_run(cast):
    services.monthly_reports_claim(months=[this_month()])  # a worker claimed the rows and died
    assert MonthlyReport.objects.filter(generated_at__isnull=True).count() > 0
    client = client_for(cast.supervisor)
    assert "report-row" not in client.get(reverse("dashboard:reports")).text  # unwritten: not listed
    run_next_month()
    assert not MonthlyReport.objects.filter(generated_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_write_each_report_once(cast, known):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    errors, results = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(run_next_month())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    regions = Region.objects.filter(depth__in=(2, 3), is_active=True).count()
    written = [r.pk for batch in results for r in batch]
    assert len(written) == len(set(written)) == regions  # each report written by exactly one of them
    assert MonthlyReport.objects.count() == regions
    # one notice per report, to its supervisors
    d1 = report_of(cast.city.d1)
    assert Notification.objects.filter(link=d1.get_absolute_url()).count() == 1
    assert notification_selectors.visible(user=cast.supervisor).filter(link=d1.get_absolute_url()).count() == 1


def test_supervisors_are_told_once(cast, known):
    run_next_month()
    d1, s11 = report_of(cast.city.d1), report_of(cast.city.s11)
    notes = notification_selectors.visible(user=cast.supervisor)
    assert {n.link for n in notes} >= {d1.get_absolute_url(), s11.get_absolute_url()}  # the street's, from above
    note = notes.get(link=d1.get_absolute_url())
    assert f"{this_month():%Y-%m}" in note.title and cast.city.d1.name in note.title
    # one notice to the supervisors as a unit, whatever their number; not to the street's dispatchers
    assert Notification.objects.filter(link=d1.get_absolute_url()).count() == 1
    assert not notification_selectors.visible(user=cast.dispatcher).filter(link=s11.get_absolute_url()).exists()
    # regenerating does not tell them again
    services.monthly_report_regenerate(region=cast.city.d1, month=this_month())
    assert notification_selectors.visible(user=cast.supervisor).filter(link=d1.get_absolute_url()).count() == 1


def test_who_sees_which_report(cast, known):
    run_next_month()
    s11, s12, d1 = report_of(cast.city.s11), report_of(cast.city.s12), report_of(cast.city.d1)
    dispatcher = client_for(cast.dispatcher)
    listed = dispatcher.get(reverse("dashboard:reports")).text
    assert f'data-region="{cast.city.s11.code}"' in listed
    assert f'data-region="{cast.city.s12.code}"' not in listed and f'data-region="{cast.city.d1.code}"' not in listed
    assert dispatcher.get(reverse("dashboard:report", args=[s11.pk])).status_code == 200
    for other in (s12, d1):
        assert dispatcher.get(reverse("dashboard:report", args=[other.pk])).status_code == 404
        assert dispatcher.get(reverse("dashboard:report_xlsx", args=[other.pk])).status_code == 404
    assert dispatcher.get(reverse("dashboard:reports"), {"region": cast.city.d1.pk}).status_code == 404
    supervisor = client_for(cast.supervisor)
    listed = supervisor.get(reverse("dashboard:reports")).text
    assert f'data-region="{cast.city.d1.code}"' in listed and f'data-region="{cast.city.s12.code}"' in listed
    others = Region.objects.filter(depth__in=(2, 3)).exclude(path__startswith=cast.city.d1.path)
    for r in others:
        assert f'data-region="{r.code}"' not in listed
    narrowed = supervisor.get(reverse("dashboard:reports"), {"region": cast.city.s11.pk}).text
    assert f'data-region="{cast.city.s11.code}"' in narrowed and f'data-region="{cast.city.d1.code}"' not in narrowed
    # people who neither dispatch nor supervise: nothing
    assert client_for(cast.worker).get(reverse("dashboard:reports")).status_code == 404
    assert client_for(cast.worker).get(reverse("dashboard:report", args=[s11.pk])).status_code == 404
    assert client_for(cast.outsider).get(reverse("dashboard:report_xlsx", args=[s11.pk])).status_code == 404


def test_the_printable_page_renders_in_both_languages(cast, known):
    run_next_month()
    report = report_of(cast.city.d1)
    page = client_for(cast.supervisor).get(reverse("dashboard:report", args=[report.pk]))
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="monthly-report"' in html and "css/report.css" in html and "data-print" in html
    assert 'data-testid="headline-new">4<' in html
    assert 'data-ranking="closure_rate"' in html and 'data-ranking="refused"' in html
    assert "<script>" not in html  # no inline script (CSP)
    zh = client_for(cast.supervisor)
    zh.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    cast.supervisor.language = "zh-hans"
    cast.supervisor.save(update_fields=["language"])
    html = zh.get(reverse("dashboard:report", args=[report.pk])).text
    assert "月报" in html and "结案率" in html


def test_the_command_regenerates_a_month(cast, known, capsys, django_capture_on_commit_callbacks):
    run_next_month()
    report = report_of(cast.city.s11)
    old_file, old_at = report.file.name, report.generated_at
    with django_capture_on_commit_callbacks(execute=True):  # the old file goes once the new one is committed
        call_command("monthly_reports", "--month", f"{this_month():%Y-%m}", "--region", cast.city.s11.code)
    report.refresh_from_db()
    assert report.generated_at > old_at and report.data["headline"]["new"] == 4
    assert MonthlyReport.objects.filter(region=cast.city.s11).count() == 1
    assert report.file.storage.exists(report.file.name)
    if report.file.name != old_file:
        assert not report.file.storage.exists(old_file)
    assert "1 reports" in capsys.readouterr().out
    # a month never reported before: written for the regions named
    before = reports.previous_month(this_month())
    call_command("monthly_reports", "--month", f"{before:%Y-%m}", "--region", cast.city.d1.code)
    assert MonthlyReport.objects.get(region=cast.city.d1, month=before).data["headline"]["new"] == 0
    with pytest.raises(Exception, match="no region"):
        call_command("monthly_reports", "--month", "2026-11", "--region", "999999")
    with pytest.raises(Exception, match="YYYY-MM"):
        call_command("monthly_reports", "--month", "November")
    with pytest.raises(Exception, match="neither"):
        call_command("monthly_reports", "--month", "2026-11", "--region", cast.city.c111.code)


def test_beat_runs_the_reports_hourly():
    from govgrid.celery import app

    entry = app.conf.beat_schedule["monthly-reports"]
    assert entry["task"] == "dashboard.tasks.monthly_reports"
    app.loader.import_default_modules()
    assert "dashboard.tasks.monthly_reports" in app.tasks
