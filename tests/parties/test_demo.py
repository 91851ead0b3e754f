"""The demo city's households: every demo login that works with residents finds households, residents, a party
branch, members keeping in touch with households, and visits where it works; loaded once."""

from io import StringIO

import pytest
from django.core.management import call_command

from grids import access
from grids.models import User
from parties import coverage, selectors
from parties.demo import seed_demo_parties
from parties.models import Household, Keeping, PartyOrg, Resident, Visit

pytestmark = pytest.mark.postgres
LOGINS = ["admin", "supervisor", "dispatcher", "community", "leader", "gridworker", "gridworker2"]


def test_every_login_finds_households_party_and_visits(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "demo households" in out.getvalue()
    for username in LOGINS:
        user = User.objects.get(username=username)
        roots = list(selectors.home_regions(user=user))
        assert roots, username
        households = Household.objects.filter(region__path__startswith=roots[0].path)
        assert households.exists(), username
        assert Resident.objects.filter(household__in=households).exists(), username
        assert PartyOrg.objects.filter(kind="grid", region__path__startswith=roots[0].path).exists(), username
        assert Keeping.objects.filter(household__in=households).exists(), username
        assert Visit.objects.filter(household__in=households).exists(), username
        total, _ = coverage.region_coverage(region=roots[0])
        assert 0 < total.households_kept < total.households, username
    # The grid worker sees masked numbers; the community staff may show them.
    head = Resident.objects.get(name="张建国")
    assert not access.user_can(User.objects.get(username="gridworker"), "parties.view_personal_data", head)
    assert access.user_can(User.objects.get(username="community"), "parties.view_personal_data", head)
    assert seed_demo_parties() == 0
