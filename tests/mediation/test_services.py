"""The ledger's services: each transition, refusals, conflicts, bad input, the case's timeline and closing."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from cases.models import CaseEvent
from cases.workflow import State as CaseState
from mediation import services
from mediation.models import Agreement, DisputeEvent, DisputeParty, FollowUp, HandoverTarget, Kind, Side
from mediation.workflow import Status
from parties import crypto

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def opened(med):
    return services.dispute_open_from_case(actor=med.worker, case=med.case)


def mediate(med, dispute):
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    services.dispute_session_record(
        actor=med.mediator, dispute=dispute, held_on=dt.date.today(), notes="第一次调解：双方陈述", place="社区调解室"
    )


def test_open_from_case_copies_the_case_and_notes_its_timeline(med):
    dispute = opened(med)
    assert dispute.status == Status.OPEN and dispute.region == med.city.g1111 and dispute.case == med.case
    assert dispute.kind == Kind.NEIGHBOURS and dispute.number.startswith("TJ-")
    parties = list(DisputeParty.objects.filter(dispute=dispute).order_by("id"))
    assert [(p.side, p.label) for p in parties] == [(Side.APPLICANT, "张建国"), (Side.RESPONDENT, "李四")]
    typed = parties[1]
    assert typed.phone_mask == "139****5678" and crypto.decrypt(typed.phone_enc) == "13912345678"
    assert typed.phone_hash == crypto.digest("phone", "13912345678")
    note = CaseEvent.objects.filter(case=med.case, transition="note").get()
    assert dispute.number in note.comment and note.data["link"] == dispute.get_absolute_url()
    assert DisputeEvent.objects.filter(dispute=dispute, action="open", to_status=Status.OPEN).exists()
    with pytest.raises(ValidationError):
        opened(med)  # one dispute per case


def test_only_a_dispute_category_case_opens_one(med):
    from cases import services as case_services
    from cases.models import Category

    other = case_services.case_report(
        reporter=med.worker, category=Category.objects.get(code="csgl-zdjy"), title="占道", region=med.city.g1111
    )
    with pytest.raises(ValidationError):
        services.dispute_open_from_case(actor=med.worker, case=other)


def test_opening_is_refused_outside_ones_grid(med):
    with pytest.raises(PermissionDenied):
        services.dispute_open(actor=med.worker, region=med.city.g1112, kind=Kind.FAMILY, title="家事")
    with pytest.raises(PermissionDenied):
        services.dispute_open(actor=med.nobody, region=med.city.g1111, kind=Kind.FAMILY, title="家事")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "gossip"}, "kind"),
        ({"title": "  "}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"place": "a\x00"}, "place"),
    ],
)
def test_bad_input_names_the_field(med, changes, field):
    kwargs = {"actor": med.mediator, "region": med.city.g1111, "kind": Kind.FAMILY, "title": "家事"} | changes
    with pytest.raises(ValidationError) as err:
        services.dispute_open(**kwargs)
    assert field in err.value.message_dict


def test_the_region_must_be_a_grid(med):
    with pytest.raises(ValidationError):
        services.dispute_open(actor=med.mediator, region=med.city.c111, kind=Kind.FAMILY, title="家事")


def test_sessions_agreement_follow_ups_and_the_case_closes(med):
    dispute = opened(med)
    mediate(med, dispute)
    services.dispute_session_record(actor=med.mediator, dispute=dispute, held_on=dt.date.today(), notes="第二次")
    dispute.refresh_from_db()
    assert dispute.status == Status.MEDIATING and dispute.sessions.count() == 2
    agreement = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="楼上维修防水，赔偿800元")
    dispute.refresh_from_db()
    assert dispute.status == Status.AGREED and dispute.settled_at is not None
    assert sorted(FollowUp.objects.filter(agreement=agreement).values_list("days", flat=True)) == [30, 90]
    med.case.refresh_from_db()
    assert med.case.state == CaseState.CLOSED
    transitions = list(CaseEvent.objects.filter(case=med.case).values_list("transition", flat=True))
    assert transitions[-3:] == ["settle", "verify_ok", "close"]
    assert "note" in transitions
    # The 30-day follow-up holds; the 90-day one makes it held.
    f30, f90 = FollowUp.objects.filter(agreement=agreement).order_by("days")
    services.follow_up_record(actor=med.mediator, follow_up=f30, outcome="held", notes="已维修")
    dispute.refresh_from_db()
    assert dispute.status == Status.AGREED
    services.follow_up_record(actor=med.mediator, follow_up=f90, outcome="held")
    dispute.refresh_from_db()
    agreement.refresh_from_db()
    assert dispute.status == Status.HELD and agreement.state == Agreement.State.HELD
    with pytest.raises(services.ActionNotAllowed):
        services.follow_up_record(actor=med.mediator, follow_up=f90, outcome="held")


def test_fell_apart_reopens_and_counts(med):
    dispute = opened(med)
    mediate(med, dispute)
    agreement = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="条款")
    f30 = FollowUp.objects.get(agreement=agreement, days=30)
    with pytest.raises(ValidationError):
        services.follow_up_record(actor=med.mediator, follow_up=f30, outcome="fell_apart")  # say what happened
    services.follow_up_record(actor=med.mediator, follow_up=f30, outcome="fell_apart", notes="一方反悔")
    dispute.refresh_from_db()
    assert dispute.status == Status.MEDIATING and dispute.fell_apart_count == 1
    assert FollowUp.objects.get(agreement=agreement, days=90).cancelled
    second = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="新条款")
    f30b = FollowUp.objects.get(agreement=second, days=30)
    services.follow_up_record(actor=med.mediator, follow_up=f30b, outcome="fell_apart", notes="又反悔")
    dispute.refresh_from_db()
    assert dispute.fell_apart_count == 2
    assert CaseEvent.objects.filter(case=med.case, transition="note", comment__contains="fell apart").count() == 2


def test_refusals(med):
    dispute = opened(med)
    with pytest.raises(PermissionDenied):  # a grid worker opens, a mediator mediates
        services.dispute_session_record(actor=med.worker, dispute=dispute, held_on=dt.date.today(), notes="x")
    with pytest.raises(PermissionDenied):
        services.dispute_agree(actor=med.other_mediator, dispute=dispute, terms="x")
    with pytest.raises(ValidationError):
        services.dispute_session_record(
            actor=med.mediator, dispute=dispute, held_on=dt.date.today() + dt.timedelta(days=1), notes="x"
        )
    services.dispute_end(actor=med.mediator, dispute=dispute, action="withdraw", comment="申请人撤回")
    dispute.refresh_from_db()
    assert dispute.status == Status.WITHDRAWN
    with pytest.raises(services.ActionNotAllowed):
        services.dispute_agree(actor=med.mediator, dispute=dispute, terms="x")
    with pytest.raises(services.ActionNotAllowed):
        services.dispute_hand_over(actor=med.mediator, dispute=dispute, target="street", reason="x")


def test_stale_version_is_a_conflict(med):
    dispute = opened(med)
    seen = dispute.version
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator, expected_version=seen)
    with pytest.raises(services.StaleDispute):
        services.dispute_agree(actor=med.mediator, dispute=dispute, terms="x", expected_version=seen)


def test_invited_mediator_sees_and_mediates(med):
    from mediation import selectors

    dispute = opened(med)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.far)
    link = dispute.mediator_links.get(user=med.far)
    assert link.invited
    assert selectors.dispute_get(user=med.far, pk=dispute.pk) == dispute
    services.dispute_session_record(actor=med.far, dispute=dispute, held_on=dt.date.today(), notes="受邀调解")
    from notifications.models import Notification

    assert Notification.objects.filter(recipient=med.far, kind="assigned", link=dispute.get_absolute_url()).exists()


def test_handed_up_to_the_street_its_committee_mediates_and_the_case_closes_when_it_settles(med):
    from notifications.models import Notification
    from tests.factories import UserFactory, grant_role

    street_mediator = UserFactory(username="street-mediator")
    grant_role(street_mediator, "peoples_mediator", med.city.s11, actor=med.actor)
    dispute = opened(med)
    mediate(med, dispute)
    services.dispute_end(actor=med.mediator, dispute=dispute, action="no_agreement", comment="分歧较大")
    handover = services.dispute_hand_over(
        actor=med.mediator, dispute=dispute, target=HandoverTarget.STREET, reason="社区调解不成"
    )
    dispute.refresh_from_db()
    # still in the ledger, now held by the street: mediated there, not ended
    assert dispute.status == Status.MEDIATING and dispute.level == 3 and dispute.ended_at is None
    assert "街道11" in handover.receiver_label
    assert not dispute.mediator_links.exists()  # the community's mediators stepped back (the event names them)
    event = DisputeEvent.objects.get(dispute=dispute, action="hand_up")
    assert event.data["target"] == "street" and event.data["mediators_before"]
    notes = CaseEvent.objects.filter(case=med.case, transition="note").values_list("comment", flat=True)
    assert any("handed over" in n and "社区调解不成" in n for n in notes)
    med.case.refresh_from_db()
    assert med.case.state != CaseState.CLOSED  # the street's committee has it now
    # the community's mediator may no longer act on it; the street's is told and takes it up
    assert not services.may_mediate(med.mediator, dispute)
    with pytest.raises(PermissionDenied):
        services.dispute_session_record(actor=med.mediator, dispute=dispute, held_on=dt.date.today(), notes="再谈")
    assert services.may_mediate(street_mediator, dispute)
    assert Notification.objects.filter(link=dispute.get_absolute_url(), unit__endswith=":mediate_dispute").exists()
    with pytest.raises(services.ActionNotAllowed):
        services.dispute_hand_over(actor=street_mediator, dispute=dispute, target="street", reason="再移交")
    services.dispute_session_record(actor=street_mediator, dispute=dispute, held_on=dt.date.today(), notes="街道调解")
    services.dispute_agree(actor=street_mediator, dispute=dispute, terms="双方各让一步")
    med.case.refresh_from_db()
    assert med.case.state == CaseState.CLOSED
    # settled, but not at community level; counted as handed over
    from mediation import selectors

    today = dt.date.today()
    figures = selectors.dispute_figures(user=med.supervisor, region=med.city.d1, start=today, end=today)
    assert figures["settled"] == 1 and figures["settled_locally"] == 0 and figures["handed_over"] == 1


def test_hand_over_to_a_department_and_to_the_court(med):
    dispute = opened(med)
    with pytest.raises(ValidationError) as err:
        services.dispute_hand_over(actor=med.mediator, dispute=dispute, target="department", reason="行政调解")
    assert "department" in err.value.message_dict
    services.dispute_hand_over(
        actor=med.mediator, dispute=dispute, target="department", reason="物业归口", department=med.dept
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.HANDED_OVER and dispute.handovers.get().receiver_label == "住建局"
    other = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.LABOUR, title="欠薪")
    with pytest.raises(ValidationError):
        services.dispute_hand_over(actor=med.mediator, dispute=other, target="court", reason="司法确认")
    services.dispute_hand_over(
        actor=med.mediator, dispute=other, target="court", reason="司法确认", receiver="青石区人民法院"
    )
    assert other.handovers.get().receiver_label == "青石区人民法院"


def test_case_held_elsewhere_gets_a_note_not_a_close(med):
    from cases import services as case_services

    case_services.case_transition(case=med.case, action="call_street", actor=med.community, comment="需街道协调")
    dispute = opened(med)
    mediate(med, dispute)
    services.dispute_agree(actor=med.mediator, dispute=dispute, terms="条款")
    med.case.refresh_from_db()
    assert med.case.state == CaseState.CALLED
    assert CaseEvent.objects.filter(case=med.case, comment__contains="the level holding the case").exists()


def test_parties_added_typed_and_refused(med):
    dispute = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.FAMILY, title="家事")
    with pytest.raises(ValidationError) as err:
        services.dispute_party_add(actor=med.mediator, dispute=dispute, side="applicant", name="王五", phone="123")
    assert "phone" in err.value.message_dict
    with pytest.raises(ValidationError):
        services.dispute_party_add(actor=med.mediator, dispute=dispute, side="judge", name="王五")
    with pytest.raises(ValidationError):
        services.dispute_agree(actor=med.mediator, dispute=dispute, terms="x")  # no parties yet
    party = services.dispute_party_add(
        actor=med.mediator, dispute=dispute, side="applicant", name="王五", phone="13712345678", claim="归还借款"
    )
    assert party.phone_mask == "137****5678" and "13712345678" not in str(
        DisputeEvent.objects.filter(dispute=dispute).values_list("data", flat=True)
    )
    with pytest.raises(PermissionDenied):
        services.dispute_party_add(actor=med.other_mediator, dispute=dispute, side="respondent", name="赵六")


def test_events_are_immutable(med):
    dispute = opened(med)
    event = DisputeEvent.objects.filter(dispute=dispute).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        DisputeEvent.objects.filter(pk=event.pk).update(comment="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        DisputeEvent.objects.filter(pk=event.pk).delete()


def test_reveal_writes_the_access_log(med):
    from parties.models import AccessLog

    dispute = opened(med)
    typed = dispute.dispute_parties.get(side="respondent")
    with pytest.raises(PermissionDenied):
        services.dispute_party_reveal(actor=med.mediator, party=typed)  # the role sees masked numbers
    assert services.dispute_party_reveal(actor=med.community, party=typed) == "13912345678"
    assert AccessLog.objects.filter(user=med.community, target_type="dispute_party", target_id=typed.pk).count() == 1
