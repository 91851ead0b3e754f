from cases import services
from cases.models import CaseEvent
from cases.workflow import State, WorkOrderState


def test_the_whole_loop(cast, category):
    p = cast.people
    case = services.case_report(reporter=p["worker"], category=category, title="占道", region=cast.city.g1111)
    assert case.state == State.REPORTED and case.number.startswith("519901-")
    case = services.case_transition(case=case, action="call_street", actor=p["community"], comment="需街道协调")
    case = services.case_transition(case=case, action="accept", actor=p["dispatcher"])
    case = services.case_transition(
        case=case, action="dispatch", actor=p["dispatcher"], departments=[cast.d["cgzf"], cast.d["zj"]]
    )
    orders = {o.department.kind: o for o in case.work_orders.all()}
    services.work_order_step(work_order=orders["zj"], action="refuse", actor=p["zj"], refusal_reason="not_our_duty")
    case = services.case_transition(case=case, action="redispatch", actor=p["dispatcher"], departments=[cast.d["scjg"]])
    orders = {o.department.kind: o for o in case.work_orders.exclude(state=WorkOrderState.CANCELLED)}
    for kind, who in (("cgzf", "cg"), ("scjg", "scjg")):
        services.work_order_step(work_order=orders[kind], action="sign", actor=p[who])
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    for kind, who in (("cgzf", "cg"), ("scjg", "scjg")):
        services.work_order_step(work_order=orders[kind], action="complete", actor=p[who], result="已处置")
    case.refresh_from_db()
    assert case.state == State.PENDING_VERIFICATION
    case = services.case_transition(case=case, action="verify_failed", actor=p["worker"], comment="仍有摊点")
    assert case.state == State.IN_PROGRESS
    for kind, who in (("cgzf", "cg"), ("scjg", "scjg")):
        services.work_order_step(work_order=orders[kind], action="complete", actor=p[who], result="再次处置")
    case = services.case_transition(case=case, action="verify_ok", actor=p["worker"])
    case = services.case_transition(case=case, action="close", actor=p["dispatcher"])
    assert case.state == State.CLOSED
    assert CaseEvent.objects.filter(case=case).count() == 15
