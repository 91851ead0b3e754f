"""The warning rules on a small generated city: the planted patterns are found, ordinary noise raises nothing, and
the thresholds of the settings rows take effect."""

import pytest

from mediation.risk import rules, services
from mediation.risk.models import Warning
from tests.factories import superuser

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def found(day):
    services.warnings_for_day(day)
    return list(Warning.objects.order_by("rule", "id"))


def test_every_planted_pattern_is_found_and_the_noise_raises_nothing(planted, day):
    warnings = found(day)
    by_rule = {}
    for w in warnings:
        by_rule.setdefault(w.rule, []).append(w)

    grid, category = planted.rising_grid
    rising = {(w.region_id, w.evidence["category_id"]) for w in by_rule["rising_grid"]}
    assert (grid, category) in rising
    # Only the planted grid: the planted cluster's 6 reports of one category stay below the week's 8 cases.
    assert rising == {(grid, category)}

    assert [(w.subject_kind, w.subject_id) for w in by_rule["repeat_party"]] == [
        ("household", planted.repeat_household)
    ]
    assert by_rule["repeat_party"][0].evidence["params"]["count"] == 4

    [cluster] = by_rule["cluster"]
    assert set(planted.cluster) <= set(cluster.evidence["cases"])
    assert cluster.lat is not None and cluster.subject_kind == "point"

    assert [w.subject_id for w in by_rule["unvisited"]] == [planted.lonely_elder]
    assert [w.subject_id for w in by_rule["fell_apart"]] == [planted.fell_apart]
    assert len(warnings) == 5  # the five planted findings, and nothing of the noise


def test_each_warning_explains_itself_with_its_numbers(planted, day):
    found(day)
    w = Warning.objects.get(rule="repeat_party")
    assert "4" in w.explanation and "90" in w.explanation  # stored in Chinese for the meeting
    elder = Warning.objects.get(rule="unvisited")
    assert "60" in elder.explanation and "独居老人" in elder.explanation
    assert elder.street_id is not None and elder.district_id is not None
    rising = Warning.objects.filter(rule="rising_grid").first()
    params = rising.evidence["params"]
    assert params["count"] > params["limit"] and params["weeks"] == 8
    assert rising.evidence["links"][0]["url"].startswith("/cases/?grid=")


def test_the_same_finding_is_not_raised_twice_in_a_week(planted, day):
    first = len(found(day))
    services.warnings_for_day(day)
    assert Warning.objects.count() == first


def test_thresholds_from_the_settings_rows_take_effect(planted, day):
    admin = superuser("rules-admin")
    services.rule_save(
        actor=admin, code="rising_grid", is_active=True, params={"sigmas": 3.0, "baseline_weeks": 8, "min_count": 30}
    )
    services.rule_save(actor=admin, code="repeat_party", is_active=True, params={"min_count": 5, "window_days": 90})
    services.rule_save(
        actor=admin, code="cluster", is_active=True, params={"min_count": 5, "distance_m": 20, "window_days": 7}
    )
    services.rule_save(
        actor=admin, code="unvisited", is_active=True, params={"window_days": 120, "tags": "elderly-alone, disabled"}
    )
    services.rule_save(actor=admin, code="fell_apart", is_active=False, params={"min_count": 2})
    assert found(day) == []


def test_a_rule_setting_is_checked_and_audited(city):
    from django.core.exceptions import PermissionDenied, ValidationError

    from grids.models import AuditLog
    from tests.factories import UserFactory

    with pytest.raises(ValidationError) as e:
        services.rule_save(actor=city.actor, code="cluster", is_active=True, params={"min_count": "x"})
    assert "min_count" in e.value.message_dict
    with pytest.raises(PermissionDenied):
        services.rule_save(actor=UserFactory(username="nobody"), code="cluster", is_active=True, params={})
    services.rule_save(actor=city.actor, code="cluster", is_active=True, params={"min_count": 8})
    log = AuditLog.objects.get(action="risk_rule_change")
    assert log.data["old"]["params"]["min_count"] == 5 and log.data["new"]["params"]["min_count"] == 8


M = 1 / 111_320  # a metre of latitude in degrees


def test_clusters_are_found_across_cell_edges_and_need_all_within_the_distance():
    # 5 points within 150 m of each other, placed so the 200 m cells split them
    lat0, lng0 = 30.0 + 199.9 * M, 104.0
    pts = [
        (i, lat0 + dy * M, lng0 + dx * M / 0.866)
        for i, (dy, dx) in enumerate([(0, 0), (0.2, 0), (-60, 30), (60, -30), (-30, -60)], start=1)
    ]
    assert rules.clusters(pts, radius=200, min_size=5) == [[1, 2, 3, 4, 5]]
    # a chain 150 m apart: each near the next, not all within 200 m of each other
    chain = [(i, 30.0 + 150 * i * M, 104.0) for i in range(6)]
    assert rules.clusters(chain, radius=200, min_size=5) == []
    assert rules.clusters(pts[:4], radius=200, min_size=5) == []


def test_week_of_is_the_monday():
    from datetime import date

    assert rules.week_of(date(2026, 11, 22)) == date(2026, 11, 16)
    assert rules.week_of(date(2026, 11, 16)) == date(2026, 11, 16)


def test_a_cluster_is_one_kind_of_problem_at_one_spot(city):
    """Five reports near each other count when they are of one category group (two sub-categories of 城市管理
    here); five of different groups at the same spot are a coincidence of a busy street, not a cluster."""
    from datetime import timedelta

    from django.utils import timezone

    from bench import risk_patterns as rp
    from cases.models import Category

    day = timezone.localdate() - timedelta(days=1)
    at = rp.at_noon(day)
    groups = list(Category.objects.filter(parent__isnull=True).order_by("code"))
    mixed = [g.children.order_by("code").first() for g in groups[:5]]
    same = list(Category.objects.get(code="csgl-zdjy").parent.children.order_by("code")[:2])
    lat0, lng0 = 30.0, 104.0
    for i, category in enumerate(mixed):  # five groups at one spot
        rp.report_at(grid=city.g1111, category=category, at=at, lat=lat0 + i * 10 * M, lng=lng0)
    assert rules.clustered_reports(day, {"min_count": 5, "distance_m": 200, "window_days": 7}) == []
    for i in range(5):  # five of one group a little further on, two kinds of 城市管理
        rp.report_at(grid=city.g1112, category=same[i % 2], at=at, lat=lat0 + 0.01 + i * 10 * M, lng=lng0)
    (finding,) = rules.clustered_reports(day, {"min_count": 5, "distance_m": 200, "window_days": 7})
    assert finding.params["count"] == 5 and finding.region_id == city.g1112.pk
