"""The deadline sweep through a real Celery worker on the real Redis (no eager mode): a step that falls due gets
its reminder, 催办 and 督办 by e-mail and webhook, each exactly once however often the sweep runs. And a broker the
app cannot reach: the transition or the sweep still commits, its deliveries wait in the database, and the periodic
retry delivers them once the broker is back.

Each notice goes to a unit (the street's dispatchers, the district's supervisors); the worker makes its deliveries
for the unit's members. Time passes by moving a step's stored deadlines (or a notice's time) into the past;
nothing in our code is mocked. The worker, its queue
and the webhook receiver are those of test_worker.py (one worker per module, in its own queue).
"""

import ast
import os
import re
import socket
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django.utils import timezone

from cases import services as case_services
from cases.models import Case, CaseEvent, Category, StepDeadline
from cases.tasks import sweep_deadlines
from cases.workflow import State
from govgrid.celery import app as celery_app
from notifications import services as notify_services
from notifications.models import Delivery, DeliveryState, Notification
from notifications.tasks import retry_due_deliveries
from tests.factories import UserFactory, grant_role

from . import test_worker as real

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("GOVGRID_TEST_REDIS"), reason="needs the real Redis (tests/services.py)"),
]

# test_worker.py's real worker and local webhook receiver, and its autouse fixtures: deliveries go through the
# broker (no recorder) to this module's worker queue and receiver.
receiver = real.receiver
worker = real.worker
enqueued = real.enqueued
_through_the_worker = real._through_the_worker

TIMEOUT = 30
NOTHING_DONE = {"reminded": 0, "urged": 0, "supervised": 0, "escalated": 0}


def did(result: dict) -> dict:
    """The sweep's counts of actions (it may report more, e.g. how many notices it wrote)."""
    return {key: result[key] for key in NOTHING_DONE}


@pytest.fixture(autouse=True)
def _empty_mailbox(worker):
    for mail in worker.mail_dir.iterdir():
        mail.unlink()


@pytest.fixture
def people(city):
    """Around street 11 of the test city, each with an e-mail address and both channels chosen."""

    def person(username: str, role: str, where):
        user = UserFactory(username=username, email=f"{username}@example.org", display_name=username.title())
        grant_role(user, role, where, actor=city.actor)
        notify_services.set_channels(user=user, channels=["email", "webhook"])
        return user

    return SimpleNamespace(
        city=city,
        worker=person("gridworker", "grid_worker", city.g1111),
        community=person("community", "community_staff", city.c111),
        dispatcher=person("dispatcher", "street_dispatcher", city.s11),
        supervisor=person("supervisor", "supervisor", city.d1),
        city_supervisor=person("city-supervisor", "supervisor", city.city),
    )


def called_to_the_street(people) -> Case:
    """A case reported in grid 1111 and called to street 11: its `accept` clock runs, held by the dispatcher."""
    case = case_services.case_report(
        reporter=people.worker,
        category=Category.objects.get(code="csgl-zdjy"),
        title="占道经营 blocking the pavement",
        region=people.city.g1111,
        urgency="urgent",
    )
    return case_services.case_transition(case=case, action="call_street", actor=people.community, comment="请街道协调")


def time_passes(deadline: StepDeadline, *, overdue: bool) -> None:
    """Move the step's clock: past its yellow time, and past its due time when ``overdue``; never past the grace
    (these tests are not about escalation)."""
    now = timezone.now()
    StepDeadline.objects.filter(pk=deadline.pk).update(
        yellow_at=now - timedelta(hours=2),
        due_at=now - timedelta(hours=1) if overdue else now + timedelta(hours=1),
        escalate_at=now + timedelta(days=1),
    )


def through_the_worker(worker, task, what: str):
    """Publish ``task`` to the worker's queue on the real broker, wait until the worker has run it, and return
    its result as the worker logged it (the tasks keep no results)."""
    result = task.apply_async(queue=worker.queue)
    done = re.compile(rf"\[{result.id}\] (?:succeeded in [\d.]+s: (?P<value>.*)|(?P<error>raised .*|retry.*))")
    match = real._wait_for(lambda: done.search(worker.output()), timeout=TIMEOUT, what=what, worker=worker)
    assert not match["error"], f"{what}: {match['error']}\n{worker.output()[-4000:]}"
    return ast.literal_eval(match["value"])


def all_sent(worker, deliveries: list[Delivery]) -> None:
    pks = [d.pk for d in deliveries]
    states = lambda: set(Delivery.objects.filter(pk__in=pks).values_list("state", flat=True))  # noqa: E731
    real._wait_for(lambda: states() == {DeliveryState.SENT}, timeout=TIMEOUT, what=f"{pks} sent", worker=worker)


def deliveries_of(*notifications: Notification) -> list[Delivery]:
    return list(Delivery.objects.filter(notification__in=notifications).order_by("pk"))


def made(worker, notice: Notification, count: int) -> list[Delivery]:
    """The deliveries of a unit notice, once the worker's fan-out task has made them for the unit's members."""
    real._wait_for(
        lambda: len(deliveries_of(notice)) >= count, timeout=TIMEOUT, what=f"deliveries of {notice.pk}", worker=worker
    )
    return deliveries_of(notice)


def dispatchers_of(region) -> str:
    return f"r:{region.pk}:dispatch_case"


def mails(worker) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(worker.mail_dir.iterdir()))


def assert_arrived_once(worker, receiver, deliveries: list[Delivery]) -> None:
    """Every webhook delivery reached the receiver exactly once, every e-mail delivery was written exactly once,
    and nothing else arrived."""
    hooks = sorted(d.pk for d in deliveries if d.channel == "webhook")
    emails = sorted(d.pk for d in deliveries if d.channel == "email")
    assert sorted(int(r["headers"]["x-govgrid-delivery"]) for r in receiver.requests) == hooks
    sent_mail = Counter(int(pk) for pk in re.findall(r"^X-GovGrid-Delivery: (\d+)\r?$", mails(worker), re.M))
    assert sorted(sent_mail) == emails and set(sent_mail.values()) <= {1}, sent_mail
    for d in deliveries:
        assert d.attempts == 1, (d.pk, d.channel, d.state, d.last_error)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _use_broker(url: str) -> None:
    # The app keeps its broker connection pool (and the producer pool on it) once made: drop both, so that the
    # next publish connects to ``url``. Celery's own after-fork reset does the same.
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_unreachable():
    """The app's broker is a closed port (this process lost Redis); the worker keeps its own connection."""
    up = celery_app.conf.broker_url
    down = f"redis://127.0.0.1:{closed_port()}/0"
    with override_settings(CELERY_BROKER_URL=down):
        _use_broker(down)
        try:
            yield
        finally:
            _use_broker(up)


def broker_back(deliveries: list[Delivery], notices: tuple[Notification, ...] = ()) -> None:
    """The broker answers again and the deliveries' retry time has come, and that of the unit notices whose
    deliveries are still to be made (time passes)."""
    notify_services._broker_down_until = 0.0  # the failed publish's back-off is over
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    Notification.objects.filter(pk__in=[n.pk for n in notices]).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )


def snapshot(worker, receiver) -> tuple[int, int, int, str]:
    """Notices and deliveries written, webhook calls received, mail written."""
    return Notification.objects.count(), Delivery.objects.count(), len(receiver.requests), mails(worker)


def assert_nothing_more(worker, receiver, before: tuple[int, int, int, str]) -> None:
    time.sleep(1)  # time for anything wrongly enqueued to reach the receiver
    assert snapshot(worker, receiver) == before


# --- the sweep on the worker ------------------------------------------------------------------------------------


def test_the_sweep_on_the_worker_reminds_urges_and_supervises_once_by_email_and_webhook(people, worker, receiver):
    case = called_to_the_street(people)
    accept = StepDeadline.objects.get(case=case, step="accept", closed_at__isnull=True)

    time_passes(accept, overdue=False)
    assert did(through_the_worker(worker, sweep_deadlines, "the sweep at yellow")) == {**NOTHING_DONE, "reminded": 1}
    reminder = Notification.objects.get(kind="reminder")  # one notice to the street's dispatchers
    assert (reminder.unit, reminder.link) == (dispatchers_of(people.city.s11), case.url)
    all_sent(worker, made(worker, reminder, 2))
    assert {d.recipient for d in deliveries_of(reminder)} == {people.dispatcher}  # each member, each channel

    time_passes(accept, overdue=True)
    assert did(through_the_worker(worker, sweep_deadlines, "the sweep when overdue")) == {
        **NOTHING_DONE,
        "urged": 1,
        "supervised": 1,
    }
    urge = Notification.objects.get(kind="urge")
    supervision = Notification.objects.get(kind="supervision")
    assert (urge.unit, urge.link) == (dispatchers_of(people.city.s11), case.url)
    # the district above the street
    assert (supervision.unit, supervision.link) == (f"r:{people.city.d1.pk}:supervise_case", case.url)
    made(worker, urge, 2), made(worker, supervision, 2)
    assert set(Delivery.objects.values_list("recipient__username", flat=True)) == {"dispatcher", "supervisor"}

    deliveries = deliveries_of(reminder, urge, supervision)
    assert Counter(d.channel for d in deliveries) == {"email": 3, "webhook": 3}
    all_sent(worker, deliveries)
    deliveries = deliveries_of(reminder, urge, supervision)
    assert_arrived_once(worker, receiver, deliveries)
    texts = {int(r["headers"]["x-govgrid-delivery"]): r["json"]["text"]["content"] for r in receiver.requests}
    for d in deliveries:
        if d.channel == "webhook":
            assert case.number in texts[d.pk] and d.notification.title in texts[d.pk]
    text = mails(worker)
    assert text.count("To: dispatcher@example.org") == 2 and text.count("To: supervisor@example.org") == 1

    accept.refresh_from_db()
    assert accept.reminded_at and accept.urged_at and accept.supervised_at and accept.escalated_at is None
    case.refresh_from_db()
    assert case.state == State.CALLED

    # Beat fires again (and again): nothing is sent twice.
    before = snapshot(worker, receiver)
    assert did(through_the_worker(worker, sweep_deadlines, "the sweep again")) == NOTHING_DONE
    assert did(through_the_worker(worker, sweep_deadlines, "the sweep once more")) == NOTHING_DONE
    assert_nothing_more(worker, receiver, before)


# --- the broker down while the city works -----------------------------------------------------------------------


def test_a_transition_while_the_broker_is_down_commits_and_is_delivered_once_when_it_is_back(people, worker, receiver):
    case = called_to_the_street(people)
    version = Case.objects.get(pk=case.pk).version

    with broker_unreachable():
        case = case_services.case_transition(
            case=case, action="supervise", actor=people.supervisor, comment="请今天之内处理"
        )
        assert notify_services._broker_down_until > time.monotonic()  # the publish was tried, and failed
        # a dead broker does not hold up the requests after it: while it is known down, nothing is tried
        assert notify_services.enqueue_delivery(0) is False

    case = Case.objects.get(pk=case.pk)
    assert case.version == version + 1 and case.state == State.CALLED
    event = CaseEvent.objects.get(case=case, transition="supervise")
    assert (event.actor, event.comment, event.data["notified"]) == (people.supervisor, "请今天之内处理", 1)
    notice = Notification.objects.get(kind="supervision")
    assert (notice.unit, notice.link) == (dispatchers_of(people.city.s11), case.url)  # whoever holds the case
    assert notice.fanned_out_at is None and deliveries_of(notice) == []  # its deliveries wait for a worker
    time.sleep(1)
    assert receiver.requests == [] and mails(worker) == ""  # nothing reached the worker

    broker_back([], (notice,))
    assert through_the_worker(worker, retry_due_deliveries, "the periodic retry") == 1
    deliveries = made(worker, notice, 2)
    assert [(d.recipient, d.channel) for d in deliveries] == [
        (people.dispatcher, "email"),
        (people.dispatcher, "webhook"),
    ]
    all_sent(worker, deliveries)
    assert_arrived_once(worker, receiver, deliveries_of(notice))
    assert "To: dispatcher@example.org" in mails(worker)

    before = snapshot(worker, receiver)
    assert through_the_worker(worker, retry_due_deliveries, "the retry again") == 0
    assert_nothing_more(worker, receiver, before)


def test_a_sweep_while_the_broker_is_down_commits_its_notices_and_the_retry_catches_up(people, worker, receiver):
    case = called_to_the_street(people)
    accept = StepDeadline.objects.get(case=case, step="accept", closed_at__isnull=True)
    time_passes(accept, overdue=True)

    with broker_unreachable():
        # Beat's task, run where the broker cannot be reached: its notices must not wait for it.
        assert did(sweep_deadlines()) == {**NOTHING_DONE, "urged": 1, "supervised": 1}
        assert notify_services._broker_down_until > time.monotonic()

    accept.refresh_from_db()
    assert accept.urged_at and accept.supervised_at
    urge = Notification.objects.get(kind="urge", unit=dispatchers_of(people.city.s11), link=case.url)
    supervision = Notification.objects.get(kind="supervision", unit=f"r:{people.city.d1.pk}:supervise_case")
    assert deliveries_of(urge, supervision) == []  # made by a worker, for the members of the moment
    time.sleep(1)
    assert receiver.requests == [] and mails(worker) == ""

    broker_back([], (urge, supervision))
    assert through_the_worker(worker, retry_due_deliveries, "the periodic retry") == 2
    made(worker, urge, 2), made(worker, supervision, 2)
    deliveries = deliveries_of(urge, supervision)
    assert len(deliveries) == 4
    all_sent(worker, deliveries)
    assert_arrived_once(worker, receiver, deliveries_of(urge, supervision))

    # The next sweep and retry, now through the broker, add nothing.
    before = snapshot(worker, receiver)
    assert did(through_the_worker(worker, sweep_deadlines, "the next sweep")) == NOTHING_DONE
    assert through_the_worker(worker, retry_due_deliveries, "the next retry") == 0
    assert_nothing_more(worker, receiver, before)
