import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.services import about
from notifications import selectors, services
from notifications.models import ChannelPreference, Notification

pytestmark = pytest.mark.django_db

INBOX = "/notifications/"


def _ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="notification" data-id="(\d+)"', response.content.decode())]


def _many(user, count, *, read=False, start=None):
    """``count`` notices, one minute apart, newest last."""
    start = start or timezone.now() - timedelta(days=1)
    rows = [
        Notification(
            recipient=user,
            title=f"n{i}",
            created_at=start + timedelta(minutes=i),
            read_at=timezone.now() if read else None,
        )
        for i in range(count)
    ]
    return Notification.objects.bulk_create(rows)


def test_pages_need_a_login(client):
    for url in (INBOX, "/notifications/settings/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_inbox_shows_only_my_notifications_unread_first_with_case_links(client, alice, bob, case):
    old_unread = services.notify(recipient=alice, kind="urge", title="Overdue JJ-42", **about(case))
    read = services.notify(recipient=alice, kind="generic", title="Read one")
    services.mark_read(user=alice, notification=read)
    services.notify(recipient=bob, kind="generic", title="Bob's secret")
    Notification.objects.filter(pk=read.pk).update(created_at=timezone.now() + timedelta(minutes=5))  # newer

    client.force_login(alice)
    response = client.get(INBOX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Bob&#x27;s secret" not in html and "Bob's secret" not in html
    assert _ids(response) == [old_unread.pk, read.pk]  # unread first, though older
    assert f'href="/cases/{case.pk}/"' in html and case.number in html
    assert 'data-testid="unread-count">1<' in html


def test_mark_read_and_mark_all_read(client, alice):
    a, b, c = (services.notify(recipient=alice, kind="generic", title=t) for t in "abc")
    client.force_login(alice)

    response = client.post(reverse("notifications:read", args=[a.pk]), {"next": INBOX + "?after=x"})
    assert response.status_code == 302 and response["Location"] == INBOX + "?after=x"
    a.refresh_from_db()
    assert a.read_at is not None and selectors.unread_count(user=alice) == 2

    # An outside "next" is ignored.
    response = client.post(reverse("notifications:read", args=[b.pk]), {"next": "https://evil.test/"})
    assert response["Location"] == INBOX

    assert client.get(reverse("notifications:read", args=[c.pk])).status_code == 405  # POST only
    response = client.post(reverse("notifications:read_all"), follow=True)
    assert "1 notification marked read." in response.content.decode()
    assert selectors.unread_count(user=alice) == 0


def test_another_users_notification_answers_404(client, alice, bob):
    theirs = services.notify(recipient=bob, kind="generic", title="for bob")
    client.force_login(alice)
    assert client.post(reverse("notifications:read", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("notifications:read", args=[999999])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(reverse("notifications:read_all"))
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_inbox_pages_by_keyset_across_unread_and_read(client, alice, django_assert_max_num_queries):
    unread = _many(alice, 40)
    read = _many(alice, 40, read=True)
    expected = [n.pk for n in reversed(unread)] + [n.pk for n in reversed(read)]
    client.force_login(alice)

    seen, url, pages = [], INBOX, []
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert not [q for q in queries if "COUNT(*)" in q["sql"] and "LIMIT" not in q["sql"]]
        pages.append(_ids(response))
        seen += pages[-1]
        found = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
        url = INBOX + found.group(1).replace("&amp;", "&") if found else ""
    assert seen == expected
    assert [len(p) for p in pages] == [30, 30, 20]

    # And back: the previous page of the last page is the second page.
    last = client.get(INBOX + "?after=" + selectors._encode(Notification.objects.get(pk=pages[1][-1])))
    assert _ids(last) == pages[2]
    back = re.search(r'rel="prev" href="([^"]+)"', last.content.decode()).group(1).replace("&amp;", "&")
    assert _ids(client.get(INBOX + back)) == pages[1]

    assert _ids(client.get(INBOX + "?after=garbage")) == pages[0]  # a bad cursor: the first page


def test_inbox_page_selector_directly(alice):
    unread = _many(alice, 3)
    read = _many(alice, 3, read=True)
    first = selectors.inbox_page(user=alice, size=4)
    assert [n.pk for n in first] == [unread[2].pk, unread[1].pk, unread[0].pk, read[2].pk]
    assert first.has_next and not first.has_previous
    second = selectors.inbox_page(user=alice, after=first.next_cursor, size=4)
    assert [n.pk for n in second] == [read[1].pk, read[0].pk] and not second.has_next
    back = selectors.inbox_page(user=alice, before=second.previous_cursor, size=4)
    assert [n.pk for n in back] == [n.pk for n in first] and not back.has_previous


def test_navbar_badge_costs_one_query_whatever_the_count(client, alice):
    client.force_login(alice)
    url = "/notifications/settings/"

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return [q["sql"] for q in captured]

    _many(alice, 1)
    few = queries()
    _many(alice, 150)
    lots = queries()
    assert len(lots) == len(few)
    badge = [q for q in lots if "notifications_notification" in q]
    assert len(badge) == 1 and "LIMIT 100" in badge[0]
    assert 'data-testid="unread-count">99+<' in client.get(url).content.decode()


def test_inbox_cost_does_not_grow_with_the_rows(client, alice, case):
    client.force_login(alice)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(INBOX).status_code == 200
        return len(captured)

    for i in range(3):
        services.notify(recipient=alice, kind="urge", title=f"u{i}", **about(case))
    few = queries()
    for i in range(40):
        services.notify(recipient=alice, kind="urge", title=f"more{i}", **about(case))
    assert queries() <= few  # a full page of unread needs no second segment query


def test_no_badge_without_unread(client, alice):
    client.force_login(alice)
    html = client.get(INBOX).content.decode()
    assert 'data-testid="nav-notifications"' in html and 'data-testid="unread-count"' not in html
    assert "No notifications." in html


def test_channel_settings_page(client, alice, webhook):
    client.force_login(alice)
    html = client.get("/notifications/settings/").content.decode()
    assert 'value="email"' in html and 'value="webhook"' in html
    assert re.search(r'value="email"[^>]*checked', html)  # the defaults

    response = client.post("/notifications/settings/", {"channels": ["webhook"]})
    assert response.status_code == 302
    assert dict(ChannelPreference.objects.filter(user=alice).values_list("channel", "enabled")) == {
        "email": False,
        "webhook": True,
    }
    html = client.get("/notifications/settings/").content.decode()
    assert not re.search(r'value="email"[^>]*checked', html) and re.search(r'value="webhook"[^>]*checked', html)

    client.post("/notifications/settings/", {})  # nothing ticked: inbox only
    assert not ChannelPreference.objects.filter(user=alice, enabled=True).exists()

    response = client.post("/notifications/settings/", {"channels": ["pigeon"]})
    assert response.status_code == 200 and "pigeon" in response.content.decode()  # refused by the form


def test_settings_page_says_when_a_channel_cannot_work(client, no_mail_user):
    client.force_login(no_mail_user)
    html = client.get("/notifications/settings/").content.decode()
    assert "Not set up on this installation" in html  # no webhook address configured
    assert "Your account has no address for this channel" in html
