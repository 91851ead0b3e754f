import os

import pytest
from django.db import connection

from tests.factories import UserFactory, build_city, superuser

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    if CI:
        raise pytest.UsageError("CI runs the tests against PostgreSQL; DATABASE_URL points elsewhere.")
    skip = pytest.mark.skip(reason="needs PostgreSQL (running on the SQLite fallback)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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
