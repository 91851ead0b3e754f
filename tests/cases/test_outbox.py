"""Reports sent by the phone's outbox: an idempotency key per draft, JSON answers, the CSRF token endpoint."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from cases import services
from cases.models import Case, CaseEvent
from tests.cases.test_services import png, report
from tests.cases.test_views import client_for
from tests.factories import run_in_threads


def test_the_same_draft_key_makes_one_case(cast, category):
    key = uuid.uuid4()
    first = report(cast, category, idempotency_key=key)
    again = report(cast, category, idempotency_key=str(key), title="retry")
    assert again.pk == first.pk and again.replayed and again.title == first.title
    assert Case.objects.count() == 1 and CaseEvent.objects.filter(transition="report").count() == 1
    with pytest.raises(ValidationError) as exc:  # someone else's key is refused, not revealed
        services.case_report(
            reporter=cast.community, category=category, title="x", region=cast.city.g1111, idempotency_key=key
        )
    assert "idempotency_key" in exc.value.message_dict
    with pytest.raises(ValidationError):
        report(cast, category, idempotency_key="not-a-uuid")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sends_at_once_make_one_case(request):
    cast = request.getfixturevalue("cast")
    category = request.getfixturevalue("category")
    key = uuid.uuid4()
    results = run_in_threads(6, lambda i: report(cast, category, idempotency_key=key, title=f"send {i}").number)
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1 and Case.objects.filter(idempotency_key=key).count() == 1


def test_outbox_send_answers_json(cast, category, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = client_for(cast.worker)
    key = str(uuid.uuid4())
    g = cast.city.g1111
    data = {
        "category": category.pk,
        "title": "井盖缺失",
        "source": "patrol",
        "lat": g.centre_lat,
        "lng": g.centre_lng,
        "idempotency_key": key,
    }
    url = reverse("case_report")
    first = client.post(url, {**data, "files": [png()]}, headers={"accept": "application/json"})
    assert first.status_code == 201, first.content
    case = Case.objects.get(idempotency_key=key)
    assert first.json() == {"number": case.number, "url": case.url, "replayed": False}
    assert case.attachments.count() == 1
    second = client.post(url, data, headers={"accept": "application/json"})
    assert second.status_code == 200 and second.json()["number"] == case.number and second.json()["replayed"]
    refused = client.post(
        url,
        {**data, "category": "999999", "idempotency_key": str(uuid.uuid4())},
        headers={"accept": "application/json"},
    )
    assert refused.status_code == 400 and "category" in refused.json()["errors"]
    untitled = client.post(
        url, {**data, "title": "", "idempotency_key": str(uuid.uuid4())}, headers={"accept": "application/json"}
    )
    assert untitled.status_code == 201  # a phone report needs no typing: the title is the category's name
    assert Case.objects.get(number=untitled.json()["number"]).title == category.name
    outside = {**data, "lat": 1.0, "lng": 1.0, "idempotency_key": str(uuid.uuid4())}
    assert client.post(url, outside, headers={"accept": "application/json"}).status_code == 400
    assert Case.objects.count() == 2
    # the plain form with the same key goes to the first case instead of making another
    again = client.post(url, {**data, "confirm_nearby": "1"})
    assert again.status_code == 302 and again["Location"] == case.url and Case.objects.count() == 2


def test_token_endpoint_and_csrf(cast, category):
    url = reverse("case_report_token")
    assert Client().get(url).status_code == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(cast.worker)
    token = strict.get(url).json()["csrf"]
    data = {"category": category.pk, "title": "x", "source": "patrol", "region": cast.city.g1111.pk}
    json_accept = {"accept": "application/json"}
    assert strict.post(reverse("case_report"), data, headers=json_accept).status_code == 403  # no token
    sent = strict.post(reverse("case_report"), data, headers={**json_accept, "X-CSRFToken": token})
    assert sent.status_code == 201
