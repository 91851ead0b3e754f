from datetime import timedelta
from functools import partial

import pytest
from django.test import Client
from django.utils import timezone

from cases import services
from cases.models import Case, Category
from tests.factories import staff


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


@pytest.fixture
def people(city):
    person = partial(staff, actor=city.actor)

    return type(
        "People",
        (),
        {
            "worker": person("worker", "grid_worker", city.g1111),
            "community": person("community", "community_staff", city.c111),
            "community12": person("community12", "community_staff", city.c121),
            "community21": person("community21", "community_staff", city.c211),
            "dispatcher": person("dispatcher", "street_dispatcher", city.s11),
            "supervisor": person("supervisor", "supervisor", city.d1),
            "admin": person("admin", "region_admin", city.city),
        },
    )


@pytest.fixture
def cases(city, people):
    """A small known set: g1111 has 3 open (one overdue) and 1 cancelled, g1112 1 open of another category,
    g1211 2 open, g2111 1 open; one case of g1111 was reported 40 days ago."""
    zdjy = Category.objects.get(code="csgl-zdjy")
    other = Category.objects.filter(parent__isnull=False, is_active=True).exclude(pk=zdjy.pk).first()

    def report(grid, lat, lng, category=zdjy, title="占道经营"):
        return services.case_report(reporter=city.actor, category=category, title=title, region=grid, lat=lat, lng=lng)

    g = city
    made = {
        "a": report(g.g1111, 30.01, 104.01),
        "b": report(g.g1111, 30.02, 104.015),
        "old": report(g.g1111, 30.015, 104.012),
        "gone": report(g.g1111, 30.012, 104.011),
        "c": report(g.g1112, 30.05, 104.01, category=other, title="其他"),
        "d": report(g.g1211, 30.09, 104.01),
        "e": report(g.g1211, 30.1, 104.015),
        "f": report(g.g2111, 30.01, 104.09),
    }
    services.case_transition(case=made["gone"], action="cancel", actor=people.community, comment="重复上报")
    now = timezone.now()
    Case.objects.filter(pk=made["a"].pk).update(due_at=now - timedelta(hours=1), yellow_at=now - timedelta(hours=5))
    Case.objects.filter(pk=made["b"].pk).update(due_at=now + timedelta(hours=10), yellow_at=now + timedelta(hours=5))
    Case.objects.filter(pk=made["old"].pk).update(created_at=now - timedelta(days=40))
    return type("Cases", (), {**made, "zdjy": zdjy, "other": other})
