"""seed_parties on a small seed_scale city: the rows agree with what the services would have written."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from grids.models import Region
from parties import crypto, identity, selectors
from parties.models import Household, Keeping, Organisation, PartyMember, PartyOrg, Residence, Resident, Visit

CITY = "529500"
pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded(db):
    call_command("seed_scale", grids=16, staff=40, city_code=CITY, stdout=StringIO())
    call_command(
        "seed_parties",
        city_code=CITY,
        households=400,
        residents=1000,
        organisations=48,
        members=40,
        kept=160,
        visits=600,
        processes=0,
        grids_per_batch=5,
        stdout=StringIO(),
    )
    return Region.objects.get(code=CITY)


def test_the_city_is_filled_consistently(seeded):
    where = {"region__path__startswith": seeded.path}
    assert Household.objects.filter(**where).count() == 400
    assert Resident.objects.filter(**where).count() == 1000 == Residence.objects.count()
    assert Organisation.objects.filter(**where).count() == 48
    assert PartyMember.objects.filter(**where).count() == 40
    assert Visit.objects.filter(**where).count() == 600
    assert PartyOrg.objects.filter(kind="grid", **where).count() == 16
    assert Household.objects.filter(keeper__isnull=False, **where).count() == 160
    assert Keeping.objects.filter(household__isnull=False).count() == 160
    # The derived columns agree with the rows.
    for h in Household.objects.filter(**where).annotate(n=Count("members"))[:50]:
        assert h.member_count == h.n
    for m in PartyMember.objects.annotate(h=Count("keepings__household"), o=Count("keepings__organisation")):
        assert (m.household_count, m.organisation_count) == (m.h, m.o) and m.household_count <= m.household_limit
    # Numbers are stored as the services store them, and found through the keyed hash.
    r = Resident.objects.filter(**where).order_by("?").first()
    number = crypto.decrypt(r.id_number_enc)
    checked = identity.check_id_number(number)
    assert (checked.birth_date, checked.gender) == (r.birth_date, r.gender)
    assert r.id_number_mask == identity.mask_id(number)
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.create(
        username="su", is_superuser=True
    )
    assert [x.pk for x in selectors.resident_search(user=admin, q=number)] == [r.pk]


def test_a_second_run_is_refused_and_reset_rebuilds(seeded):
    with pytest.raises(CommandError):
        call_command(
            "seed_parties",
            city_code=CITY,
            households=40,
            residents=80,
            organisations=4,
            members=8,
            kept=10,
            visits=10,
            processes=0,
            stdout=StringIO(),
        )
    call_command(
        "seed_parties",
        city_code=CITY,
        households=40,
        residents=80,
        organisations=4,
        members=8,
        kept=10,
        visits=10,
        processes=0,
        reset=True,
        stdout=StringIO(),
    )
    assert Resident.objects.filter(region__path__startswith=seeded.path).count() == 80
