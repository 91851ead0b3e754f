import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cases.models import Case, Category
from tests.factories import UserFactory


class Receiver:
    """A local webhook receiver (a WeCom/DingTalk robot stand-in): records what it gets, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.answer = {"errcode": 0, "errmsg": "ok"}
        self.delay = 0.0  # seconds to wait after recording a request, before answering
        self.received = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=test-key"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(body),
                    }
                )
                receiver.received.set()
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = json.dumps(receiver.answer).encode()
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender went away (a killed worker)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/send"


@pytest.fixture(autouse=True)
def _notify_settings(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.NOTIFY_WEBHOOK_URL = ""
    settings.NOTIFY_DEFAULT_CHANNELS = ["email", "webhook"]
    settings.NOTIFY_QUEUE = ""
    settings.NOTIFY_SITE_URL = "https://govgrid.test"


@pytest.fixture(autouse=True)
def _broker_up(monkeypatch):
    from notifications import services

    monkeypatch.setattr(services, "_broker_down_until", 0.0)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Ids handed to the broker, recorded instead of published: unit tests never reach a real broker."""
    calls: list[int] = []

    def apply_async(args, **options):
        calls.append(args[0])

    monkeypatch.setattr("notifications.tasks.deliver.apply_async", apply_async)
    return calls


@pytest.fixture
def webhook(settings):
    receiver = Receiver().start()
    settings.NOTIFY_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.stop()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="alice@example.org", display_name="Alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", email="bob@example.org", display_name="Bob")


@pytest.fixture
def no_mail_user(db):
    return UserFactory(username="carol", email="", display_name="Carol")


@pytest.fixture
def case(city):
    return Case.objects.create(
        number="JJ-20261121-0042",
        title="Fire lane blocked",
        category=Category.objects.get(code="csgl-zdjy"),
        region=city.g1111,
    )


@pytest.fixture
def client():
    """The pages in English, as the assertions read them (the product defaults to zh-hans)."""
    from django.test import Client

    return Client(headers={"accept-language": "en"})
