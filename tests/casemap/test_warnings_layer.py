"""The case map's risk warnings layer (mediation/risk): the page gives the layer's GeoJSON address to those who review
warnings, for the shown region and period, and that address answers the region's warnings; others get no layer."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from grids.models import Role
from tests.casemap.conftest import client_for
from tests.factories import UserFactory, grant_role
from tests.mediation.risk.test_risk_views import make_warning

pytestmark = pytest.mark.postgres

PAGE = reverse("casemap:page")
LAYER = reverse("mediation:risk:geojson")


def test_the_map_page_links_the_warnings_layer_of_its_region(city, people):
    inside, outside = make_warning(city.g1111, n=1), make_warning(city.g2111, n=2)
    response = client_for(people.supervisor).get(PAGE)
    assert response.status_code == 200
    url = response.context["warnings_url"]
    assert url == f"{LAYER}?region={city.d1.pk}"  # no period on the map: the layer's own last 28 days
    html = response.content.decode()
    assert 'data-warnings-url="' in html and 'data-l-warnings="Risk warnings"' in html
    layer = client_for(people.supervisor).get(url)
    assert layer.status_code == 200
    ids = [f["properties"]["id"] for f in layer.json()["features"]]
    assert ids == [inside.pk] and outside.pk not in ids


def test_the_layer_follows_the_maps_period_and_region(city, people):
    make_warning(city.g1211, n=3)
    today = timezone.localdate()
    start = today - timedelta(days=10)
    response = client_for(people.supervisor).get(
        PAGE, {"region": city.s12.pk, "period": "custom", "date_from": start.isoformat(), "date_to": today.isoformat()}
    )
    assert response.status_code == 200
    url = response.context["warnings_url"]
    assert f"region={city.s12.pk}" in url
    assert f"date_from={start.isoformat()}" in url and f"date_to={today.isoformat()}" in url
    assert len(client_for(people.supervisor).get(url).json()["features"]) == 1
    # a period that ends before the warning was found shows none
    old = client_for(people.supervisor).get(
        PAGE, {"period": "custom", "date_from": (start - timedelta(days=30)).isoformat(), "date_to": start.isoformat()}
    )
    assert client_for(people.supervisor).get(old.context["warnings_url"]).json()["features"] == []


def test_no_layer_for_who_uses_the_map_but_does_not_review_warnings(city):
    role = Role.objects.create(code="map-only", name="只看地图")
    for perm in ("grids.view_region", "cases.view_case", "cases.supervise_case"):
        app, codename = perm.split(".")
        role.permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    user = UserFactory(username="map-only")
    grant_role(user, "map-only", city.d1, actor=city.actor)
    response = client_for(user).get(PAGE)
    assert response.status_code == 200
    assert response.context["warnings_url"] == ""
    assert "data-warnings-url" not in response.content.decode()
    assert client_for(user).get(LAYER).status_code == 403
