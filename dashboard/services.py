"""Every write of the dashboard app: the monthly reports (月报) of districts and streets.

Exactly once, and caught up after downtime: ``monthly_reports_run`` (the beat job) first claims a row per missing
(region, month) — one insert that skips the rows that exist (the pair is unique) — and then writes the claimed rows
one at a time, each locked with ``SELECT … FOR UPDATE SKIP LOCKED`` in its own transaction: two workers running the
job at once write different reports, a worker stopped midway leaves its row unwritten for the next run, and the
notices carry a unique key (one per report and supervisor), so nobody is told twice.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_noop

from cases import overdue
from grids.models import Region

from . import reports
from .models import MonthlyReport

logger = logging.getLogger(__name__)

# Districts (区/县) and streets (街道/乡镇): the levels that report upwards.
REPORT_DEPTHS = (2, 3)
TITLE = gettext_noop("Monthly report %(month)s: %(region)s")
BODY = gettext_noop(
    "The monthly report of %(region)s for %(month)s is ready: its indicators, rankings and top problems."
)


def last_completed_month(today: date | None = None) -> date:
    """The first day of the month before ``today``'s (in ``TIME_ZONE``)."""
    return reports.previous_month(today or timezone.localdate())


def months_due(today: date | None = None) -> list[date]:
    """The months the job reports: the last completed one, and those since the latest month reported (after a
    downtime across a month's end), at most ``GOVGRID_MONTHLY_REPORTS_CATCH_UP`` of them. A new installation
    starts with the last completed month, not with its past."""
    last = last_completed_month(today)
    limit = max(1, settings.GOVGRID_MONTHLY_REPORTS_CATCH_UP)
    latest = MonthlyReport.objects.aggregate(m=Max("month"))["m"]
    months = [last]
    while len(months) < limit and latest is not None and months[-1] > latest:
        months.append(reports.previous_month(months[-1]))
    return sorted(months)


def _reporting_regions():
    return Region.objects.filter(depth__in=REPORT_DEPTHS, is_active=True)


def monthly_reports_claim(*, months: list[date], regions=None) -> int:
    """Insert the missing (region, month) rows, unwritten; rows that exist (another worker's) are left alone."""
    regions = list((regions if regions is not None else _reporting_regions()).values_list("pk", flat=True))
    have = set(MonthlyReport.objects.filter(month__in=months, region_id__in=regions).values_list("region_id", "month"))
    missing = [MonthlyReport(region_id=r, month=m) for m in months for r in regions if (r, m) not in have]
    if missing:
        MonthlyReport.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def _write(report: MonthlyReport, now: datetime) -> str:
    """Compute the report's figures and save its XLSX; returns the old file's name (to delete after commit)."""
    old = report.file.name if report.file else ""
    report.data = reports.build(region=report.region, month=report.month, now=now)
    content = reports.workbook(report.data)
    report.file.save(reports_file_name(report), ContentFile(content), save=False)
    report.generated_at = now
    report.save(update_fields=["data", "file", "generated_at"])
    return old if old != report.file.name else ""


def reports_file_name(report: MonthlyReport) -> str:
    return f"{report.region.code}-{report.month:%Y%m}.xlsx"


def _delete_file(name: str) -> None:
    if name:
        try:
            default_storage.delete(name)
        except Exception:  # a file left behind is harmless; the report row names the current one
            logger.warning("could not delete the old monthly report file %s", name, exc_info=True)


def _announce(report: MonthlyReport) -> int:
    """Tell the supervisors of the report's region (``cases.supervise_case`` there, else at the nearest node above
    with someone): one notice to that unit, read by each member in his language, written once per report."""
    from grids.units import holder_unit
    from notifications.services import in_languages, notify_unit

    region, month = report.region, f"{report.month:%Y-%m}"
    unit = holder_unit(region.path, "supervise_case")
    if unit is None:  # nobody supervises here or above
        return 0
    written = notify_unit(
        unit=unit,
        kind="generic",
        title=in_languages(TITLE, month=month, region=region.name),
        body=in_languages(BODY, month=month, region=region.name),
        link=report.get_absolute_url(),
        subject=f"{region.name} {month}",
        dedup_key=f"monthly-report:{report.pk}:{unit}",
    )
    return 1 if written else 0


def _write_locked(report: MonthlyReport, now: datetime) -> None:
    """Write one locked report and announce it, in the caller's transaction; the new file is removed if writing
    fails, the old one (a regenerated report's) once the transaction commits."""
    try:
        old = _write(report, now)
        _announce(report)
    except BaseException:
        if report.file and report.file.name:
            _delete_file(report.file.name)
        raise
    if old:
        transaction.on_commit(lambda: _delete_file(old))


def monthly_reports_write_pending(*, now: datetime | None = None, limit: int | None = None) -> list[MonthlyReport]:
    """Write the claimed, unwritten reports one by one, each locked (SKIP LOCKED) in its own transaction."""
    done: list[MonthlyReport] = []
    if MonthlyReport.objects.filter(generated_at__isnull=True).exists():
        overdue.refresh_if_stale()  # every report of the batch reads "overdue now" from one count
    while limit is None or len(done) < limit:
        with transaction.atomic():
            report = (
                MonthlyReport.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("region")
                .filter(generated_at__isnull=True)
                .order_by("month", "region__path")
                .first()
            )
            if report is None:
                break
            _write_locked(report, now or timezone.now())
        done.append(report)
    return done


def monthly_reports_run(*, today: date | None = None, now: datetime | None = None) -> list[MonthlyReport]:
    """The beat job: every district's and street's missing reports of the months due, written once."""
    monthly_reports_claim(months=months_due(today))
    return monthly_reports_write_pending(now=now)


def monthly_report_regenerate(*, region: Region, month: date, now: datetime | None = None) -> MonthlyReport:
    """Write (again) ``region``'s report of ``month`` from today's roll-up (the admins' command); waits for a
    worker writing it now. Supervisors already told of it are not told again."""
    month = month.replace(day=1)
    if region.depth not in REPORT_DEPTHS:
        raise ValueError(f"{region.code} is neither a district nor a street")
    MonthlyReport.objects.bulk_create([MonthlyReport(region=region, month=month)], ignore_conflicts=True)
    overdue.refresh_if_stale()
    with transaction.atomic():
        report = (
            MonthlyReport.objects.select_for_update(of=("self",))
            .select_related("region")
            .get(region=region, month=month)
        )
        _write_locked(report, now or timezone.now())
    return report


def report_regions(codes: list[str] | None = None) -> list[Any]:
    """The regions the command writes: the ones named by code, else every district and street."""
    qs = _reporting_regions() if not codes else Region.objects.filter(code__in=codes)
    return list(qs.order_by("path"))
