"""Delivery through a real Celery worker on the real Redis (no eager mode): a committed notice arrives by e-mail
and webhook; a worker process killed with SIGKILL in the middle of a webhook call leaves it delivered once.

The worker runs in its own queue, so other test runs sharing the Redis database cannot take its messages.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from notifications import services
from notifications.models import Delivery, DeliveryState
from notifications.tasks import retry_due_deliveries
from tests.factories import UserFactory

from .conftest import Receiver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("GOVGRID_TEST_REDIS"), reason="needs the real Redis (tests/services.py)"),
]


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, queue: str, env: dict[str, str], log: Path) -> None:
        self.queue, self.env, self.log = queue, env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = (
            f"-m celery -A govgrid worker -Q {self.queue} -n {self.queue}@%h -P prefork -c 1"
            " --without-gossip --without-mingle --without-heartbeat -l info"
        )
        self.process = subprocess.Popen(
            [sys.executable, *args.split()],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole at the end
        )

    def children(self) -> list[int]:
        """Pids of the pool processes (the ones that run tasks)."""
        pid = self.process.pid
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, receiver, tmp_path_factory):
    if not Path("/proc/self/task").exists():
        pytest.skip("needs /proc to find the worker's pool process")
    queue = f"notify-test-{uuid.uuid4().hex[:10]}"
    mail_dir = tmp_path_factory.mktemp("mail")
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.notifications.worker_settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "NOTIFY_WEBHOOK_URL": receiver.url,
        "NOTIFY_QUEUE": queue,
        "NOTIFY_TEST_MAIL_DIR": str(mail_dir),
        "NOTIFY_SITE_URL": "https://govgrid.test",
        "DEBUG": "1",
    }
    w = Worker(queue, env, tmp_path_factory.mktemp("worker") / "worker.log")
    w.mail_dir = mail_dir
    w.start()
    yield w
    w.stop()
    import redis

    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    leftovers = list(client.scan_iter(match=f"*{queue}*"))  # the queue and kombu's binding keys for it
    if leftovers:
        client.delete(*leftovers)


@pytest.fixture(autouse=True)
def enqueued():
    """Overrides the conftest's recorder: here deliveries really go through the broker."""
    return None


@pytest.fixture(autouse=True)
def _through_the_worker(settings, worker, receiver):
    settings.NOTIFY_QUEUE = worker.queue
    settings.NOTIFY_WEBHOOK_URL = receiver.url
    receiver.requests.clear()
    receiver.received.clear()
    receiver.status, receiver.delay = 200, 0.0


def _wait_for(predicate, timeout: float = 60, what: str = "", worker: Worker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    log = worker.output()[-4000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def test_a_committed_notice_arrives_by_email_and_webhook(worker, receiver):
    user = UserFactory(username="erin", email="erin@example.org", display_name="Erin")
    with transaction.atomic():
        n = services.notify(recipient=user, kind="urge", title="Overdue: blocked fire lane", body="2 hours late")
    states = lambda: dict(Delivery.objects.filter(notification=n).values_list("channel", "state"))  # noqa: E731
    _wait_for(lambda: states() == {"email": "sent", "webhook": "sent"}, what="both deliveries sent", worker=worker)

    assert len(receiver.requests) == 1
    assert "Overdue: blocked fire lane" in receiver.requests[0]["json"]["text"]["content"]
    mails = list(worker.mail_dir.iterdir())
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "erin@example.org" in text and "Overdue: blocked fire lane" in text


def test_a_rolled_back_notice_never_reaches_the_worker(worker, receiver):
    user = UserFactory(username="finn", email="", display_name="Finn")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.notify(recipient=user, kind="urge", title="never")
        raise RuntimeError
    witness = services.notify(recipient=user, kind="urge", title="after the rollback")  # a later one arrives
    _wait_for(lambda: receiver.requests, what="the later notice", worker=worker)
    time.sleep(1)
    assert [r["json"]["text"]["content"].count("never") for r in receiver.requests] == [0]
    assert witness.deliveries.get().state == DeliveryState.SENT


def test_a_worker_killed_mid_delivery_delivers_exactly_once(worker, receiver, settings):
    user = UserFactory(username="gail", email="", display_name="Gail")
    receiver.delay = 30  # the receiver holds the call open: the worker is inside it when killed
    with transaction.atomic():
        n = services.notify(recipient=user, kind="supervision", title="Supervision notice")
    delivery = n.deliveries.get()
    assert receiver.received.wait(60), worker.output()[-4000:]
    pool = worker.children()
    assert pool, "no pool process"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the message comes back to a fresh pool process, which finds the
    # attempt on record ("sending") and does not call the receiver again.
    _wait_for(lambda: "'busy'" in worker.output(), what="the redelivered task", worker=worker)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENDING and delivery.attempts == 1

    # Past the lease the periodic retry settles it without repeating the call.
    settings.NOTIFY_SENDING_LEASE = 1
    time.sleep(1.5)
    receiver.delay = 0
    assert retry_due_deliveries() == 0
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.UNCONFIRMED and delivery.attempts == 1
    time.sleep(1)
    assert len(receiver.requests) == 1
