"""The import through a real Celery worker on the real Redis (no eager mode): previewed on the page, confirmed,
written by the worker in one transaction while the page's progress endpoint answers.

The worker listens on a queue of its own, so other test runs sharing the Redis database cannot take its messages.
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
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from parties.models import Household, ImportJob, Resident

from . import conftest as parties_conftest
from .conftest import make_id
from .test_import import HEADER

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("GOVGRID_TEST_REDIS"), reason="needs the real Redis (tests/services.py)"),
]
world = parties_conftest.world


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    queue = f"parties-import-test-{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "govgrid.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "GOVGRID_IMPORT_QUEUE": queue,
        "DEBUG": "1",
    }
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    args = f"-m celery -A govgrid worker -Q {queue} -n {queue}@%h -P solo --without-gossip --without-mingle --without-heartbeat -l info"
    process = subprocess.Popen(
        [sys.executable, *args.split()],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.queue, process.log = queue, log
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    import redis

    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    leftovers = list(client.scan_iter(match=f"*{queue}*"))
    if leftovers:
        client.delete(*leftovers)


def test_a_previewed_file_is_written_by_the_worker_with_progress(world, worker, client, settings):
    settings.GOVGRID_IMPORT_QUEUE = worker.queue
    grid = world.city.g1111.code
    rows = [
        f"{grid},1栋,{i // 100 + 1},,{i % 100 + 1:03d},,自住,,居民{i},,,{make_id('19800101', f'{i % 1000:03d}', '110105' if i < 1000 else '440305')},138{i:08d},户主,,"
        for i in range(1200)
    ]
    data = ("\n".join([HEADER, *rows]) + "\n").encode()
    client.force_login(world.worker)
    response = client.post(reverse("parties:import"), {"kind": "households", "file": SimpleUploadedFile("a.csv", data)})
    assert 'data-testid="import-preview"' in response.content.decode()
    response = client.post(reverse("parties:import"), {"confirm": "1"})
    job = ImportJob.objects.exclude(state="preview").get()
    url = reverse("parties:import_job", args=[job.pk])
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = client.get(url, {"format": "json"}).json()
        seen.add(info["state"])
        if info["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the worker did not finish\n{worker.log.read_text()[-4000:]}")
    assert info["state"] == "done", (info, worker.log.read_text()[-4000:])
    assert info["percent"] == 100 and info["result"] == {"households": 1200, "residents": 1200}
    assert Resident.objects.filter(name__startswith="居民").count() == 1200
    assert Household.objects.filter(region=world.city.g1111).count() == 1201
    page = client.get(url).content.decode()
    assert 'data-testid="import-done"' in page
