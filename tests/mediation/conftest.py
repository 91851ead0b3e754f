from functools import partial

import pytest

from cases import services as case_services
from cases.case_parties import case_party_add
from cases.models import Category
from grids import services as grid_services
from parties import services as party_services
from tests.factories import staff
from tests.parties.conftest import make_id


@pytest.fixture
def client():
    """The pages in English, as the assertions read them (the product defaults to zh-hans)."""
    from django.test import Client

    return Client(headers={"accept-language": "en"})


@pytest.fixture
def med(city):
    """People of the small test city around a dispute-category case in g1111, with a resident on record."""
    actor = city.actor

    person = partial(staff, actor=actor)

    people = {
        "worker": person("worker", "grid_worker", city.g1111),
        "mediator": person("mediator", "peoples_mediator", city.c111),
        "community": person("community", "community_staff", city.c111),
        "dispatcher": person("dispatcher", "street_dispatcher", city.s11),
        "supervisor": person("supervisor", "supervisor", city.d1),
        "other_street": person("other-street", "street_dispatcher", city.s12),
        "other_mediator": person("other-mediator", "peoples_mediator", city.c121),
        "far": person("far", "peoples_mediator", city.c211),
        "nobody": person("nobody"),
    }
    household = party_services.household_save(actor=actor, region=city.g1111, address="东湖路1号501")
    resident = party_services.resident_save(
        actor=actor,
        household=household,
        name="张建国",
        id_number=make_id("19650308", "123"),
        phone="13800001234",
        relation="head",
    )
    category = Category.objects.get(code="mdjf-llj")
    case = case_services.case_report(
        reporter=people["worker"], category=category, title="楼上漏水", region=city.g1111, address="东湖路1号"
    )
    case_party_add(actor=people["worker"], case=case, role="reporter", resident=resident)
    case_party_add(actor=people["worker"], case=case, role="respondent", name="李四", phone="13912345678")
    department = grid_services.department_save(actor=actor, name="住建局", code="d1-zj", region=city.d1, kind="zj")

    class Med:
        pass

    m = Med()
    m.__dict__.update(city=city, actor=actor, household=household, resident=resident, case=case, dept=department)
    m.__dict__.update(people)
    return m


@pytest.fixture(autouse=True)
def _site_in_english(settings):
    """Notes on a case's timeline and notices are written in the site's language (zh-hans by default); the
    assertions read English."""
    settings.LANGUAGE_CODE = "en"
