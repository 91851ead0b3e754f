"""The nightly job: each night once (run twice, two workers at once), and catch-up after a downtime (bounded)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mediation.risk import services
from mediation.risk.models import RiskRun, Warning
from tests.factories import run_in_threads

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db
def test_running_twice_runs_the_night_once(planted, day):
    today = day + timedelta(days=1)
    first = services.warnings_nightly(today)
    assert [r.run_date for r in first] == [day]
    n = Warning.objects.count()
    assert n >= 5 and sum(first[0].counts.values()) == n
    assert services.warnings_nightly(today) == []
    assert RiskRun.objects.count() == 1 and Warning.objects.count() == n


@pytest.mark.django_db
def test_after_three_nights_of_downtime_the_missed_nights_are_run(city):
    today = timezone.localdate()
    RiskRun.objects.create(run_date=today - timedelta(days=4), finished_at=timezone.now())
    runs = services.warnings_nightly(today)
    assert [r.run_date for r in runs] == [today - timedelta(days=d) for d in (3, 2, 1)]
    assert services.warnings_nightly(today) == []


@pytest.mark.django_db
def test_catch_up_is_bounded(city, settings):
    settings.GOVGRID_RISK_CATCH_UP = 7
    today = timezone.localdate()
    RiskRun.objects.create(run_date=today - timedelta(days=40), finished_at=timezone.now())
    runs = services.warnings_nightly(today)
    assert [r.run_date for r in runs] == [today - timedelta(days=d) for d in range(7, 0, -1)]


@pytest.mark.django_db
def test_a_new_installation_starts_with_yesterday(city):
    today = timezone.localdate()
    assert [r.run_date for r in services.warnings_nightly(today)] == [today - timedelta(days=1)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_run_the_night_once(city):
    day = timezone.localdate() - timedelta(days=1)
    results = run_in_threads(2, lambda i: services.warnings_run_night(day))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len([r for r in results if r is not None]) == 1
    assert RiskRun.objects.filter(run_date=day).count() == 1


def test_the_beat_runs_the_job_hourly():
    from govgrid.celery import app

    entry = app.conf.beat_schedule["risk-warnings"]
    assert entry["task"] == "mediation.risk.tasks.warnings_nightly"
