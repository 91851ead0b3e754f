"""Signed event subscriptions through a real Celery worker on the real Redis: a local receiver checks each
signature and sees each event once, even when it fails the first attempt."""

import json
import time

import pytest
from django.db import transaction

from cases import services as case_services
from cases.models import Category
from notifications import subscriptions
from notifications.models import EventDelivery
from tests.cases import conftest as case_fixtures

from .test_worker import Worker, _database_url, pytestmark, receiver, worker  # noqa: F401  (the same worker)

cast = case_fixtures.cast


@pytest.fixture(autouse=True)
def _through_the_worker(settings, worker, receiver):  # noqa: F811
    settings.NOTIFY_QUEUE = worker.queue
    receiver.requests.clear()
    receiver.received.clear()
    receiver.status, receiver.delay = 200, 0.0


def _wait_for(predicate, what: str, worker, timeout: float = 60):  # noqa: F811
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{worker.output()[-4000:]}")


def test_each_event_arrives_once_signed(worker, receiver, cast):  # noqa: F811
    sub = subscriptions.subscription_save(
        actor=cast.city.actor,
        name="12345",
        url=receiver.url,
        events=["case.reported", "case.state_changed", "case.closed"],
    )
    category = Category.objects.get(code="csgl-zdjy")
    with transaction.atomic():
        case = case_services.case_report(reporter=cast.worker, category=category, title="占道", region=cast.city.g1111)
    case = case_services.case_transition(case=case, action="settle", actor=cast.community, comment="已处理")
    case = case_services.case_transition(case=case, action="verify_ok", actor=cast.worker)
    case_services.case_transition(case=case, action="close", actor=cast.dispatcher)
    expected = 5  # reported, settled, verified, closed (state changed) + closed
    _wait_for(lambda: EventDelivery.objects.filter(state="sent").count() == expected, "every delivery sent", worker)
    time.sleep(1)
    assert len(receiver.requests) == expected
    seen = []
    for request in receiver.requests:
        body = json.dumps(request["json"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        headers = request["headers"]
        assert subscriptions.verify(sub.secret, headers["x-govgrid-timestamp"], body, headers["x-govgrid-signature"])
        seen.append(request["json"]["id"])
    assert len(seen) == len(set(seen))  # once each
    assert sorted(r["json"]["event"] for r in receiver.requests) == sorted(
        ["case.reported", "case.state_changed", "case.state_changed", "case.state_changed", "case.closed"]
    )


def test_a_failing_receiver_gets_it_again_later_once(worker, receiver, cast):  # noqa: F811
    subscriptions.subscription_save(actor=cast.city.actor, name="app", url=receiver.url, events=["case.reported"])
    receiver.status = 503
    category = Category.objects.get(code="csgl-zdjy")
    case_services.case_report(reporter=cast.worker, category=category, title="占道", region=cast.city.g1111)
    _wait_for(lambda: len(receiver.requests) >= 1, "the first attempt", worker)
    receiver.status = 200
    _wait_for(lambda: EventDelivery.objects.filter(state="sent").exists(), "the retry (Celery backoff)", worker)
    delivery = EventDelivery.objects.get()
    time.sleep(2)  # nothing more comes once it is taken
    assert delivery.attempts >= 2 and len(receiver.requests) == delivery.attempts
    assert len({r["json"]["id"] for r in receiver.requests}) == 1  # the same event each time
