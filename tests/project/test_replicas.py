"""Reads from a replica: a second PostgreSQL database on the same server stands in for a streaming replica.

The two databases start as copies; then the "replica" is made to differ (a region renamed there only), so every
answer tells which database it was read from.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection, connections

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("GOVGRID_TEST_POSTGRES"), reason="needs the real PostgreSQL"),
]

SETUP = """
from tests.factories import build_city, grant_role, superuser, UserFactory
city = build_city(superuser())
admin = UserFactory(username="admin", region=city.city)
grant_role(admin, "region_admin", city.city, actor=city.actor)
print(city.g1111.pk)
"""

CHECK = """
import json
from django.db import transaction
from django.test import Client
from django.urls import reverse
from govgrid.db_router import PIN_COOKIE, reads_from
from grids.models import Region, User

pk = int(sys.argv[1])
found = {}
client = Client(headers={"accept-language": "en"})
client.force_login(User.objects.get(username="admin"))  # a write (the session): pins this client
client.cookies.pop(PIN_COOKIE, None)  # as if the pin had run out
found["page_get"] = "副本网格" in client.get(reverse("region_detail", args=[pk])).text
# a write: the next reads of this person come from the primary, with the new name
response = client.post(reverse("region_edit", args=[pk]), {"name": "改过的网格"})
found["post_status"] = response.status_code
found["pinned"] = PIN_COOKIE in response.cookies
found["after_write"] = "改过的网格" in client.get(reverse("region_detail", args=[pk])).text
# outside a request (Celery, commands): the primary
found["outside"] = Region.objects.get(pk=pk).name
with reads_from("replica1"):
    found["replica_read"] = Region.objects.get(pk=pk).name
    with transaction.atomic():
        found["in_transaction"] = Region.objects.get(pk=pk).name
print(json.dumps(found, ensure_ascii=False))
"""


def _admin_url() -> str:
    return os.environ.get("TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/govgrid").rsplit("/", 1)[0] + "/postgres"


def _sql(sql: str, url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(url or _admin_url(), autocommit=True) as conn:
        conn.execute(sql)


def _run(code: str, env: dict, *args: str) -> str:
    script = "import sys, django; django.setup()\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.django_db
def test_gets_read_the_replica_and_writes_pin_the_writer_to_the_primary(tmp_path):
    import json

    template = connection.settings_dict["NAME"]
    primary, replica = (f"govgrid_{kind}_{secrets.token_hex(3)}" for kind in ("primary", "replica"))
    server = _admin_url().rsplit("/", 1)[0]
    connections.close_all()  # the test database is the template: nobody may be connected to it
    _sql(f'CREATE DATABASE "{primary}" TEMPLATE "{template}"')
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DATABASE"))},
            "DJANGO_SETTINGS_MODULE": "govgrid.settings",
            "DEBUG": "1",
            "GOVGRID_VAR_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": f"{server}/{primary}",
            "PYTHONPATH": str(ROOT),
        }
        pk = int(_run(SETUP, env))
        _sql(f'CREATE DATABASE "{replica}" TEMPLATE "{primary}"')
        _sql(f"UPDATE grids_region SET name = '副本网格' WHERE id = {pk}", f"{server}/{replica}")
        found = json.loads(_run(CHECK, {**env, "DATABASE_REPLICA_URLS": f"{server}/{replica}"}, str(pk)))
    finally:
        for name in (replica, primary):
            _sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert found["page_get"] is True  # a GET of someone who has not written lately: the replica
    assert found["post_status"] == 302 and found["pinned"] is True
    assert found["after_write"] is True  # the writer reads the primary right after
    assert found["outside"] == "改过的网格"
    assert found["replica_read"] == "副本网格"
    assert found["in_transaction"] == "改过的网格"  # inside a transaction: always the primary
