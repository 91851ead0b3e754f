"""Every form and every query-string filter of the app, fed garbage by hypothesis, as two roles.

The test signs in as a city admin and as a grid worker of the demo city, walks the pages each of them can reach by
following links (so a new page or form is covered without editing this file), and collects every form on them.
Then, for a bounded number of examples per form, it sends random unicode, NUL characters, very long strings, huge
and negative numbers, ids that do not exist and values of the wrong type (mixed with the form's own values, so
validation is passed at some fields and the next one is reached), and checks that:

- no response is a 5xx;
- a request that was not accepted (anything but a redirect after success) wrote nothing: the audit trail, where
  every change leaves a row, and the main tables have the same number of rows as before.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govgrid.management.commands.seed_demo import Command as SeedDemo
from grids.models import User

pytestmark = pytest.mark.django_db(transaction=False)

MAX_PAGES = 150  # per role
PER_SHAPE = 8  # pages of one kind (e.g. case pages, whose actions differ by the case's state)
EXAMPLES = 4  # per form and role
# Pages that end the session or change who is signed in, and downloads with nothing to fill in.
# /api/: the API and its Swagger/Redoc pages are fuzzed against their schema (tests/api/test_schema_fuzz.py).
SKIP_PATHS = ("/logout/", "/account/sign-out-everywhere/", "/django-admin/", "/static/", "/media/", "/api/")
SKIP_ACTIONS = ("/logout/", "/sign-out-everywhere/", "/sign-out/", "/password/")
# Tables whose row counts must not change when a request is refused.
WATCHED = [
    "grids_auditlog",
    "grids_region",
    "grids_grant",
    "grids_department",
    "grids_role",
    "grids_user",
    "auth_group",
    "cases_case",
    "cases_caseevent",
    "cases_workorder",
    "cases_attachment",
    "cases_category",
    "cases_responsetemplate",
    "cases_calendarday",
    "notifications_notification",
]


class Forms(HTMLParser):
    """The links and forms of a page: each form with its method, action and fields (name → first value)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action") or "",
                "fields": {},
                "files": [],
                "multipart": "multipart" in (a.get("enctype") or ""),
            }
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind == "file":
                self._form["files"].append(a["name"])
            elif kind in ("checkbox", "radio"):
                if "checked" in a or a["name"] not in self._form["fields"]:
                    self._form["fields"][a["name"]] = a.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset"):
                self._form["fields"].setdefault(a["name"], a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"].setdefault(a["name"], "")
        elif tag == "option" and self._select:
            if not self._form["fields"].get(self._select) or "selected" in a:
                self._form["fields"][self._select] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"].setdefault(a["name"], "")
        elif tag == "button" and a.get("name") and a.get("value"):
            self._form.setdefault("buttons", {})[a["name"]] = a["value"]

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] = data


def shape(path: str) -> str:
    """A path with its numbers and dates replaced, so /cases/7/ and /cases/8/ are one page kind."""
    return re.sub(r"\d{4}-\d{2}-\d{2}|\d+", "#", path)


def crawl(client: Client, on_page=None) -> tuple[set[str], list[dict]]:
    """Pages reachable from the home page (at most PER_SHAPE of a kind, MAX_PAGES in all), and the distinct forms
    on them; ``on_page(url, response)`` sees every HTML page on the way."""
    seen_shapes: dict[str, int] = {}
    visited: set[str] = set()
    queue = deque(["/"])
    forms: dict[tuple, dict] = {}
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc or parts.scheme or url in visited or url.startswith(SKIP_PATHS):
            continue
        visited.add(url)
        response = client.get(url)
        assert response.status_code < 500, f"GET {url} → {response.status_code}"
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        if on_page is not None:
            on_page(url, response)
        page = Forms()
        page.feed(response.content.decode("utf-8", "replace"))
        for link in page.links:
            target = urlsplit(link)
            if target.netloc or not target.path.startswith("/"):
                continue
            key = shape(target.path) + (
                "?" + "&".join(sorted(k for k, _ in parse_qsl(target.query))) if target.query else ""
            )
            if seen_shapes.get(key, 0) < PER_SHAPE and link not in visited:
                seen_shapes[key] = seen_shapes.get(key, 0) + 1
                queue.append(link)
        for form in page.forms:
            action = form["action"] or parts.path
            if action.startswith(SKIP_ACTIONS) or urlsplit(action).netloc:
                continue
            form = {**form, "action": action, "page": url}
            names = tuple(sorted([*form["fields"], *form["files"]]))
            forms.setdefault((form["method"], shape(urlsplit(action).path), names), form)
    return visited, list(forms.values())


GARBAGE = st.one_of(
    st.text(max_size=40),
    st.text(max_size=10).map(lambda s: s + "\x00" + s),
    st.just("x" * 20_000),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "999999999999",
            "1e309",
            "NaN",
            "[]",
            '{"type": "Polygon", "coordinates": [[[1, 2]]]}',
            "null",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "../../../etc/passwd",
            "２０２６-１３-４０",
            "2026-02-30",
            "25:61",
            "a:b",
            "1:1,2:x",
            "\u202e\ufeff",
        ]
    ),
)
FILES = st.one_of(
    st.binary(max_size=200),
    st.just(b"%PDF-1.4 truncated"),
    st.just(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50),
    st.just(b"\xff\xd8\xff\xe0" + b"junk" * 10),
)


def counts() -> tuple[int, ...]:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in WATCHED)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def fuzz(client: Client, form: dict, failures: list[str]) -> None:
    fields = dict(form["fields"])
    fields.pop("csrfmiddlewaretoken", None)
    names = sorted(fields)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data):
        values = {name: data.draw(st.one_of(st.just(fields[name]), GARBAGE), label=name) for name in names}
        if form["method"] == "get":
            extra = {
                k: data.draw(GARBAGE)
                for k in ("after", "before", "sort", "tab", "q", "year")
                if data.draw(st.booleans())
            }
            query = urlencode({**values, **extra})
            response = client.get(urlsplit(form["action"]).path + "?" + query)
            if response.status_code >= 500:
                failures.append(f"GET {form['action']}?{query[:300]} → {response.status_code}")
            return
        payload = dict(values)
        for name in form["files"]:
            if data.draw(st.booleans()):
                payload[name] = SimpleUploadedFile("upload.bin", data.draw(FILES))
        before = counts()
        response = client.post(form["action"], payload)
        if response.status_code >= 500:
            failures.append(f"POST {form['action']} {payload!r:.300} → {response.status_code}")
        elif response.status_code != 302 and counts() != before:
            failures.append(f"POST {form['action']} {payload!r:.300} → {response.status_code} but rows changed")

    run()


@pytest.fixture
def demo(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    SeedDemo().handle()
    return {name: User.objects.get(username=name) for name in ("admin", "gridworker")}


@pytest.mark.parametrize("role", ["admin", "gridworker"])
def test_every_form_survives_garbage(demo, role):
    client = Client(headers={"accept-language": "en"})
    client.force_login(demo[role])
    visited, forms = crawl(client)
    reached = set()
    for url in visited:
        with contextlib.suppress(Resolver404):
            reached.add(resolve(urlsplit(url).path).url_name)
    must = (
        {"home", "case_list", "region_tree", "region_detail", "case_detail", "notifications:inbox"}
        if role == "admin"
        else {"home", "case_report", "my_cases"}
    )
    assert must <= reached | {f"notifications:{n}" for n in reached}, sorted(reached)
    assert len(forms) >= (40 if role == "admin" else 8), len(forms)
    failures: list[str] = []
    for form in forms:
        fuzz(client, form, failures)
    print(f"{role}: {len(visited)} pages, {len(forms)} forms")  # noqa: T201 - shown with -s
    assert not failures, "\n".join(failures[:20])
