"""Lists sorted by due date: keyset pages on (due_at, id) with the cases without an open step last, cursors that
name their order, the sort control on every list page, and a constant number of queries."""

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases import selectors, services
from cases.models import Case, StepDeadline, WorkOrder
from cases.workflow import WorkOrderState
from govgrid import pager

pytestmark = pytest.mark.postgres


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


def report(cast, category, title="占道经营", grid=None, reporter=None) -> Case:
    return services.case_report(
        reporter=reporter or cast.worker, category=category, title=title, region=grid or cast.city.g1111
    )


def called(cast, category, title="占道经营") -> Case:
    case = report(cast, category, title=title)
    return services.case_transition(case=case, action="call_street", actor=cast.community, comment="需街道协调")


def dispatched(cast, category, departments=("cgzf",), title="占道经营") -> Case:
    case = services.case_transition(case=called(cast, category, title=title), action="accept", actor=cast.dispatcher)
    return services.case_transition(
        case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d[k] for k in departments]
    )


def set_due(case: Case, due) -> None:
    Case.objects.filter(pk=case.pk).update(due_at=due, yellow_at=due - timedelta(hours=1) if due else None)


def cases_with_deadlines(cast, category, count=11) -> list[Case]:
    """``count`` reported cases with due dates that tie in threes, and two without an open step."""
    base = timezone.now() + timedelta(days=1)
    cases = [report(cast, category, title=f"第{i:02d}件") for i in range(count)]
    for i, case in enumerate(cases):
        # Reverse the report order so that "due first" differs from both "newest" and "oldest".
        due = None if i in (3, 7) else base - timedelta(hours=(i // 3))
        set_due(case, due)
    return list(Case.objects.filter(pk__in=[c.pk for c in cases]))


def due_order(cases: list[Case], descending: bool = False) -> list[int]:
    dated = sorted((c for c in cases if c.due_at), key=lambda c: (c.due_at, c.pk), reverse=descending)
    undated = sorted((c for c in cases if not c.due_at), key=lambda c: c.pk, reverse=descending)
    return [c.pk for c in dated + undated]


def walk(rows, size: int, **order) -> tuple[list[list[int]], list[list[int]]]:
    """Every page forward from the first, then every page back from the last (in display order)."""
    forward, page = [], selectors.keyset_page(rows, size=size, **order)
    forward.append([c.pk for c in page])
    while page.has_next:
        page = selectors.keyset_page(rows, size=size, after=page.next_cursor, **order)
        forward.append([c.pk for c in page])
    backward = [[c.pk for c in page]]
    while page.has_previous:
        page = selectors.keyset_page(rows, size=size, before=page.previous_cursor, **order)
        backward.insert(0, [c.pk for c in page])
    return forward, backward


# --- keyset_page on (due_at, id) ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 11, 30])
def test_due_order_walks_forward_and_back_with_nulls_last_and_ties_by_id(cast, category, size):
    cases = cases_with_deadlines(cast, category)
    expected = due_order(cases)
    assert len({c.due_at for c in cases if c.due_at}) < 9, "the data must hold ties"
    rows = selectors.my_cases(user=cast.worker)
    forward, backward = walk(rows, size, key="due_at", descending=False)
    assert [pk for page in forward for pk in page] == expected
    assert backward == forward
    assert all(len(page) == size for page in forward[:-1])
    undated = {c.pk for c in cases if c.due_at is None}
    assert len(undated) == 2 and set(expected[-2:]) == undated  # the rows without a deadline come last


def test_descending_order_also_keeps_nulls_last(cast, category):
    cases = cases_with_deadlines(cast, category)
    rows = selectors.my_cases(user=cast.worker)
    forward, backward = walk(rows, 4, key="due_at", descending=True)
    assert [pk for page in forward for pk in page] == due_order(cases, descending=True)
    assert backward == forward


def test_newest_and_oldest_orders_are_unchanged(cast, category):
    cases = cases_with_deadlines(cast, category)
    by_time = [c.pk for c in sorted(cases, key=lambda c: (c.created_at, c.pk))]
    rows = selectors.my_cases(user=cast.worker)
    newest, _back = walk(rows, 4)
    oldest, _back = walk(rows, 4, key="created_at", descending=False)
    assert [pk for page in newest for pk in page] == by_time[::-1]
    assert [pk for page in oldest for pk in page] == by_time


def test_a_cursor_inside_the_undated_rows_goes_on_and_back(cast, category):
    cases = cases_with_deadlines(cast, category)
    expected = due_order(cases)
    rows = selectors.my_cases(user=cast.worker)
    last_dated = Case.objects.get(pk=expected[-3])
    first_undated = Case.objects.get(pk=expected[-2])
    after_dated = selectors.keyset_page(
        rows, size=5, after=pager._encode(last_dated, "due_at", False), key="due_at", descending=False
    )
    assert [c.pk for c in after_dated] == expected[-2:] and not after_dated.has_next
    cursor = pager._encode(first_undated, "due_at", False)
    assert [c.pk for c in selectors.keyset_page(rows, after=cursor, key="due_at", descending=False)] == expected[-1:]
    back = selectors.keyset_page(rows, size=3, before=cursor, key="due_at", descending=False)
    assert [c.pk for c in back] == expected[-5:-2] and back.has_previous


def _raw_cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_a_bad_or_mismatched_cursor_gives_the_first_page(cast, category):
    cases = cases_with_deadlines(cast, category)
    rows = selectors.my_cases(user=cast.worker)
    due = {"key": "due_at", "descending": False}
    first = [c.pk for c in selectors.keyset_page(rows, size=4, **due)]
    assert first == due_order(cases)[:4]
    some = Case.objects.get(pk=first[1])
    newest_cursor = pager._encode(some)  # made for the newest-first list
    bad = [
        "garbage",
        "",
        "====",
        newest_cursor,
        _raw_cursor(f"due_at|not a date|{some.pk}"),
        _raw_cursor(f"due_at|{some.due_at.isoformat()}|x1"),
        _raw_cursor(f"due_at|{some.due_at.replace(tzinfo=None).isoformat()}|{some.pk}"),  # naive
        _raw_cursor(f"due_at|{some.due_at.isoformat()}"),
        _raw_cursor(f"{some.created_at.isoformat()}|{some.pk}"),  # the old format
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ]
    for cursor in bad:
        assert [c.pk for c in selectors.keyset_page(rows, size=4, after=cursor, **due)] == first, cursor
        assert [c.pk for c in selectors.keyset_page(rows, size=4, before=cursor, **due)] == first, cursor
    # A due cursor does not fit the newest-first list, nor a null one a key that cannot be null.
    due_cursor = pager._encode(some, "due_at", False)
    newest = [c.pk for c in selectors.keyset_page(rows, size=4)]
    assert [c.pk for c in selectors.keyset_page(rows, size=4, after=due_cursor)] == newest
    null_created = _raw_cursor(f"-created_at||{some.pk}")
    assert [c.pk for c in selectors.keyset_page(rows, size=4, after=null_created)] == newest
    page = client_for(cast.worker).get(reverse("my_cases"), {"sort": "due", "after": newest_cursor})
    assert page.status_code == 200 and page.content.count(b'data-testid="case-row"') == len(cases)


def test_sort_order_names_the_key(cast):
    assert selectors.sort_order("due") == ("due_at", False)
    assert selectors.sort_order("due", due_key="deadline_due_at") == ("deadline_due_at", False)
    assert selectors.sort_order("newest") == ("created_at", True)
    assert selectors.sort_order("bogus", default="oldest") == ("created_at", False)


# --- the pages ------------------------------------------------------------------------------------------------


def numbers_in(text: str, cases: list[Case]) -> list[str]:
    """The numbers of ``cases`` in the order the page shows them."""
    found = [(text.find(c.number), c.number) for c in cases]
    return [number for at, number in sorted(found) if at >= 0]


def test_street_queue_sorts_by_due_date_across_pages(cast, category):
    cases = [called(cast, category, title=f"呼叫{i}") for i in range(5)]
    base = timezone.now() + timedelta(hours=2)
    for i, case in enumerate(cases):
        set_due(case, None if i == 1 else base - timedelta(minutes=10 * i))
    cases = list(Case.objects.filter(pk__in=[c.pk for c in cases]).order_by("pk"))
    expected = [Case.objects.get(pk=pk).number for pk in due_order(cases)]
    c = client_for(cast.dispatcher)
    page = c.get(reverse("street_queue"), {"sort": "due"})
    assert page.status_code == 200
    assert numbers_in(page.text, cases) == expected
    assert '<option value="due" selected>' in page.text
    default = c.get(reverse("street_queue")).text
    assert numbers_in(default, cases) == [x.number for x in sorted(cases, key=lambda x: x.pk)]  # oldest first
    assert '<option value="oldest" selected>' in default
    # Filters and sort together; a filtered request without a sort keeps the queue's default.
    filtered = c.get(reverse("street_queue"), {"light": "green", "sort": "due"}).text
    assert numbers_in(filtered, cases) == [n for n in expected if n != cases[1].number]
    assert '<option value="oldest" selected>' in c.get(reverse("street_queue"), {"light": "green"}).text
    # Two cases per page: the pager walks the due order and keeps the sort.
    rows = selectors.street_queue(user=cast.dispatcher)
    first = selectors.keyset_page(rows, size=2, key="due_at", descending=False)
    second = c.get(reverse("street_queue"), {"sort": "due", "after": first.next_cursor})
    shown = numbers_in(second.text, cases)
    assert shown == expected[2:]
    assert "sort=due" in second.text.split('rel="prev"')[1].split(">")[0]


def test_every_list_page_has_the_sort_control_and_honours_due(cast, category):
    dispatched(cast, category)
    called(cast, category)
    mine = [report(cast, category, title=f"上报{i}") for i in range(3)]
    set_due(mine[0], None)
    set_due(mine[1], timezone.now() + timedelta(hours=5))
    set_due(mine[2], timezone.now() + timedelta(hours=1))
    settled = services.case_transition(
        case=report(cast, category), action="settle", actor=cast.community, comment="已化解"
    )
    pages = [
        (cast.dispatcher, "street_queue"),
        (cast.community, "triage"),
        (cast.worker, "my_cases"),
        (cast.cg, "inbox"),
        (cast.supervisor, "case_list"),
        (cast.worker, "verify_queue"),
    ]
    for user, name in pages:
        text = client_for(user).get(reverse(name), {"sort": "due"}).text
        assert 'name="sort"' in text and '<option value="due" selected>' in text, name
        assert "Due first" in text and "Newest first" in text, name
    mine_page = client_for(cast.worker).get(reverse("my_cases"), {"sort": "due"}).text
    assert numbers_in(mine_page, mine) == [mine[2].number, mine[1].number, mine[0].number]
    assert settled.number in client_for(cast.worker).get(reverse("verify_queue"), {"sort": "due"}).text
    # An unknown sort is the page's default, not an error.
    bogus = client_for(cast.worker).get(reverse("my_cases"), {"sort": "bogus"})
    assert bogus.status_code == 200 and '<option value="newest" selected>' in bogus.text


def test_inbox_sorts_by_the_open_step_deadline_and_shows_its_light(cast, category):
    orders = [
        WorkOrder.objects.get(case=dispatched(cast, category, title=f"派单{i}"), department=cast.d["cgzf"])
        for i in range(4)
    ]
    now = timezone.now()
    dues = [now + timedelta(hours=3), now - timedelta(hours=1), None, now + timedelta(hours=3)]
    for order, due in zip(orders, dues, strict=True):
        deadline = StepDeadline.objects.get(work_order=order, closed_at__isnull=True)
        if due is None:
            deadline.closed_at = now  # no open step: last
        else:
            deadline.due_at, deadline.yellow_at = due, due - timedelta(hours=2)
        deadline.save()
    c = client_for(cast.cg)
    page = c.get(reverse("inbox"), {"tab": "to_sign", "sort": "due"})
    cases = [o.case for o in orders]
    expected = [orders[i].case.number for i in (1, 0, 3, 2)]
    assert numbers_in(page.text, cases) == expected
    assert '<input type="hidden" name="tab" value="to_sign">' in page.text
    rows = selectors.department_inbox(user=cast.cg, tab="to_sign")
    forward, backward = walk(rows, 1, key="deadline_due_at", descending=False)
    assert [pk for p in forward for pk in p] == [orders[i].pk for i in (1, 0, 3, 2)] and backward == forward
    assert "light-red" in page.text and "light-green" in page.text
    # The tabs keep the chosen order.
    assert "tab=in_progress&amp;sort=due" in page.text or "sort=due&amp;tab=in_progress" in page.text
    assert all(o.state == WorkOrderState.ASSIGNED for o in WorkOrder.objects.filter(pk__in=[o.pk for o in orders]))
    # No clock runs on finished work: the done and refused tabs offer no "due first" and fall back to their order.
    for tab, default in (("done", "newest"), ("refused", "oldest")):
        text = c.get(reverse("inbox"), {"tab": tab, "sort": "due"}).text
        assert '<option value="due"' not in text and f'<option value="{default}" selected>' in text, tab
