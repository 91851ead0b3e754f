"""Each role's home is its work: the role's queue first, with the counts that need action today."""

import pytest
from django.urls import reverse

from cases import selectors, services
from tests.cases.test_loop_turns import finished
from tests.cases.test_services import dispatched, report
from tests.cases.test_views import client_for
from tests.factories import UserFactory, grant_role


def count_of(page_text: str, code: str) -> int:
    marker = f'data-testid="count-{code}"'
    assert marker in page_text, code
    tail = page_text.split(marker, 1)[1]
    return int(tail.split('data-count="', 1)[1].split('"', 1)[0])


@pytest.fixture
def admin(cast):
    user = UserFactory(username="region-admin")
    grant_role(user, "region_admin", cast.city.d1)
    return user


def test_each_role_lands_on_its_work(cast, category, admin):
    report(cast, category)  # to triage
    working = dispatched(cast, category)  # two work orders to sign
    closed = finished(cast, category)  # a call-back due
    expected = {
        "worker": "worker",
        "community": "community",
        "dispatcher": "street",
        "cg": "department",
        "supervisor": "supervisor",
        "hotline": "hotline",
        "region-admin": "admin",
    }
    people = {**cast.people, "region-admin": admin}
    for username, role in expected.items():
        assert selectors.home_role(people[username]) == role, username
    worker = client_for(cast.worker).get(reverse("home")).text
    assert worker.index('data-testid="home-report"') < worker.index("<h1")  # the big button comes first
    assert 'data-testid="outbox"' in worker and 'data-testid="home-recent"' in worker
    assert count_of(worker, "to_verify") == 0
    assert count_of(client_for(cast.community).get("/").text, "to_triage") == 1
    street = client_for(cast.dispatcher).get("/").text
    assert 'href="/cases/street/"' in street and 'data-testid="home-main"' in street
    assert count_of(street, "to_accept") == 0 and count_of(street, "to_dispatch") == 0
    assert count_of(client_for(cast.cg).get("/").text, "to_sign") == 1
    assert count_of(client_for(cast.zj).get("/").text, "to_sign") == 1
    assert count_of(client_for(cast.hotline).get("/").text, "callbacks") == 1
    admin_home = client_for(admin).get("/").text
    assert 'data-testid="home-unstaffed"' in admin_home and "派出所" in admin_home
    # what others may not see is not counted for them
    assert count_of(client_for(cast.other_dispatcher).get("/").text, "to_accept") == 0
    assert working.pk and closed.pk


def test_counts_follow_the_work(cast, category):
    case = report(cast, category)
    services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    street = client_for(cast.dispatcher).get("/").text
    assert count_of(street, "to_accept") == 1
    assert count_of(client_for(cast.community).get("/").text, "to_triage") == 0


def test_counts_are_capped(cast, category, settings):
    for i in range(3):
        report(cast, category, title=f"c{i}")
    assert selectors.capped_count(selectors.triage_queue(user=cast.community), cap=2) == 2


@pytest.mark.parametrize("who", ["worker", "community", "dispatcher", "cg", "supervisor", "hotline", "admin"])
def test_home_queries_do_not_grow_with_cases(cast, category, admin, who, django_assert_max_num_queries):
    for i in range(5):
        report(cast, category, title=f"c{i}")
    dispatched(cast, category)
    client = client_for(admin if who == "admin" else cast.people[who])
    client.get("/")
    # session, user, grants, unread notices, departments, one query for every count, the lists of the role
    with django_assert_max_num_queries(14):
        assert client.get("/").status_code == 200


def test_callbacks_list(cast, category):
    closed = finished(cast, category)
    page = client_for(cast.hotline).get(reverse("callbacks"))
    assert page.status_code == 200 and closed.number in page.text
    services.case_transition(case=closed, action="evaluate", actor=cast.hotline, satisfaction="satisfied")
    assert closed.number not in client_for(cast.hotline).get(reverse("callbacks")).text
    assert closed.number not in client_for(cast.outsider).get(reverse("callbacks")).text
