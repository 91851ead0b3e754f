"""The business calendar (工作日历): which moments are working time, and time arithmetic on it.

Working time is the working periods of a day (``GOVGRID_WORKDAY_HOURS``, by default 09:00–12:00 and 13:30–17:30)
on working days, in ``settings.TIME_ZONE``. Monday to Friday are working days and Saturday and Sunday are not,
unless a ``CalendarDay`` row says otherwise (a public holiday, or a weekend day made a working day: 调休).

The table is seeded from the ``holidays`` library and edited by admins (``calendar_day_save``,
``calendar_day_delete``, ``calendar_seed``); seeding never overwrites an admin's row. A year is seeded lazily the
first time the arithmetic or the page finds no row for it (this year, the next and any past year), so a fresh
database needs no extra step.

Each process keeps the rows of a year in memory for ``CACHE_SECONDS``; the editing functions drop the cache at once
in their own process, other processes see an edit within that time. The arithmetic walks day by day (never minute
by minute): adding 40 working hours visits about a week of days and makes no query once the year is cached.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from .models import CalendarDay

Kind = CalendarDay.Kind
Origin = CalendarDay.Origin

CACHE_SECONDS = 60
# No working time within ten years means the calendar or the working hours are broken: stop, do not spin.
MAX_DAYS = 3660
EDITABLE_KINDS = (Kind.HOLIDAY, Kind.WORKDAY)


# --- working hours -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def parse_working_hours(value: str) -> tuple[tuple[int, int], ...]:
    """Parse "09:00-12:00,13:30-17:30" into ((540, 720), (810, 1050)): minutes after midnight, in order."""
    periods: list[tuple[int, int]] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not m:
            raise ImproperlyConfigured(f"GOVGRID_WORKDAY_HOURS: {part!r} is not like 09:00-12:00.")
        h0, m0, h1, m1 = (int(g) for g in m.groups())
        start, end = h0 * 60 + m0, h1 * 60 + m1
        if m0 > 59 or m1 > 59 or not 0 <= start < end <= 24 * 60:
            raise ImproperlyConfigured(f"GOVGRID_WORKDAY_HOURS: {part!r} is not a period within one day.")
        if periods and start < periods[-1][1]:
            raise ImproperlyConfigured(f"GOVGRID_WORKDAY_HOURS: {part!r} overlaps or precedes the period before it.")
        periods.append((start, end))
    if not periods:
        raise ImproperlyConfigured("GOVGRID_WORKDAY_HOURS names no working period.")
    return tuple(periods)


def working_periods() -> tuple[tuple[int, int], ...]:
    """The working periods of a working day, in minutes after midnight (parsed once per setting value)."""
    return parse_working_hours(settings.GOVGRID_WORKDAY_HOURS)


def working_hours_label() -> str:
    """The working periods for people: "09:00–12:00, 13:30–17:30"."""

    def hm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return ", ".join(f"{hm(s)}–{hm(e)}" for s, e in working_periods())


def hours_per_day() -> float:
    """Working hours in one working day (7.0 by default)."""
    return sum(e - s for s, e in working_periods()) / 60


# --- the day table -----------------------------------------------------------------------------------------------

_cache: dict[int, tuple[float, dict[date, str]]] = {}  # year → (loaded at, {date: kind}) without "ordinary" rows


def clear_cache() -> None:
    """Forget the cached rows of every year (done by the editing functions; tests call it between cases)."""
    _cache.clear()


def _year_range(year: int) -> dict[str, date]:
    return {"day__gte": date(year, 1, 1), "day__lt": date(year + 1, 1, 1)}


def _seedable(year: int) -> bool:
    """Years seeded without being asked: any past year, this year and the next (later ones are estimates)."""
    return 1950 <= year <= timezone.localdate().year + 1


def _load_year(year: int) -> dict[date, str]:
    """The rows of one year: one query, plus seeding the year first when it has none."""
    rows = dict(CalendarDay.objects.filter(**_year_range(year)).values_list("day", "kind"))
    if not rows and _seedable(year):
        _seed_year(year, actor=None, lazily=True)
        rows = dict(CalendarDay.objects.filter(**_year_range(year)).values_list("day", "kind"))
    return {d: k for d, k in rows.items() if k != Kind.ORDINARY}


def _year_days(year: int) -> dict[date, str]:
    now = time.monotonic()
    hit = _cache.get(year)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    days = _load_year(year)
    _cache[year] = (now, days)
    return days


def ensure_year(year: int) -> None:
    """Seed ``year`` from the library if it has no rows yet (what the arithmetic does by itself)."""
    _year_days(year)


@dataclass
class _Days:
    """The day table as one call sees it: each year is fetched at most once per call."""

    years: dict[int, dict[date, str]] = field(default_factory=dict)

    def is_working(self, day: date) -> bool:
        table = self.years.get(day.year)
        if table is None:
            table = self.years[day.year] = _year_days(day.year)
        kind = table.get(day)
        if kind == Kind.HOLIDAY:
            return False
        if kind == Kind.WORKDAY:
            return True
        return day.weekday() < 5


# --- arithmetic --------------------------------------------------------------------------------------------------


def _zone() -> tzinfo:
    return timezone.get_default_timezone()


def _utc(moment: datetime) -> datetime:
    if timezone.is_naive(moment):
        raise ValueError("The business calendar needs aware datetimes.")
    return moment.astimezone(UTC)


def _periods(day: date, zone: tzinfo, spec: tuple[tuple[int, int], ...]) -> list[tuple[datetime, datetime]]:
    """The working periods of ``day`` as UTC moments (differences in UTC are real elapsed time)."""

    def at(minutes: int) -> datetime:
        d, minutes = (day + timedelta(days=1), 0) if minutes == 24 * 60 else (day, minutes)
        return datetime.combine(d, clock(minutes // 60, minutes % 60), tzinfo=zone).astimezone(UTC)

    return [(at(s), at(e)) for s, e in spec]


def is_working_day(day: date | datetime) -> bool:
    """Is ``day`` a working day (a datetime counts by its local date in settings.TIME_ZONE)?"""
    if isinstance(day, datetime):
        day = _utc(day).astimezone(_zone()).date()
    return _Days().is_working(day)


def add_working_hours(start: datetime, hours: float) -> datetime:
    """The moment when ``hours`` of working time have passed since ``start``.

    Only working periods of working days count; a start outside them begins at the next working period, and a
    total that ends exactly at the end of a period ends there (12:00, not 13:30). With ``hours=0`` the result is
    the next working moment (``start`` itself inside working hours). Aware in, aware out in settings.TIME_ZONE.
    """
    if hours < 0:
        raise ValueError("hours must not be negative")
    zone, spec, days = _zone(), working_periods(), _Days()
    moment = _utc(start)
    remaining = timedelta(hours=hours)
    day = moment.astimezone(zone).date()
    for _i in range(MAX_DAYS):
        if days.is_working(day):
            for begins, ends in _periods(day, zone, spec):
                if ends <= moment:
                    continue
                begins = max(begins, moment)
                if remaining <= ends - begins:
                    return (begins + remaining).astimezone(zone)
                remaining -= ends - begins
        day += timedelta(days=1)
    raise ValueError(f"No working time within {MAX_DAYS} days of {start}: check the calendar and working hours.")


def add_working_days(start: datetime, days: float) -> datetime:
    """``days`` working days after ``start``: ``days`` × the working hours of a day, added as working hours.

    Monday 10:00 + 1 → Tuesday 10:00; Saturday 10:00 + 1 → Monday at the end of the working day.
    """
    return add_working_hours(start, days * hours_per_day())


def add_clock_hours(start: datetime, hours: float) -> datetime:
    """``hours`` of real elapsed time after ``start`` (emergencies count the clock, not the calendar)."""
    return (_utc(start) + timedelta(hours=hours)).astimezone(_zone())


def working_periods_between(first: date, last: date) -> list[tuple[datetime, datetime]]:
    """Every working period of the local days ``first`` … ``last``, in order, as UTC moments: the same periods
    ``working_hours_between`` sums, for SQL that needs them as a table (the roll-up's rebuild)."""
    zone, spec, days = _zone(), working_periods(), _Days()
    out: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        if days.is_working(day):
            out += _periods(day, zone, spec)
        day += timedelta(days=1)
    return out


def working_hours_between(a: datetime, b: datetime) -> float:
    """Working hours from ``a`` to ``b``; negative when ``b`` is before ``a`` (e.g. how far past a deadline)."""
    start, end = _utc(a), _utc(b)
    if end < start:
        return -working_hours_between(b, a)
    zone, spec, days = _zone(), working_periods(), _Days()
    total = timedelta(0)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:
        if days.is_working(day):
            for begins, ends in _periods(day, zone, spec):
                lo, hi = max(begins, start), min(ends, end)
                if hi > lo:
                    total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 3600


# --- seeding from the holidays library ---------------------------------------------------------------------------

_SWAPPED_FROM = re.compile(r"\d{4}-\d{2}-\d{2}")  # the library names a swapped day off "休息日（由 2026-02-14 调休）"
_SUFFIX = re.compile(r"\s*[（(][^）)]*[）)]\s*$")  # "清明节（补假）" → "清明节"


def library_days(year: int) -> dict[date, tuple[str, str]]:
    """What the holidays library says about ``year``: {date: (kind, name)} for its public holidays and its
    weekend days made working days, for the country of ``GOVGRID_WORKDAY_COUNTRY``.

    For China the library lists the weekdays given off in a 调休 swap as holidays named after the weekend day they
    are swapped with, and the weekend days worked in ``weekend_workdays``; both are named here after the festival
    they belong to ("春节（调休）", "春节调休上班"). Names are data, in the library's language (Chinese for China).
    """
    import holidays

    lib = holidays.country_holidays(settings.GOVGRID_WORKDAY_COUNTRY, years=range(year - 1, year + 2))
    names = {d: str(n).split(";")[0].strip() for d, n in lib.items()}
    workdays = set(getattr(lib, "weekend_workdays", ()))

    def off(d: date) -> bool:
        return d in names or (d.weekday() >= 5 and d not in workdays)

    def festival(d: date) -> str | None:
        """The named holiday in the run of days off around ``d``."""
        for step in (-1, 1):
            x = d + timedelta(days=step)
            while off(x):
                if x in names and not _SWAPPED_FROM.search(names[x]):
                    return _SUFFIX.sub("", names[x])
                x += timedelta(days=step)
        return None

    swapped_off: dict[date, date] = {}  # weekend day worked → weekday given off
    out: dict[date, tuple[str, str]] = {}
    for d, name in names.items():
        found = _SWAPPED_FROM.search(name)
        if found:
            swapped_off[date.fromisoformat(found.group())] = d
            fest = festival(d)
            name = f"{fest}（调休）" if fest else name
        if d.year == year:
            out[d] = (Kind.HOLIDAY, name[:60])
    for d in workdays:
        if d.year == year and d not in out:
            fest = festival(swapped_off[d]) if d in swapped_off else None
            out[d] = (Kind.WORKDAY, f"{fest}调休上班" if fest else "调休上班")
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class CalendarYear:
    """A year of the calendar, as the target of an audit record."""

    year: int

    @property
    def pk(self) -> int:
        return self.year

    def __str__(self) -> str:
        return f"calendar {self.year}"


@dataclass(frozen=True)
class SeedResult:
    year: int
    created: int
    updated: int
    removed: int
    kept: int  # admin rows left alone


def _seed_year(year: int, *, actor: Any, lazily: bool = False) -> SeedResult:
    from grids.services import audit

    wanted = library_days(year)
    with transaction.atomic():
        existing = {r.day: r for r in CalendarDay.objects.select_for_update().filter(**_year_range(year))}
        create, update = [], []
        for d, (kind, name) in wanted.items():
            row = existing.get(d)
            if row is None:
                create.append(CalendarDay(day=d, kind=kind, name=name, source=Origin.SEEDED))
            elif row.source == Origin.SEEDED and (row.kind, row.name) != (kind, name):
                row.kind, row.name, row.updated_at = kind, name, timezone.now()
                update.append(row)
        gone = [r.pk for d, r in existing.items() if r.source == Origin.SEEDED and d not in wanted]
        if lazily and not create:
            return SeedResult(year, 0, 0, 0, 0)  # the library knows nothing of the year: nothing to record
        # Two processes seeding the same year at once: the second one's rows are already there.
        CalendarDay.objects.bulk_create(create, ignore_conflicts=True)
        CalendarDay.objects.bulk_update(update, ["kind", "name", "updated_at"])
        CalendarDay.objects.filter(pk__in=gone).delete()
        kept = sum(1 for r in existing.values() if r.source == Origin.ADMIN)
        result = SeedResult(year, len(create), len(update), len(gone), kept)
        audit(
            actor=actor,
            action="calendar.seed",
            target=CalendarYear(year),
            country=settings.GOVGRID_WORKDAY_COUNTRY,
            lazily=lazily,
            created=result.created,
            updated=result.updated,
            removed=result.removed,
            kept_admin=kept,
        )
    _cache.pop(year, None)
    return result


def default_seed_years() -> list[int]:
    this = timezone.localdate().year
    return [this, this + 1]


def calendar_seed(*, years: Iterable[int] | None = None, actor: Any = None) -> list[SeedResult]:
    """Fill or refresh ``years`` (this year and the next by default) from the holidays library.

    Seeded rows follow the library (added, changed or removed); an admin's rows are left as they are. Safe to run
    again. With an ``actor`` (the page) the actor must be allowed to edit the calendar; without one it is the
    system (the management command).
    """
    if actor is not None and not may_edit_calendar(actor):
        raise PermissionDenied(_("Only an administrator at city level edits the calendar."))
    years = sorted(set(years or default_seed_years()))
    if any(not 1950 <= y <= 2100 for y in years):
        raise ValidationError({"year": _("Choose a year between 1950 and 2100.")})
    with transaction.atomic():
        results = [_seed_year(y, actor=actor) for y in years]
        transaction.on_commit(clear_cache)
    return results


# --- admin edits -------------------------------------------------------------------------------------------------


def may_edit_calendar(actor: Any) -> bool:
    """The calendar is city-wide: edited by whoever edits the categories (an access manager at a city)."""
    from .services import may_edit_categories

    return bool(getattr(actor, "is_authenticated", False)) and may_edit_categories(actor)


def parse_day(day: Any) -> date:
    """A date from a date or an ISO string; ValidationError on the field ``day`` otherwise."""
    if isinstance(day, datetime):
        raise ValidationError({"day": _("Give a date, not a moment.")})
    if isinstance(day, date):
        return day
    try:
        parsed = parse_date(str(day or "").strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError({"day": _("Enter a valid date (YYYY-MM-DD).")})
    return parsed


def calendar_day_save(*, actor: Any, day: date | str, kind: str, name: str = "") -> CalendarDay:
    """Mark ``day`` a holiday or a working day (调休), as an admin's row that seeding leaves alone."""
    from grids.services import audit

    if not may_edit_calendar(actor):
        raise PermissionDenied(_("Only an administrator at city level edits the calendar."))
    errors: dict[str, list[str]] = {}
    try:
        day = parse_day(day)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if kind not in EDITABLE_KINDS:
        errors["kind"] = [_("Choose a holiday or a working day.")]
    name = (name or "").strip()
    if len(name) > 60:
        errors["name"] = [_("A name has at most 60 characters.")]
    if not errors and not 1950 <= day.year <= 2100:
        errors["day"] = [_("Choose a date between 1950 and 2100.")]
    if errors:
        raise ValidationError(errors)
    # Seed the year first: a year with an admin's row in it would otherwise never be seeded lazily.
    if _seedable(day.year) and not CalendarDay.objects.filter(**_year_range(day.year)).exists():
        _seed_year(day.year, actor=None, lazily=True)
    with transaction.atomic():
        row = CalendarDay.objects.select_for_update().filter(day=day).first()
        old = {"kind": row.kind, "name": row.name, "source": row.source} if row else {}
        row = row or CalendarDay(day=day)
        row.kind, row.name, row.source = kind, name, Origin.ADMIN
        row.save()
        audit(actor=actor, action="calendar.save", target=row, old=old, new={"kind": kind, "name": name})
        transaction.on_commit(clear_cache)
    clear_cache()
    return row


def calendar_day_delete(*, actor: Any, day: date | str) -> CalendarDay | None:
    """Undo what stands at ``day``; returns the row left there, if any.

    A seeded day becomes an admin's "ordinary" row (the weekday rule applies, and seeding again does not bring the
    day back). An admin's row goes, and the library's entry for the date, if it has one, comes back.
    """
    from grids.services import audit

    if not may_edit_calendar(actor):
        raise PermissionDenied(_("Only an administrator at city level edits the calendar."))
    day = parse_day(day)
    with transaction.atomic():
        row = CalendarDay.objects.select_for_update().filter(day=day).first()
        if row is None:
            raise CalendarDay.DoesNotExist(f"No calendar entry on {day}.")
        old = {"kind": row.kind, "name": row.name, "source": row.source}
        library = library_days(day.year).get(day)
        if row.source == Origin.SEEDED:
            row.kind, row.source = Kind.ORDINARY, Origin.ADMIN
            row.save()
            left: CalendarDay | None = row
        elif library:
            row.kind, row.name, row.source = library[0], library[1], Origin.SEEDED
            row.save()
            left = row
        else:
            audit(actor=actor, action="calendar.delete", target=row, old=old)
            row.delete()
            left = None
        if left is not None:
            audit(actor=actor, action="calendar.delete", target=left, old=old, new={"kind": left.kind})
        transaction.on_commit(clear_cache)
    clear_cache()
    return left


# --- the admin page's reading ------------------------------------------------------------------------------------


@dataclass
class CalendarMonth:
    month: int
    working_days: int
    rows: list[CalendarDay]


@dataclass
class CalendarYearView:
    year: int
    months: list[CalendarMonth]
    working_days: int
    seeded: bool
    library: dict[date, tuple[str, str]]


def calendar_year(*, year: int) -> CalendarYearView:
    """A year's rows by month (every month, empty ones too) with the working days of each; seeds the year lazily
    like the arithmetic does. The library's own view is included so the page can show where an admin differs."""
    ensure_year(year)
    rows = list(CalendarDay.objects.filter(**_year_range(year)).order_by("day"))
    days = _Days()
    months = []
    for m in range(1, 13):
        first = date(year, m, 1)
        count = 0
        d = first
        while d.month == m:
            count += days.is_working(d)
            d += timedelta(days=1)
        months.append(CalendarMonth(m, count, [r for r in rows if r.day.month == m]))
    return CalendarYearView(
        year=year,
        months=months,
        working_days=sum(m.working_days for m in months),
        seeded=bool(rows),
        library=library_days(year),
    )
