"""Every (state, transition, role): allowed or refused, as the workflow table in DESIGN.md says."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

from cases import services
from cases.models import Case, WorkOrder
from cases.workflow import TRANSITIONS, State, WorkOrderState, after_work_orders
from grids.codes import Level

ROLES = [
    "worker",
    "worker2",
    "community",
    "dispatcher",
    "other_dispatcher",
    "supervisor",
    "city_supervisor",
    "hotline",
    "cg",
    "outsider",
]
SUPERVISORS = {"supervisor", "city_supervisor"}
STREET = {"dispatcher"} | SUPERVISORS

# Who may fire each transition on a case of grid g1111 held at its usual level (DESIGN.md, "The workflow").
WHO = {
    "settle": {"community"},
    "call_street": {"community"},
    "accept": STREET,
    "return": STREET,
    "dispatch": STREET,
    "redispatch": STREET,
    "verify_ok": {"worker", "community"},
    "verify_failed": {"worker", "community"},
    "close": STREET,
    "escalate": STREET,
    "cancel": STREET,
    "mark_duplicate": STREET,
    "reopen": STREET,
    "evaluate": STREET | {"hotline"},
    "assign": STREET,
    "rehandle": STREET,
    "keep_closed": STREET,
    "report_again": {"worker", "community"},
    "supervise": SUPERVISORS,
    "suspend": STREET,
    "resume": STREET,
}
# Held at the community, its staff may also escalate and cancel; held at the district, the street may not act.
WHO_AT_COMMUNITY = {
    "escalate": STREET | {"community"},
    "cancel": STREET | {"community"},
    "mark_duplicate": STREET | {"community"},
}
LEVEL_OF = {State.REPORTED: Level.COMMUNITY, State.ESCALATED: Level.DISTRICT}


def make_case(cast, category, state: str, action: str = "") -> Case:
    from cases import deadlines

    case = services.case_report(reporter=cast.worker, category=category, title=f"in {state}", region=cast.city.g1111)
    if action in ("suspend", "resume"):
        deadlines.open_step(case=case, step="accept")
        if action == "resume":
            deadlines.pause(case=case)
    level = LEVEL_OF.get(state, Level.STREET)
    # test setup only; an unsatisfied call-back waits for the dispatcher's decision before rehandle/keep_closed
    Case.objects.filter(pk=case.pk).update(
        state=state, level=level, awaiting_rehandle=action in ("rehandle", "keep_closed")
    )
    if state in (State.DISPATCHED, State.IN_PROGRESS, State.PENDING_VERIFICATION, State.VERIFIED, State.CLOSED):
        wo_state = {State.DISPATCHED: WorkOrderState.ASSIGNED, State.IN_PROGRESS: WorkOrderState.SIGNED}.get(
            state, WorkOrderState.DONE
        )
        WorkOrder.objects.create(case=case, department=cast.d["cgzf"], is_lead=True, state=wo_state)
    return Case.objects.select_related("region", "category").get(pk=case.pk)


def inputs(cast, category, action: str) -> dict:
    data = {"comment": "理由"}
    if action in ("dispatch", "redispatch"):
        data["departments"] = [cast.d["zj"]]
    if action == "mark_duplicate":
        data["duplicate_of"] = services.case_report(
            reporter=cast.worker, category=category, title="原件", region=cast.city.g1111
        )
    if action == "evaluate":
        data["satisfaction"] = "satisfied"
    if action == "assign":
        data["assignee"] = cast.dispatcher
    return data


def expected_roles(state: str, action: str) -> set[str]:
    if state not in TRANSITIONS[action].sources:
        return set()
    if LEVEL_OF.get(state) == Level.COMMUNITY and action in WHO_AT_COMMUNITY:
        return WHO_AT_COMMUNITY[action]
    if LEVEL_OF.get(state) == Level.DISTRICT and TRANSITIONS[action].at == "holder":
        return WHO[action] - {"dispatcher", "community"}
    return WHO[action]


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", list(State.values))
def test_every_state_transition_and_role(cast, category, state, action):
    case = make_case(cast, category, state, action)
    allowed = expected_roles(state, action)
    outcomes = {}
    for role in ROLES:
        actor = cast.people[role]
        data = inputs(cast, category, action)
        assert services.can_fire(actor, case, action) is (role in allowed), (role, state, action)
        try:
            with transaction.atomic():
                fired = services.case_transition(case=case, action=action, actor=actor, **data)
                outcomes[role] = "ok"
                assert fired.version == case.version + 1
                transaction.set_rollback(True)
        except services.TransitionNotAllowed:
            outcomes[role] = "state"
        except PermissionDenied:
            outcomes[role] = "perm"
    assert {r for r, o in outcomes.items() if o == "ok"} == allowed, outcomes
    if state not in TRANSITIONS[action].sources:
        assert set(outcomes.values()) == {"state"}
    assert Case.objects.get(pk=case.pk).state == state  # every attempt rolled back


@pytest.mark.parametrize(
    ("step", "wo_state"),
    [
        ("sign", "assigned"),
        ("refuse", "assigned"),
        ("complete", "signed"),
        ("request_extension", "signed"),
        ("assign", "signed"),
    ],
)
def test_work_order_steps_only_by_the_departments_members(cast, category, step, wo_state):
    from datetime import timedelta

    from django.utils import timezone

    case = make_case(cast, category, State.DISPATCHED)
    order = case.work_orders.get()
    WorkOrder.objects.filter(pk=order.pk).update(state=wo_state)
    kwargs = {
        "refuse": {"refusal_reason": "not_our_duty"},
        "complete": {"result": "完成"},
        "request_extension": {"until": timezone.now() + timedelta(days=2), "comment": "需要材料"},
        "assign": {"assignee": cast.cg},
    }.get(step, {})
    for role in ["zj", "scjg", "dispatcher", "worker", "outsider"]:
        with pytest.raises(PermissionDenied):
            services.work_order_step(work_order=order, action=step, actor=cast.people[role], **kwargs)
    with transaction.atomic():
        done = services.work_order_step(work_order=order, action=step, actor=cast.cg, **kwargs)
        assert done.pk == order.pk
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["assigned", "assigned"], None),
        (["signed", "assigned"], None),
        (["signed", "signed"], "in_progress"),
        (["signed", "done"], "in_progress"),
        (["done", "done"], "pending_verification"),
        (["done", "refused"], None),
        (["done", "cancelled"], "pending_verification"),
        ([], None),
    ],
)
def test_coordinated_resolution_rule(states, expected):
    assert after_work_orders(states) == expected


def test_the_table_is_complete_and_sane():
    assert set(WHO) == set(TRANSITIONS)
    for t in TRANSITIONS.values():
        assert t.sources, t.code
        assert t.perm.startswith("cases."), t.code
        assert t.target is None or t.target in State.values
    assert not TRANSITIONS["close"].sources & {State.CLOSED, State.CANCELLED}


@pytest.mark.parametrize(
    ("action", "facts", "holds"),
    [
        ("evaluate", {"satisfaction": "", "awaiting_rehandle": False}, True),
        ("evaluate", {"satisfaction": "satisfied", "awaiting_rehandle": False}, False),
        ("rehandle", {"satisfaction": "unsatisfied", "awaiting_rehandle": True}, True),
        ("rehandle", {"satisfaction": "unsatisfied", "awaiting_rehandle": False}, False),
        ("keep_closed", {"satisfaction": "unsatisfied", "awaiting_rehandle": True}, True),
        ("keep_closed", {"satisfaction": "", "awaiting_rehandle": False}, False),
        ("close", {"satisfaction": "satisfied", "awaiting_rehandle": True}, True),
    ],
)
def test_conditions_of_the_table(action, facts, holds):
    from cases.workflow import condition_holds

    assert condition_holds(TRANSITIONS[action], **facts) is holds


def test_a_second_evaluation_of_the_same_round_is_refused(cast, category):
    case = make_case(cast, category, State.CLOSED, "evaluate")
    case = services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="satisfied")
    assert not services.can_fire(cast.hotline, case, "evaluate")
    with pytest.raises(services.TransitionNotAllowed):
        services.case_transition(case=case, action="evaluate", actor=cast.hotline, satisfaction="unsatisfied")
    assert Case.objects.get(pk=case.pk).satisfaction == "satisfied"
