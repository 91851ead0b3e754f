import os

import pytest
from django.db import connection

from tests.factories import UserFactory, build_city, superuser

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config):
    """Tests that need PostgreSQL, Redis or a real Celery worker skip when those are missing; they must not skip
    because pytest was started without them while they run on this machine (then half the suite would quietly not
    run). `make test` sets the environment through tests/services.py; a bare `pytest` refuses to start instead."""
    if os.environ.get("GOVGRID_TEST_POSTGRES") or os.environ.get("GOVGRID_TEST_SERVICES_CHECKED"):
        return
    from tests.services import answers

    running = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if answers("127.0.0.1", port)]
    if running:
        raise pytest.UsageError(
            f"{' and '.join(running)} run on this machine, but this pytest was started without them, so the tests "
            'that need them would skip. Run `make test`, or first: eval "$(.venv/bin/python tests/services.py)" '
            "(GOVGRID_TEST_SERVICES_CHECKED=1 runs without them on purpose)."
        )


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    if CI:
        raise pytest.UsageError("CI runs the tests against PostgreSQL; DATABASE_URL points elsewhere.")
    skip = pytest.mark.skip(reason="needs PostgreSQL (running on the SQLite fallback)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _fresh_grant_cache(django_db_setup, django_db_blocker):
    """Test databases restart their ids each run: values cached by an earlier run must not be found."""
    from cases.selectors import CATEGORIES
    from govgrid import versioned_cache
    from grids import access
    from notifications.subscriptions import SUBSCRIPTIONS

    with django_db_blocker.unblock():
        access.forget_all_grants()
        versioned_cache.raise_version(CATEGORIES)
        versioned_cache.raise_version(SUBSCRIPTIONS)


@pytest.fixture
def root(db):
    return superuser()


@pytest.fixture
def city(db, root):
    return build_city(root)


@pytest.fixture
def make_user(db):
    def make(username, **kwargs):
        return UserFactory(username=username, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashers are slow by design; tests only need a hasher that works.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english(request):
    # Assertions read the English messages; the product's default language is zh-hans.
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    # The business calendar caches each year per process; tests write their own days.
    from cases import calendar

    calendar.clear_cache()
    yield
    calendar.clear_cache()


LONG_COUNTDOWNS: list[str] = []


@pytest.fixture(autouse=True, scope="session")
def _watch_countdowns():
    """Deadlines live in the database: record any task published with an ETA more than five minutes ahead."""
    from datetime import datetime, timedelta

    from celery.signals import before_task_publish

    def check(sender=None, headers=None, **_kwargs):
        eta = (headers or {}).get("eta")
        if eta:
            when = datetime.fromisoformat(eta)
            now = datetime.now(when.tzinfo) if when.tzinfo else datetime.now()
            if when - now > timedelta(minutes=5):
                LONG_COUNTDOWNS.append(f"{sender} scheduled {when - now} ahead")

    before_task_publish.connect(check, weak=False, dispatch_uid="tests.watch_countdowns")
    yield
    before_task_publish.disconnect(dispatch_uid="tests.watch_countdowns")


@pytest.fixture(autouse=True)
def _no_long_countdowns(_watch_countdowns):
    """A test fails if the code under test scheduled a task more than a few minutes ahead."""
    LONG_COUNTDOWNS.clear()
    yield
    found, LONG_COUNTDOWNS[:] = list(LONG_COUNTDOWNS), []
    assert not found, found
