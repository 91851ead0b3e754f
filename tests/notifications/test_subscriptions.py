"""Signed event subscriptions: what is queued for which subscription, once; the signature; retries; the admin
pages; the log and replay."""

import json

import pytest
from django.db import transaction

from cases import services as case_services
from notifications import subscriptions
from notifications.models import EventDelivery
from tests.cases import conftest as case_fixtures

from .conftest import Receiver

# The same people and categories as the pages' tests.
cast, category = case_fixtures.cast, case_fixtures.category


@pytest.fixture
def recorded(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(subscriptions, "enqueue", lambda pks: ids.extend(pks) or len(pks))
    return ids


def subscribe(cast, url="http://127.0.0.1:9/hook", events=("case.reported", "case.closed"), region=None):
    return subscriptions.subscription_save(
        actor=cast.city.actor,
        name="12345",
        url=url,
        events=list(events),
        region_path=region.path if region else "",
    )


def test_events_are_queued_once_per_subscription_in_scope(cast, category, recorded, django_capture_on_commit_callbacks):
    everywhere = subscribe(cast)
    district2 = subscribe(cast, events=["case.reported"], region=cast.city.d2)
    with django_capture_on_commit_callbacks(execute=True):
        case = case_services.case_report(reporter=cast.worker, category=category, title="占道", region=cast.city.g1111)
    rows = EventDelivery.objects.filter(event="case.reported")
    assert [r.subscription_id for r in rows] == [everywhere.pk]  # district 2 is out of scope
    assert rows.get().payload["case"]["number"] == case.number and recorded == [rows.get().pk]
    assert "reporter_contact" not in json.dumps(rows.get().payload)
    # The same event again (a repeat of the key) writes nothing.
    event = case.events.get(transition="report")
    from cases.events import publish_case_events

    publish_case_events(case, event, "")
    assert EventDelivery.objects.filter(event="case.reported").count() == 1
    assert district2.deliveries.count() == 0


def test_state_changes_and_closing(cast, category, recorded):
    subscribe(cast, events=["case.state_changed", "case.closed", "case.evaluated"])
    case = case_services.case_report(reporter=cast.worker, category=category, title="占道", region=cast.city.g1111)
    case = case_services.case_transition(case=case, action="settle", actor=cast.community, comment="已处理")
    case = case_services.case_transition(case=case, action="verify_ok", actor=cast.worker)
    case = case_services.case_transition(case=case, action="close", actor=cast.dispatcher)
    case = case_services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="satisfied")
    events = list(EventDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == [
        "case.state_changed",
        "case.state_changed",
        "case.state_changed",
        "case.closed",
        "case.evaluated",
    ]


def test_a_rolled_back_change_queues_nothing(cast, category, recorded):
    subscribe(cast)
    with pytest.raises(RuntimeError), transaction.atomic():
        case_services.case_report(reporter=cast.worker, category=category, title="x", region=cast.city.g1111)
        raise RuntimeError
    assert not EventDelivery.objects.exists()


def test_signature_verifies_and_a_receiver_failure_is_retried(cast, category, recorded):
    receiver = Receiver().start()
    try:
        sub = subscribe(cast, url=receiver.url)
        case_services.case_report(reporter=cast.worker, category=category, title="占道", region=cast.city.g1111)
        delivery = EventDelivery.objects.get()
        receiver.status = 503
        assert subscriptions.delivery_send(delivery_id=delivery.pk) == "failed"
        delivery.refresh_from_db()
        assert delivery.state == "failed" and delivery.next_attempt_at is not None and delivery.response_status == 503
        receiver.status = 200
        assert subscriptions.delivery_send(delivery_id=delivery.pk) == "sent"
        assert subscriptions.delivery_send(delivery_id=delivery.pk) == "skipped"  # once
        last = receiver.requests[-1]
        headers = last["headers"]
        body = json.dumps(last["json"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        assert subscriptions.verify(sub.secret, headers["x-govgrid-timestamp"], body, headers["x-govgrid-signature"])
        assert not subscriptions.verify("wrong", headers["x-govgrid-timestamp"], body, headers["x-govgrid-signature"])
        assert not subscriptions.verify(sub.secret, "1000", body, headers["x-govgrid-signature"])  # replayed later
        assert last["json"]["event"] == "case.reported" and headers["x-govgrid-event"] == "case.reported"
        receiver.status = 410  # gone: a permanent failure, not retried
        subscriptions.delivery_replay(actor=cast.city.actor, delivery=delivery)
        assert subscriptions.delivery_send(delivery_id=delivery.pk) == "gave_up"
    finally:
        receiver.stop()


def test_pages_for_admins_only(client, cast, category, recorded):
    client.force_login(cast.city.actor)
    r = client.post(
        "/notifications/subscriptions/",
        {"name": "热线", "url": "https://hotline.example/hook", "events": ["case.closed"], "region": cast.city.d1.code},
    )
    assert r.status_code == 302
    sub = subscriptions.Subscription.objects.get(name="热线")
    assert sub.region_path == cast.city.d1.path
    page = client.get(f"/notifications/subscriptions/{sub.pk}/")
    assert page.status_code == 200 and sub.secret in page.content.decode()
    client.force_login(cast.dispatcher)
    assert client.get("/notifications/subscriptions/").status_code == 403
    assert client.get(f"/notifications/subscriptions/{sub.pk}/").status_code == 403


def test_bad_subscription_input(cast):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        subscriptions.subscription_save(actor=cast.city.actor, name="", url="ftp://x", events=["nope"])
    assert set(exc.value.message_dict) == {"name", "url", "events"}
