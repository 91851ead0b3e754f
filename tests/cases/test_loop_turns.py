"""The loop's missing turns: 重办 after an unsatisfied call-back, reporting the same problem again, and
departments nobody staffs."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases import forms, selectors, services
from cases.models import Attachment, Case, CaseEvent, WorkOrder
from cases.workflow import State, WorkOrderState
from grids.codes import Level
from notifications.models import Notification
from notifications.selectors import visible
from tests.cases.test_services import dispatched, png, report
from tests.factories import UserFactory, grant_role


def finished(cast, category, depts=("cgzf",)):
    """A dispatched case done by every department, verified and closed."""
    case = dispatched(cast, category, depts=depts)
    people = {"cgzf": cast.cg, "zj": cast.zj, "scjg": cast.scjg}
    for order in case.work_orders.all():
        who = people[order.department.kind]
        services.work_order_step(work_order=order, action="sign", actor=who)
        services.work_order_step(work_order=order, action="complete", actor=who, result="已处置")
    case = services.case_transition(case=Case.objects.get(pk=case.pk), action="verify_ok", actor=cast.worker)
    return services.case_transition(case=case, action="close", actor=cast.dispatcher)


def test_unsatisfied_call_back_sends_the_case_back_to_the_dispatcher(
    cast, category, django_capture_on_commit_callbacks
):
    case = finished(cast, category)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_transition(
            case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied", comment="摊点又回来了"
        )
    assert (case.state, case.level) == (State.ACCEPTED, Level.STREET)
    assert case.rehandle_count == 1 and not case.awaiting_rehandle and case.closed_at is None
    assert case.satisfaction == "unsatisfied"  # the record of this round's call-back
    evaluate, rehandle = CaseEvent.objects.filter(case=case).order_by("-id")[:2][::-1]
    assert (evaluate.transition, evaluate.data["satisfaction"]) == ("evaluate", "unsatisfied")
    assert (rehandle.transition, rehandle.from_state, rehandle.to_state) == ("rehandle", "closed", "accepted")
    assert rehandle.data["automatic"] is True and rehandle.comment == "摊点又回来了"
    # the dispatcher is told, and the dispatch step has a clock again
    assert visible(user=cast.dispatcher).filter(link=case.url, title__contains=case.number).exists()
    assert case.deadlines.filter(step="dispatch", closed_at__isnull=True).exists()
    # the dispatcher re-dispatches, prefilled with the last lead; a new round, the earlier one stays on record
    assert services.suggest_departments(case=case) == [cast.d["cgzf"]]
    case = services.case_transition(
        case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["zj"]], comment="换部门"
    )
    rounds = sorted(WorkOrder.objects.filter(case=case).values_list("round", "department__kind", "state"))
    assert rounds == [(1, "cgzf", WorkOrderState.DONE), (2, "zj", WorkOrderState.ASSIGNED)]
    # the 重办率's numerator: cases with a rehandle event (or rehandle_count > 0)
    assert Case.objects.filter(events__transition="rehandle").distinct().count() == 1


def test_a_failed_verification_after_a_rehandle_reworks_only_the_new_round(cast, category):
    """The same department re-dispatched in round 2: a failed verification sends back round 2's order only (round
    1's stays done), where reworking both would give the department two live orders of one case."""
    case = finished(cast, category)
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    case = services.case_transition(case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]])
    again = case.work_orders.get(round=2)
    services.work_order_step(work_order=again, action="sign", actor=cast.cg)
    services.work_order_step(work_order=again, action="complete", actor=cast.cg, result="再次处置")
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.PENDING_VERIFICATION
    case = services.case_transition(case=case, action="verify_failed", actor=cast.worker, comment="仍有摊点")
    rounds = sorted(WorkOrder.objects.filter(case=case).values_list("round", "state"))
    assert rounds == [(1, WorkOrderState.DONE), (2, WorkOrderState.SIGNED)]
    assert case.state == State.IN_PROGRESS


def test_one_evaluation_per_closing_round(cast, category):
    case = finished(cast, category)
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    assert not services.can_fire(cast.hotline, case, "evaluate")  # not closed any more
    case = services.case_transition(case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]])
    order = case.work_orders.get(round=2)
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    services.work_order_step(work_order=order, action="complete", actor=cast.cg, result="彻底清理")
    case = services.case_transition(case=Case.objects.get(pk=case.pk), action="verify_ok", actor=cast.worker)
    case = services.case_transition(case=case, action="close", actor=cast.dispatcher)
    assert case.satisfaction == "" and services.can_fire(cast.hotline, case, "evaluate")
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="satisfied")
    assert case.state == State.CLOSED and case.rehandle_count == 1
    with pytest.raises(services.TransitionNotAllowed):
        services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    assert list(case.events.filter(transition="evaluate").values_list("data__satisfaction", flat=True)) == [
        "unsatisfied",
        "satisfied",
    ]


def test_satisfied_call_back_changes_nothing(cast, category):
    case = finished(cast, category)
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="basically")
    assert case.state == State.CLOSED and case.rehandle_count == 0 and not case.awaiting_rehandle
    assert not case.events.filter(transition="rehandle").exists()


def test_settled_locally_goes_back_to_community_triage(cast, category):
    case = report(cast, category)
    case = services.case_transition(case=case, action="settle", actor=cast.community, comment="已调解")
    case = services.case_transition(case=case, action="verify_ok", actor=cast.worker)
    case = services.case_transition(case=case, action="close", actor=cast.dispatcher)
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    assert (case.state, case.level, case.rehandle_count) == (State.REPORTED, Level.COMMUNITY, 1)
    assert case in selectors.triage_queue(user=cast.community)


def test_queued_rehandle_waits_for_the_dispatcher(cast, category, settings):
    settings.GOVGRID_REHANDLE_ON_UNSATISFIED = "queue"
    case = finished(cast, category)
    case = services.case_transition(
        case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied", comment="没修好"
    )
    assert case.state == State.CLOSED and case.awaiting_rehandle and case.rehandle_count == 0
    assert case in selectors.street_queue(user=cast.dispatcher)
    assert case not in selectors.street_queue(user=cast.other_dispatcher)
    assert visible(user=cast.dispatcher).filter(link=case.url).exists()
    assert not services.can_fire(cast.hotline, case, "rehandle")
    assert services.can_fire(cast.dispatcher, case, "rehandle") and services.can_fire(
        cast.dispatcher, case, "keep_closed"
    )
    with pytest.raises(ValidationError):
        services.case_transition(case=case, action="rehandle", actor=cast.dispatcher)  # says why
    with pytest.raises(PermissionDenied):
        services.case_transition(case=case, action="rehandle", actor=cast.hotline, comment="x")
    case = services.case_transition(case=case, action="rehandle", actor=cast.dispatcher, comment="居民仍不满意，重办")
    assert (case.state, case.rehandle_count, case.awaiting_rehandle) == (State.ACCEPTED, 1, False)
    with pytest.raises(services.TransitionNotAllowed):
        services.case_transition(case=case, action="rehandle", actor=cast.dispatcher, comment="again")


def test_queued_rehandle_can_be_declined(cast, category, settings):
    settings.GOVGRID_REHANDLE_ON_UNSATISFIED = "queue"
    case = finished(cast, category)
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    case = services.case_transition(case=case, action="keep_closed", actor=cast.dispatcher, comment="诉求不合理")
    assert case.state == State.CLOSED and not case.awaiting_rehandle and case.rehandle_count == 0
    assert case not in selectors.street_queue(user=cast.dispatcher)


# --- reported again -----------------------------------------------------------------------------------------


def test_reported_again_joins_the_open_case(cast, category, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = report(cast, category)
    version = case.version
    again = services.case_transition(
        case=case,
        action="report_again",
        actor=cast.community,
        comment="又有人占道",
        lat=30.01,
        lng=104.01,
        address="幸福路3号",
        files=[png()],
    )
    assert again.state == State.REPORTED and again.reported_again_count == 1 and again.version == version + 1
    event = again.events.get(transition="report_again")
    assert event.actor == cast.community and event.comment == "又有人占道"
    assert (event.data["lat"], event.data["address"], event.data["reporter"]) == (30.01, "幸福路3号", "community")
    assert Attachment.objects.filter(event=event).count() == 1
    assert Case.objects.count() == 1


def test_reported_again_is_refused_outside_the_grid_or_when_closed(cast, category):
    case = report(cast, category)
    with pytest.raises(PermissionDenied):
        services.case_transition(case=case, action="report_again", actor=cast.worker2, comment="x")
    with pytest.raises(ValidationError):
        services.case_transition(case=case, action="report_again", actor=cast.worker, comment="")
    with pytest.raises(ValidationError):
        services.case_transition(case=case, action="report_again", actor=cast.worker, comment="x", lat=30.0)
    services.case_transition(case=case, action="cancel", actor=cast.community, comment="无效")
    with pytest.raises(services.TransitionNotAllowed):
        services.case_transition(
            case=Case.objects.get(pk=case.pk), action="report_again", actor=cast.worker, comment="x"
        )
    assert not CaseEvent.objects.filter(transition="report_again").exists()


# --- departments nobody staffs ------------------------------------------------------------------------------


def test_dispatch_picker_counts_members_and_warns_about_unstaffed(cast, category):
    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    departments = selectors.dispatch_departments(case=case)
    counts = {d.kind: d.active_members for d in departments}
    assert counts == {"cgzf": 1, "zj": 1, "scjg": 1, "pcs": 0}
    form = forms.DispatchForm(action="dispatch", case=case, departments=departments)
    labels = dict(form.fields["lead"].choices)
    assert labels[cast.d["pcs"].pk] == "派出所 · nobody staffs it"
    assert labels[cast.d["cgzf"].pk] == "城管执法局 · 1 member"
    data = {"version": case.version, "lead": cast.d["pcs"].pk, "assisting": [cast.d["zj"].pk]}
    form = forms.DispatchForm(data, action="dispatch", case=case, departments=departments)
    assert not form.is_valid() and "confirm_unstaffed" in form.errors
    assert "派出所" in form.errors["confirm_unstaffed"][0]
    form = forms.DispatchForm(
        {**data, "confirm_unstaffed": "on"}, action="dispatch", case=case, departments=departments
    )
    assert form.is_valid(), form.errors
    both = {**data, "assisting": [cast.d["pcs"].pk]}
    assert "assisting" in forms.DispatchForm(both, action="dispatch", case=case, departments=departments).errors


def test_dispatching_to_an_unstaffed_department_tells_its_region_admin(
    cast, category, django_capture_on_commit_callbacks
):
    admin = UserFactory(username="district-admin")
    grant_role(admin, "region_admin", cast.city.d1)
    street_admin = UserFactory(username="street-admin")
    grant_role(street_admin, "region_admin", cast.city.s11)
    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_transition(
            case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["pcs"], cast.d["cgzf"]]
        )
    told = Notification.objects.get(title__contains="派出所")  # one notice to the admins of 派出所's street
    assert told.unit == f"r:{cast.city.s11.pk}:manage_department"
    assert visible(user=street_admin).filter(pk=told.pk).exists()
    assert not visible(user=admin).filter(pk=told.pk).exists()  # the nearest admins, not those above
    assert not Notification.objects.filter(title__contains="城管执法局").exists()


# --- the pages ----------------------------------------------------------------------------------------------


def test_report_form_adds_the_report_to_the_nearby_case(cast, category, settings, tmp_path):
    from django.urls import reverse

    from tests.cases.test_views import client_for

    settings.MEDIA_ROOT = tmp_path
    g = cast.city.g1111
    case = report(cast, category, lat=g.centre_lat, lng=g.centre_lng)
    client = client_for(cast.worker)
    form = {
        "category": category.pk,
        "title": "占道又来了",
        "description": "同一摊点",
        "source": "patrol",
        "lat": g.centre_lat,
        "lng": g.centre_lng,
        "address": "幸福路",
    }
    warned = client.post(reverse("case_report"), form)
    assert warned.status_code == 200 and 'data-testid="report-again"' in warned.text
    assert reverse("case_report_again", args=[case.pk]) in warned.text
    added = client.post(reverse("case_report_again", args=[case.pk]), {**form, "files": [png()]})
    assert added.status_code == 302 and added["Location"] == reverse("case_detail", args=[case.pk])
    case.refresh_from_db()
    assert case.reported_again_count == 1 and Case.objects.count() == 1
    page = client.get(reverse("case_detail", args=[case.pk]))
    assert 'data-testid="reported-again"' in page.text and 'data-testid="event-report_again"' in page.text
    assert "占道又来了" in page.text
    # someone of another grid gets 404 for a case they cannot see; an empty report is refused with the form kept
    assert client_for(cast.worker2).post(reverse("case_report_again", args=[case.pk]), form).status_code == 404
    empty = client.post(reverse("case_report_again", args=[case.pk]), {**form, "title": "", "description": ""})
    assert empty.status_code == 400 and 'data-testid="again-errors"' in empty.text
    assert 'value="幸福路"' in empty.text


def test_rehandle_pages_prefill_the_last_lead(cast, category):
    from django.urls import reverse

    from tests.cases.test_views import act, client_for

    case = finished(cast, category)
    assert 'data-testid="action-evaluate"' in client_for(cast.hotline).get(case.url).text
    assert act(cast.hotline, case, "evaluate", {"satisfaction": "unsatisfied", "comment": "不满意"}).status_code == 302
    assert 'data-testid="action-evaluate"' not in client_for(cast.hotline).get(case.url).text
    form = client_for(cast.dispatcher).get(
        reverse("case_action", args=[case.pk, "dispatch"]), headers={"HX-Request": "true"}
    )
    assert form.status_code == 200
    assert f'<option value="{cast.d["cgzf"].pk}" selected>城管执法局 · 1 member</option>' in form.text
    assert "派出所 · nobody staffs it" in form.text
    detail = client_for(cast.dispatcher).get(case.url)
    assert 'data-testid="rehandled"' in detail.text and 'data-testid="event-rehandle"' in detail.text
