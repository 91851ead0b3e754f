"""A case names its parties (from the records or typed free), listed masked; a visit opens a case in one tap; a
resident's page lists the cases that name him."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from cases import case_parties
from cases.models import Case, CaseParty, Category, Source
from parties import visits
from parties.models import AccessLog
from tests.parties import conftest as parties_conftest
from tests.parties.conftest import make_id

pytestmark = pytest.mark.postgres
world = parties_conftest.world  # the people and records of tests/parties


@pytest.fixture
def visit(world):
    return visits.visit_record(
        actor=world.worker,
        household=world.household,
        needs=["elderly"],
        notes="老人行动不便，需要助餐",
        lat=30.01,
        lng=104.01,
    )


def test_a_visit_opens_a_case_with_the_address_and_people(world, visit, client):
    client.force_login(world.worker)
    page = client.get(reverse("parties:visit", args=[visit.pk])).content.decode()
    assert 'data-testid="open-case"' in page
    response = client.post(reverse("case_from_visit", args=[visit.pk]))
    case = Case.objects.get(visit=visit)
    assert response.status_code == 302 and response["Location"] == reverse("case_detail", args=[case.pk])
    assert case.source == Source.VISIT and case.region == world.city.g1111 and case.category.code == "msfw-djlr"
    assert case.address == world.household.label and "助餐" in case.description
    assert set(case.party_links.values_list("resident__name", flat=True)) == {"张建国", "李秀英"}
    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    number = make_id("19650308", "123")
    assert "张建国" in page and f"{number[:4]}**********{number[-4:]}" in page and number not in page
    assert "13800001234" not in page and "138****1234" in page
    assert 'data-testid="reveal-id_number"' not in page
    # The visit's page links to the case, and a second tap opens nothing new.
    page = client.get(reverse("parties:visit", args=[visit.pk])).content.decode()
    assert case.number in page and 'data-testid="open-case"' not in page
    with pytest.raises(ValidationError):
        case_parties.case_open_from_visit(actor=world.worker, visit=visit)


def test_the_category_can_be_chosen_on_the_visit(world, visit, client):
    client.force_login(world.worker)
    other = Category.objects.get(code="mdjf-llj")
    client.post(reverse("case_from_visit", args=[visit.pk]), {"category": other.pk})
    assert Case.objects.get(visit=visit).category == other


def test_parties_from_the_records_or_typed_free(world, category):
    case = case_parties.case_open_from_visit(
        actor=world.worker,
        visit=visits.visit_record(actor=world.worker, organisation=world.organisation),
        category=category,
    )
    assert case.party_links.get().organisation == world.organisation
    case_parties.case_party_add(actor=world.worker, case=case, role="reporter", resident=world.head)
    free = case_parties.case_party_add(
        actor=world.worker, case=case, role="respondent", name="路过的摊主", phone="13655556666"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM cases_caseparty t WHERE id = %s", [free.pk])
        assert "13655556666" not in cursor.fetchone()[0]
    assert free.phone_mask == "136****6666"
    with pytest.raises(ValidationError):
        case_parties.case_party_add(actor=world.worker, case=case, role="involved", name="坏号", phone="123")
    with pytest.raises(PermissionDenied):
        case_parties.case_party_add(actor=world.outsider, case=case, role="involved", name="x")  # another street
    assert set(case.events.values_list("transition", flat=True)) >= {"party_add", "from_visit"}


def test_a_free_partys_phone_is_shown_to_the_permission_and_logged(world, category, client):
    case = case_parties.case_open_from_visit(
        actor=world.worker, visit=visits.visit_record(actor=world.worker, household=world.household), category=category
    )
    free = case_parties.case_party_add(
        actor=world.worker, case=case, role="respondent", name="摊主", phone="13655556666"
    )
    url = reverse("parties:reveal", args=["case_party", free.pk, "phone"])
    client.force_login(world.worker)
    assert client.post(url).status_code == 403
    client.force_login(world.community)
    response = client.post(url)
    assert response.status_code == 200 and "13655556666" in response.content.decode()
    assert list(AccessLog.objects.values_list("target_type", "target_id")) == [("case_party", free.pk)]
    client.force_login(world.outsider)
    assert client.post(url).status_code == 404


def test_the_resident_page_lists_the_cases_that_name_him(world, category, client):
    case = case_parties.case_open_from_visit(
        actor=world.worker, visit=visits.visit_record(actor=world.worker, household=world.household), category=category
    )
    client.force_login(world.community)
    page = client.get(reverse("parties:resident", args=[world.head.pk])).content.decode()
    assert case.number in page
    # Someone who sees the resident but not the case is not shown it.
    from tests.factories import UserFactory, grant_role

    clerk = UserFactory(username="clerk")
    role_user = grant_role(clerk, "grid_worker", world.city.g1111, actor=world.actor)
    assert role_user
    from grids import services as grid_services

    grid_services.grant_revoke(actor=world.actor, grant=role_user)
    from django.contrib.auth.models import Permission

    from grids.models import Grant

    Grant.objects.create(
        region=world.city.g1111,
        user=clerk,
        permission=Permission.objects.get(codename="view_household"),
        granted_by=world.actor,
    )
    grid_services.sync_object_permissions(user_keys=[(clerk.pk, world.city.g1111.pk)])
    client.force_login(clerk)
    page = client.get(reverse("parties:resident", args=[world.head.pk])).content.decode()
    assert "张建国" in page and case.number not in page


def test_the_case_page_lists_parties_with_a_fixed_number_of_queries(world, category, client):
    from django.test.utils import CaptureQueriesContext

    case = case_parties.case_open_from_visit(
        actor=world.worker, visit=visits.visit_record(actor=world.worker, household=world.household), category=category
    )
    client.force_login(world.community)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("case_detail", args=[case.pk]))
    for i in range(5):
        case_parties.case_party_add(
            actor=world.worker, case=case, role="involved", name=f"路人{i}", phone="13655556666"
        )
    case_parties.case_party_add(actor=world.worker, case=case, role="reporter", organisation=world.organisation)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("case_detail", args=[case.pk])).status_code == 200
    assert len(many.captured_queries) <= len(one.captured_queries) + 1
    assert CaseParty.objects.filter(case=case).count() == 8
