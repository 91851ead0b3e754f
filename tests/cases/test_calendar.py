"""The business calendar: working-time arithmetic over weekends, lunch, holidays and 调休, seeding and the admin page.

Dates are the real 2026 ones from the State Council notice, as the holidays library carries them: Spring Festival
off Feb 15–23 (Sunday to Monday) with Saturdays Feb 14 and Feb 28 worked; National Day off Oct 1–7 with Sunday
Sep 20 and Saturday Oct 10 worked. Working hours are the default 09:00–12:00 and 13:30–17:30, Asia/Shanghai.
"""

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases import calendar as cal
from cases.models import CalendarDay
from grids.models import AuditLog
from tests.factories import UserFactory, grant_role

pytestmark = pytest.mark.postgres

SH = ZoneInfo("Asia/Shanghai")
Kind, Origin = CalendarDay.Kind, CalendarDay.Origin


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SH)


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    # The day table is cached per process; each test has its own (rolled back) rows.
    cal.clear_cache()
    yield
    cal.clear_cache()


@pytest.fixture
def admin(city):
    user = UserFactory(username="cal-admin")
    grant_role(user, "region_admin", city.city, actor=city.actor)
    return user


@pytest.fixture
def worker(city):
    user = UserFactory(username="cal-worker")
    grant_role(user, "grid_worker", city.g1111, actor=city.actor)
    return user


# --- what the library says about 2026 ------------------------------------------------------------------------------


def test_library_carries_the_2026_notice():
    days = cal.library_days(2026)
    holidays = {d for d, (kind, _) in days.items() if kind == Kind.HOLIDAY}
    workdays = {d for d, (kind, _) in days.items() if kind == Kind.WORKDAY}
    assert {date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)} <= holidays
    assert {date(2026, 10, d) for d in (1, 2, 3, 5, 6, 7)} <= holidays
    assert workdays == {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9)} | {
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
    assert days[date(2026, 2, 17)] == (Kind.HOLIDAY, "春节")
    assert days[date(2026, 2, 23)] == (Kind.HOLIDAY, "春节（调休）")
    assert days[date(2026, 2, 14)] == (Kind.WORKDAY, "春节调休上班")
    assert days[date(2026, 9, 20)] == (Kind.WORKDAY, "国庆节调休上班")


# --- arithmetic ----------------------------------------------------------------------------------------------------


def test_across_a_weekend(db):
    assert cal.is_working_day(date(2026, 3, 6)) and not cal.is_working_day(date(2026, 3, 7))
    assert not cal.is_working_day(date(2026, 3, 8)) and cal.is_working_day(date(2026, 3, 9))
    # Friday 16:30 + 2 h: one hour on Friday, one on Monday morning.
    assert cal.add_working_hours(at(2026, 3, 6, 16, 30), 2) == at(2026, 3, 9, 10)
    assert cal.add_working_days(at(2026, 3, 6, 10), 1) == at(2026, 3, 9, 10)
    assert cal.add_working_days(at(2026, 3, 7, 10), 1) == at(2026, 3, 9, 17, 30)


def test_lunch_break(db):
    assert cal.add_working_hours(at(2026, 3, 9, 11), 2) == at(2026, 3, 9, 14, 30)
    # Ending exactly at noon ends at noon, not after lunch.
    assert cal.add_working_hours(at(2026, 3, 9, 9), 3) == at(2026, 3, 9, 12)
    assert cal.add_working_hours(at(2026, 3, 9, 11, 30), 0.5) == at(2026, 3, 9, 12)
    assert cal.add_working_hours(at(2026, 3, 9, 12), 0.5) == at(2026, 3, 9, 14)
    assert cal.add_working_hours(at(2026, 3, 9, 9), 7) == at(2026, 3, 9, 17, 30)
    assert cal.working_hours_between(at(2026, 3, 9, 11), at(2026, 3, 9, 14)) == 1.5


def test_start_outside_working_hours(db):
    assert cal.add_working_hours(at(2026, 3, 9, 7), 1) == at(2026, 3, 9, 10)
    assert cal.add_working_hours(at(2026, 3, 9, 12, 30), 1) == at(2026, 3, 9, 14, 30)
    assert cal.add_working_hours(at(2026, 3, 9, 20), 1) == at(2026, 3, 10, 10)
    assert cal.add_working_hours(at(2026, 3, 7, 15), 0) == at(2026, 3, 9, 9)  # the next working moment
    assert cal.add_working_hours(at(2026, 3, 9, 10, 15), 0) == at(2026, 3, 9, 10, 15)
    with pytest.raises(ValueError):
        cal.add_working_hours(at(2026, 3, 9, 10), -1)
    with pytest.raises(ValueError):
        cal.add_working_hours(datetime(2026, 3, 9, 10), 1)  # naive


def test_spring_festival_2026_and_its_working_saturdays(db):
    days = [date(2026, 2, 13) + timedelta(days=i) for i in range(17)]  # Friday Feb 13 to Sunday Mar 1
    off = [d for d in days if not cal.is_working_day(d)]
    # Saturday Feb 14 is worked; Feb 15 (Sunday) to Feb 23 (Monday) are nine days off; Saturday Feb 28 is worked.
    assert off == [date(2026, 2, d) for d in range(15, 24)] + [date(2026, 3, 1)]
    # Friday 16:30 + 2 h runs into the worked Saturday.
    assert cal.add_working_hours(at(2026, 2, 13, 16, 30), 2) == at(2026, 2, 14, 10)
    # Saturday 17:00 + 1 h: half an hour that evening, the rest after the festival.
    assert cal.add_working_hours(at(2026, 2, 14, 17), 1) == at(2026, 2, 24, 9, 30)
    assert cal.add_working_days(at(2026, 2, 13, 10), 2) == at(2026, 2, 24, 10)  # Fri, the worked Sat, Tue
    assert cal.add_working_hours(at(2026, 2, 16, 10), 1) == at(2026, 2, 24, 10)
    assert cal.add_working_hours(at(2026, 2, 27, 17), 1) == at(2026, 2, 28, 9, 30)
    assert cal.add_working_hours(at(2026, 2, 28, 17), 1) == at(2026, 3, 2, 9, 30)


def test_national_day_2026_and_its_working_weekend_days(db):
    assert cal.is_working_day(date(2026, 9, 20))  # Sunday, worked
    assert not any(cal.is_working_day(date(2026, 10, d)) for d in range(1, 8))  # Oct 1–7 off
    assert cal.is_working_day(date(2026, 10, 8)) and cal.is_working_day(date(2026, 10, 9))
    assert cal.is_working_day(date(2026, 10, 10)) and not cal.is_working_day(date(2026, 10, 11))
    assert cal.add_working_hours(at(2026, 9, 19, 10), 1) == at(2026, 9, 20, 10)  # Saturday → the worked Sunday
    assert cal.add_working_hours(at(2026, 9, 30, 17), 1) == at(2026, 10, 8, 9, 30)
    assert cal.add_working_hours(at(2026, 10, 9, 17), 1) == at(2026, 10, 10, 9, 30)
    assert cal.add_working_days(at(2026, 9, 30, 9), 3) == at(2026, 10, 9, 17, 30)


def test_working_hours_between(db):
    assert cal.working_hours_between(at(2026, 3, 9, 9), at(2026, 3, 9, 17, 30)) == 7
    assert cal.working_hours_between(at(2026, 3, 6, 16), at(2026, 3, 9, 10)) == 2.5  # across a weekend
    assert cal.working_hours_between(at(2026, 3, 7, 8), at(2026, 3, 8, 20)) == 0
    # Across the Spring Festival: Friday Feb 13 and the worked Saturday, then nothing until Feb 24.
    assert cal.working_hours_between(at(2026, 2, 13, 9), at(2026, 2, 24, 9)) == 14
    assert cal.working_hours_between(at(2026, 9, 30, 12), at(2026, 10, 8, 12)) == 4 + 3
    # Negative when the second moment comes first (how far past a deadline).
    assert cal.working_hours_between(at(2026, 3, 9, 10), at(2026, 3, 6, 17)) == -1.5
    # The two functions agree, wherever the start lies.
    for start in (at(2026, 2, 12, 8, 17), at(2026, 2, 14, 12, 45), at(2026, 9, 27, 16, 59), at(2026, 12, 31, 17)):
        for hours in (0.25, 1, 3.5, 7, 40, 123.75):
            end = cal.add_working_hours(start, hours)
            assert cal.working_hours_between(start, end) == pytest.approx(hours, abs=1e-9)


def test_time_zone_and_no_dst_in_shanghai(db, settings):
    # Aware in, aware out in settings.TIME_ZONE, whatever zone the input is in.
    out = cal.add_working_hours(datetime(2026, 3, 9, 1, 0, tzinfo=UTC), 1)  # 09:00 in Shanghai
    assert out == at(2026, 3, 9, 10) and out.tzinfo.key == "Asia/Shanghai" and out.utcoffset() == timedelta(hours=8)
    # The United States (Mar 8) and Europe (Mar 29) change their clocks; Shanghai does not: clock hours are exact.
    for start in (at(2026, 3, 7, 12), at(2026, 3, 28, 12), at(2026, 10, 24, 12)):
        end = cal.add_clock_hours(start, 48)
        assert end - start == timedelta(hours=48) and end.replace(tzinfo=None) - start.replace(
            tzinfo=None
        ) == timedelta(hours=48)
    assert cal.add_clock_hours(at(2026, 2, 16, 23), 1.5) == at(2026, 2, 17, 0, 30)  # holidays do not matter
    # In a zone with DST the clock hours are still real elapsed time, and working hours follow the wall clock.
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 12, tzinfo=berlin)
    end = cal.add_clock_hours(start, 24)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert end.replace(tzinfo=None) == datetime(2026, 3, 29, 13)
    assert cal.add_working_hours(datetime(2026, 3, 27, 17, tzinfo=berlin), 1) == datetime(
        2026, 3, 30, 9, 30, tzinfo=berlin
    )


def test_working_hours_come_from_settings(db, settings):
    assert cal.hours_per_day() == 7 and cal.working_hours_label() == "09:00–12:00, 13:30–17:30"
    settings.GOVGRID_WORKDAY_HOURS = "08:30-12:00, 14:00-18:00"
    assert cal.hours_per_day() == 7.5
    assert cal.add_working_hours(at(2026, 3, 9, 11), 2) == at(2026, 3, 9, 15)
    for bad in ("", "9-12", "09:00-08:00", "09:00-12:00,11:00-13:00", "09:00-25:00"):
        with pytest.raises(ImproperlyConfigured):
            cal.parse_working_hours(bad)
    assert cal.parse_working_hours("00:00-24:00") == ((0, 1440),)


def test_long_spans_are_exact_and_need_no_queries(db, django_assert_num_queries):
    cal.ensure_year(2026)
    cal.ensure_year(2027)
    with django_assert_num_queries(0):  # the years are cached
        assert cal.add_working_hours(at(2026, 3, 9, 10), 40) == at(2026, 3, 16, 16, 30)
    with django_assert_num_queries(0):  # over a year of working time, from the cached years
        end = cal.add_working_hours(at(2026, 1, 5, 9), 2000)
    assert end.year == 2027 and cal.working_hours_between(at(2026, 1, 5, 9), end) == pytest.approx(2000)
    cal.clear_cache()
    with django_assert_num_queries(1):  # one query per seeded year
        cal.is_working_day(date(2026, 10, 1))


# --- seeding -------------------------------------------------------------------------------------------------------


def test_lazy_seeding_on_first_use(db):
    assert not CalendarDay.objects.exists()
    assert not cal.is_working_day(date(2026, 10, 1))
    assert CalendarDay.objects.filter(day__year=2026, source=Origin.SEEDED).count() == len(cal.library_days(2026))
    assert AuditLog.objects.filter(action="calendar.seed", target_id="2026", data__lazily=True).count() == 1
    cal.clear_cache()
    cal.is_working_day(date(2026, 10, 2))
    assert AuditLog.objects.filter(action="calendar.seed").count() == 1  # seeded once
    # Years after the next are not seeded by themselves: their holidays are not announced yet.
    far = timezone.localdate().year + 5
    cal.is_working_day(date(far, 1, 1))
    assert not CalendarDay.objects.filter(day__year=far).exists()


def test_seeding_is_idempotent_and_keeps_admin_edits(admin):
    first = cal.calendar_seed(years=[2026])[0]
    rows = CalendarDay.objects.filter(day__year=2026).count()
    assert first.created == rows == len(cal.library_days(2026))
    again = cal.calendar_seed(years=[2026])[0]
    assert (again.created, again.updated, again.removed) == (0, 0, 0)
    assert CalendarDay.objects.filter(day__year=2026).count() == rows

    # An admin makes a day of the festival a working day and removes the Dragon Boat holiday.
    cal.calendar_day_save(actor=admin, day=date(2026, 2, 23), kind=Kind.WORKDAY, name="春节值班")
    removed = cal.calendar_day_delete(actor=admin, day=date(2026, 6, 19))
    assert removed.kind == Kind.ORDINARY and removed.source == Origin.ADMIN
    assert cal.is_working_day(date(2026, 2, 23)) and cal.is_working_day(date(2026, 6, 19))
    # A library update changed a seeded name and dropped a day.
    CalendarDay.objects.filter(day=date(2026, 2, 17)).update(name="旧名")
    CalendarDay.objects.create(day=date(2026, 3, 3), kind=Kind.HOLIDAY, name="旧假日", source=Origin.SEEDED)

    out = io.StringIO()
    call_command("seed_calendar", "--years", "2026", stdout=out)
    assert "2026: 0 added, 1 changed, 1 removed, 2 admin rows kept" in out.getvalue()
    day = CalendarDay.objects.get(day=date(2026, 2, 23))
    assert (day.kind, day.name, day.source) == (Kind.WORKDAY, "春节值班", Origin.ADMIN)
    assert CalendarDay.objects.get(day=date(2026, 6, 19)).kind == Kind.ORDINARY
    assert CalendarDay.objects.get(day=date(2026, 2, 17)).name == "春节"
    assert not CalendarDay.objects.filter(day=date(2026, 3, 3)).exists()
    assert cal.is_working_day(date(2026, 2, 23)) and cal.is_working_day(date(2026, 3, 3))

    # Undoing the admin's row brings the library's entry back; an admin's own extra day just goes.
    back = cal.calendar_day_delete(actor=admin, day=date(2026, 2, 23))
    assert (back.kind, back.name, back.source) == (Kind.HOLIDAY, "春节（调休）", Origin.SEEDED)
    assert not cal.is_working_day(date(2026, 2, 23))
    cal.calendar_day_save(actor=admin, day="2026-12-31", kind=Kind.HOLIDAY, name="城市纪念日")
    assert not cal.is_working_day(date(2026, 12, 31))
    assert cal.calendar_day_delete(actor=admin, day="2026-12-31") is None
    assert cal.is_working_day(date(2026, 12, 31))
    actions = set(AuditLog.objects.filter(action__startswith="calendar.").values_list("action", flat=True))
    assert actions == {"calendar.seed", "calendar.save", "calendar.delete"}


def test_an_admin_day_in_an_unseeded_year_seeds_the_year_first(admin):
    cal.calendar_day_save(actor=admin, day=date(2027, 3, 1), kind=Kind.HOLIDAY, name="试点")
    assert CalendarDay.objects.filter(day=date(2027, 2, 8), kind=Kind.HOLIDAY, source=Origin.SEEDED).exists()


def test_only_admins_edit_and_bad_input_is_refused(admin, worker):
    with pytest.raises(PermissionDenied):
        cal.calendar_day_save(actor=worker, day=date(2026, 3, 3), kind=Kind.HOLIDAY, name="x")
    with pytest.raises(PermissionDenied):
        cal.calendar_seed(years=[2026], actor=worker)
    with pytest.raises(ValidationError) as exc:
        cal.calendar_day_save(actor=admin, day="2026-02-30", kind="party", name="x")
    assert set(exc.value.message_dict) == {"day", "kind"}
    with pytest.raises(ValidationError):
        cal.calendar_day_save(actor=admin, day="tomorrow", kind=Kind.HOLIDAY)
    with pytest.raises(ValidationError):
        cal.calendar_day_save(actor=admin, day=date(2026, 3, 3), kind=Kind.ORDINARY)
    with pytest.raises(ValidationError):
        cal.calendar_seed(years=[1900], actor=admin)
    assert not CalendarDay.objects.filter(source=Origin.ADMIN).exists()


# --- the admin page ------------------------------------------------------------------------------------------------


def test_calendar_page_lists_and_edits_days(admin):
    c = Client(headers={"accept-language": "en"})
    c.force_login(admin)
    page = c.get(reverse("calendar"), {"year": 2026})
    assert page.status_code == 200
    text = page.text
    assert "春节调休上班" in text and "国庆节调休上班" in text and "春节（调休）" in text
    assert "09:00–12:00, 13:30–17:30" in text and "Asia/Shanghai" in text
    assert 'data-day="2026-02-14"' in text and reverse("calendar_day_edit", args=["2026-02-14"]) in text
    assert text.index("春节调休上班") < text.index("国庆节调休上班")  # by month

    created = c.post(reverse("calendar_day_create"), {"day": "2026-12-31", "kind": "holiday", "name": "城市纪念日"})
    assert created.status_code == 302 and created["Location"].endswith("?year=2026")
    assert CalendarDay.objects.get(day=date(2026, 12, 31)).source == Origin.ADMIN
    edit_url = reverse("calendar_day_edit", args=["2026-12-31"])
    assert "城市纪念日" in c.get(edit_url).text
    zh = Client(headers={"accept-language": "zh-hans"})
    zh.force_login(admin)
    assert 'value="2026-12-31"' in zh.get(edit_url).text  # a date input takes ISO dates in every language
    assert c.post(edit_url, {"kind": "workday", "name": "补班"}).status_code == 302
    assert CalendarDay.objects.get(day=date(2026, 12, 31)).kind == Kind.WORKDAY
    assert "补班" in c.get(reverse("calendar"), {"year": 2026}).text
    assert c.post(edit_url, {"delete": "1"}).status_code == 302
    assert not CalendarDay.objects.filter(day=date(2026, 12, 31)).exists()

    seeded = c.post(reverse("calendar_seed"), {"year": "2026"}, follow=True)
    assert seeded.status_code == 200 and "seeded from the holidays library" in seeded.text

    # Bad input: form errors, nothing written.
    bad_date = c.post(reverse("calendar_day_create"), {"day": "2026-02-30", "kind": "holiday", "name": "x"})
    assert bad_date.status_code == 200 and "Enter a valid date" in bad_date.text
    bad_kind = c.post(reverse("calendar_day_create"), {"day": "2026-12-30", "kind": "party", "name": "x"})
    assert bad_kind.status_code == 200 and "Select a valid choice" in bad_kind.text
    assert not CalendarDay.objects.filter(day__in=[date(2026, 12, 30)]).exists()
    assert c.get(reverse("calendar_day_edit", args=["not-a-date"])).status_code == 404
    assert c.get(reverse("calendar_day_edit", args=["2026-03-03"])).status_code == 404  # no entry that day
    assert c.get(reverse("calendar"), {"year": "abc"}).status_code == 200


def test_grid_worker_sees_the_calendar_but_may_not_edit_it(worker):
    c = Client(headers={"accept-language": "en"})
    c.force_login(worker)
    page = c.get(reverse("calendar"), {"year": 2026})
    assert page.status_code == 200 and "春节" in page.text
    assert reverse("calendar_day_create") not in page.text and reverse("calendar_seed") not in page.text
    assert c.get(reverse("calendar_day_create")).status_code == 403
    assert c.post(reverse("calendar_day_create"), {"day": "2026-12-31", "kind": "holiday"}).status_code == 403
    assert c.post(reverse("calendar_day_edit", args=["2026-02-14"]), {"delete": "1"}).status_code == 403
    assert c.post(reverse("calendar_seed"), {"year": "2026"}).status_code == 403
    assert not CalendarDay.objects.filter(source=Origin.ADMIN).exists()
    anonymous = Client().get(reverse("calendar"))
    assert anonymous.status_code == 302
