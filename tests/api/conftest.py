import pytest
from rest_framework.test import APIClient

from grids import tokens
from tests.cases import conftest as case_fixtures

# The same people and categories as the pages' tests.
cast, category = case_fixtures.cast, case_fixtures.category


@pytest.fixture
def api():
    """A client of the API signed in as someone: api(user) → APIClient with a fresh personal token."""

    def make(user=None, *, session: bool = False):
        client = APIClient(headers={"accept-language": "en"})
        if user is not None and session:
            client.force_login(user)
        elif user is not None:
            made = tokens.token_create(actor=user, user=user, name="tests")
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.secret}")
        return client

    return make


@pytest.fixture
def report(cast, category):
    """report(title, grid=…) → a case reported by the grid worker through the service."""
    from cases import services

    def make(title="占道经营", grid=None, by=None):
        return services.case_report(
            reporter=by or cast.worker, category=category, title=title, region=grid or cast.city.g1111
        )

    return make
