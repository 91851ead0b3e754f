"""Case pages: thin views that parse input, call one service or selector, and render.

Each page shows only what the viewer may see (selectors) and only the actions they may take
(``services.can_fire``); every POST goes through ``services.case_transition``, ``services.work_order_step`` or
``services.case_report``, which check everything again. A step on a case that changed meanwhile answers 409 with
the fresh case page; ``PermissionDenied`` renders 403; what the viewer may not see is 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from grids import access
from grids.codes import Level
from grids.forms import apply_errors, call_service

from . import calendar as business_calendar
from . import case_parties, extensions, forms, selectors, services
from .deadlines import light_of
from .models import CalendarDay, Case, PartyRole, WorkOrder
from .workflow import TRANSITIONS, Satisfaction, State, available_steps

CONFLICT = gettext_lazy("This case changed while you were looking at it; reload.")
NOT_NOW = gettext_lazy("This is not possible on the case as it is now.")
PAGE_SIZE = 30
WORKING = (State.DISPATCHED, State.IN_PROGRESS)
EVENT_LABELS = {
    "report": gettext_lazy("Reported"),
    "wo_sign": gettext_lazy("Work order signed"),
    "wo_refuse": gettext_lazy("Work order refused"),
    "wo_complete": gettext_lazy("Work order completed"),
    "wo_request_extension": gettext_lazy("More time asked for"),
    "wo_grant_extension": gettext_lazy("Extension granted"),
    "wo_deny_extension": gettext_lazy("Extension denied"),
    "wo_assign": gettext_lazy("Work order assigned"),
    "party_add": gettext_lazy("Party named"),
    "party_remove": gettext_lazy("Party removed"),
    "from_visit": gettext_lazy("Opened from a visit"),
    "note": gettext_lazy("Note"),
}
WORK_ORDER_LABELS = {
    "sign": gettext_lazy("Sign for it"),
    "refuse": gettext_lazy("Refuse"),
    "complete": gettext_lazy("Report the result"),
    "request_extension": gettext_lazy("Ask for more time"),
    "assign": gettext_lazy("Assign to a member"),
    "grant_extension": gettext_lazy("Grant the extension"),
    "deny_extension": gettext_lazy("Deny the extension"),
}
TRIAGE_ACTIONS = ("settle", "call_street", "cancel")
# Steps that need no input: one button (the comment is optional and left out).
QUICK = frozenset({"accept", "close", "sign", "grant_extension", "deny_extension"})


# --- helpers ----------------------------------------------------------------------------------------------


def mask_contact(value: str) -> str:
    """138****0000 for a phone number; the first character and stars for anything else."""
    value = (value or "").strip()
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return f"{value[:1]}***" if value else ""


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or ""
    ok = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if candidate.startswith("/") and ok else default


def _cursor(request: HttpRequest) -> dict[str, str]:
    return {"after": request.GET.get("after", ""), "before": request.GET.get("before", "")}


def _sorted_page(request: HttpRequest, rows, form: forms.SortForm, *, due_key: str = "due_at") -> selectors.Page:
    """One page of ``rows`` in the order chosen on ``form`` (the list's default when none is)."""
    key, descending = selectors.sort_order(form.sort_code(), default=form.default_sort, due_key=due_key)
    return selectors.keyset_page(rows, size=PAGE_SIZE, key=key, descending=descending, **_cursor(request))


def _fire(request: HttpRequest, case: Case, form, fn: Callable[..., Any], /, **kwargs: Any):
    """Run a service for a form: (result, None), or (None, None) with the errors on the form, or
    (None, the 409 page) when the case changed under the viewer."""
    try:
        return fn(**kwargs), None
    except ValidationError as exc:
        apply_errors(form, exc)
        return None, None
    except (services.StaleCase, services.TransitionNotAllowed) as exc:
        fresh = selectors.case_get(user=request.user, pk=case.pk)
        stale = isinstance(exc, services.StaleCase)
        return None, _case_page(request, fresh, status=409, conflict=str(exc), stale=stale)


def _describe(event) -> None:
    t = TRANSITIONS.get(event.transition)
    event.label = t.label if t else EVENT_LABELS.get(event.transition, event.transition)
    event.from_label = State(event.from_state).label if event.from_state in State.values else event.from_state
    event.to_label = State(event.to_state).label if event.to_state in State.values else event.to_state
    if event.from_label == event.to_label:
        event.from_label = ""
    satisfaction = event.data.get("satisfaction") if isinstance(event.data, dict) else None
    event.satisfaction_label = Satisfaction(satisfaction).label if satisfaction in Satisfaction.values else ""


def _action(code: str, form, url: str, label, chips=(), *, version: int | None = None) -> dict[str, Any]:
    """One action offered on a page. A quick action (no input) is one button carrying the case's ``version``; the
    others carry their ``form`` when it is shown at once, or None when it is loaded as the person opens the action
    (htmx, from ``url`` by GET)."""
    return {
        "code": code,
        "label": label,
        "form": form,
        "url": url,
        "chips": chips,
        "version": version,
        "multipart": form is not None and "files" in form.fields,
        "quick": code in QUICK and (form is None or ("files" not in form.fields and not form.errors)),
    }


def _case_action(case: Case, code: str, form, chips=()) -> dict[str, Any]:
    url = reverse("case_action", args=[case.pk, code])
    return _action(code, form, url, TRANSITIONS[code].label, chips, version=case.version)


def _built_now(code: str, bound, open_code: str | None) -> bool:
    """Build this action's form for the page itself: the one being re-shown with its errors, or the one asked for;
    a quick action is a button, every other form waits until it is opened."""
    return code == open_code or getattr(bound, "action", None) == code


def _case_actions(
    user, case: Case, orders: list[WorkOrder], bound=None, clocks=(), open_code: str | None = None
) -> list[dict[str, Any]]:
    """The transitions the viewer may fire now: quick ones as their button, the bound one when re-shown and the one
    asked for (``open_code``) with their forms, the rest as a button that loads the form when opened. Suspending is
    offered while a clock runs, resuming while one is paused (``clocks``: the case's step deadlines)."""
    codes = selectors.case_action_codes(user, case, orders=orders, clocks=list(clocks))
    built = [code for code in codes if _built_now(code, bound, open_code)]
    dispatching = {"dispatch", "redispatch"} & set(built)
    departments = selectors.dispatch_departments(case=case) if dispatching else None
    suggested = services.suggest_departments(case=case) if "dispatch" in built else []
    wanting_chips = [code for code in built if code not in QUICK]  # quick actions take no comment
    chips = (
        selectors.response_templates(categories=[case.category_id], transitions=wanting_chips) if wanting_chips else {}
    )
    actions = []
    for code in codes:
        if code not in built:
            actions.append(_case_action(case, code, None))
            continue
        if bound is not None and getattr(bound, "action", None) == code and isinstance(bound, forms.CaseActionForm):
            form = bound
        else:
            form = forms.case_action_form(
                code,
                case=case,
                user=user,
                departments=departments,
                suggested=suggested if code == "dispatch" else None,
                candidates=selectors.assignee_candidates(case=case) if code == "assign" else None,
            )
        actions.append(_case_action(case, code, form, selectors.templates_for(chips, case.category_id, code)))
    return actions


def _work_order_actions(
    user,
    case: Case,
    order: WorkOrder,
    *,
    member: bool,
    dispatcher: bool,
    bound=None,
    open_code: str | None = None,
) -> list:
    """The steps the viewer may take on one work order (the service checks again); forms as for the case's."""
    if case.state not in WORKING:
        return []
    codes = available_steps(order.state, order.extension_state, member=member, dispatcher=dispatcher)
    order.case = case  # the forms read the version from it
    mine = bound if bound is not None and bound.order.pk == order.pk else None
    result = []
    for code in codes:
        url = reverse("work_order_action", args=[order.pk, code])
        if not _built_now(code, mine, open_code):
            result.append(_action(code, None, url, WORK_ORDER_LABELS[code], version=case.version))
            continue
        form = mine if mine is not None and mine.action == code else forms.work_order_form(code, order=order)
        result.append(_action(code, form, url, WORK_ORDER_LABELS[code], version=case.version))
    return result


def _changed_by(event) -> str:
    """Who changed the case last, when and how: what a person whose page went stale needs to know."""
    who = event.actor.label if event.actor_id else _("the deadline sweep")
    return _("%(who)s changed it at %(time)s (%(what)s). Reload to see the case as it is now.") % {
        "who": who,
        "time": timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M"),
        "what": event.label,
    }


def _case_page(
    request: HttpRequest,
    case: Case,
    *,
    bound=None,
    status: int = 200,
    conflict: str = "",
    stale: bool = False,
    open_code: str | None = None,
    open_order: int | None = None,
) -> HttpResponse:
    user = request.user
    events = selectors.case_events(case=case)
    for event in events:
        _describe(event)
    if stale and events:
        conflict = _changed_by(events[-1])
    orders = selectors.case_work_orders(case=case)
    regions = selectors.case_regions(case=case)
    may_dispatch = selectors.may_see_contact(user=user, case=case)
    my_departments = selectors.department_ids(user)
    for order in orders:
        order.actions = _work_order_actions(
            user,
            case,
            order,
            member=user.is_superuser or order.department_id in my_departments,
            dispatcher=may_dispatch,
            bound=bound if isinstance(bound, forms.WorkOrderActionForm) else None,
            open_code=open_code if open_order == order.pk else None,
        )
    clocks = selectors.case_clocks(case=case)
    actions = _case_actions(user, case, orders, bound=bound, clocks=clocks, open_code=None if open_order else open_code)
    shown = {a["form"] for a in actions} | {a["form"] for o in orders for a in o.actions}
    if bound is not None and bound not in shown and not conflict:
        conflict = str(_("This action is not available to you on this case now."))
    parties = case_parties.case_parties(case=case)
    for party in parties:
        party.case = case  # the free parties' whole numbers follow the case's grid
    context = {
        "case": case,
        "parties": parties,
        "may_edit_parties": case_parties.may_edit_parties(user, case),
        "party_roles": PartyRole.choices,
        "events": events,
        "photos": selectors.case_photos(events),
        "orders": orders,
        "clocks": clocks,
        "regions": regions,
        "holder": next((r for r in regions if r.path == case.holder_path), None),
        "contact": case.reporter_contact if may_dispatch else mask_contact(case.reporter_contact),
        "actions": actions,
        "conflict": conflict,
        "conflict_title": (CONFLICT if stale else NOT_NOW) if status == 409 else "",
        "boundary_json": json.dumps(case.region.boundary) if case.region.boundary else "null",
        "tile_url": settings.GOVGRID_TILE_URL,
        "tile_attribution": settings.GOVGRID_TILE_ATTRIBUTION,
        # What apps above cases show on the page (cases.extensions), e.g. the dispute opened from the case.
        "panels": extensions.render_panels(request, case),
    }
    return render(request, "cases/case_detail.html", context, status=status)


# --- reporting --------------------------------------------------------------------------------------------


def _report_form(request: HttpRequest) -> forms.ReportForm:
    if not access.user_can_anywhere(request.user, "cases.report_case"):
        raise PermissionDenied(_("You may not report cases anywhere."))
    grids = selectors.reportable_grids(user=request.user)
    default = selectors.default_grid(user=request.user, grids=grids)
    return forms.ReportForm(
        request.POST or None,
        request.FILES or None,
        categories=selectors.report_categories(),
        grids=grids,
        initial={"region": default.pk if default else None},
    )


@login_required
@require_POST
def case_report_again(request: HttpRequest, pk: int) -> HttpResponse:
    """再次上报: the report form's "same problem" button adds the report (text, photos, place, reporter) to the
    open case as a "reported again" event instead of making a new case."""
    case = selectors.case_get(user=request.user, pk=pk)
    again = forms.ReportAgainForm(request.POST, request.FILES)
    problems: list[str] = []
    if again.is_valid():
        try:
            services.case_transition(case=case, action="report_again", actor=request.user, **again.service_kwargs())
        except ValidationError as exc:
            problems = exc.messages
        except (services.StaleCase, services.TransitionNotAllowed, PermissionDenied) as exc:
            problems = [str(exc)]
        else:
            messages.success(
                request, _("Your report was added to case %(number)s (reported again).") % {"number": case.number}
            )
            return redirect("case_detail", pk=case.pk)
    else:
        problems = [f"{e}" for errors in again.errors.values() for e in errors]
    form = _report_form(request)
    form.is_valid()
    context = {"form": form, "nearby": [], "had_files": bool(request.FILES), "again_errors": problems}
    return render(request, "cases/report.html", context, status=400)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def _report_json(request: HttpRequest, form: forms.ReportForm) -> HttpResponse:
    """A report sent by the phone's outbox (static/js/outbox.js): JSON in, JSON out, no nearby warning (a draft
    queued offline could not show it). 201 with the case's number, 200 with the first case's number when the
    same draft was sent before, 400 with the errors per field (the draft stays on the phone for editing)."""
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return JsonResponse({"errors": errors}, status=400)
    try:
        case = services.case_report(reporter=request.user, **form.service_kwargs())
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return JsonResponse({"errors": errors}, status=400)
    except PermissionDenied as exc:
        return JsonResponse({"errors": {"__all__": [str(exc)]}}, status=403)
    replayed = getattr(case, "replayed", False)
    return JsonResponse({"number": case.number, "url": case.url, "replayed": replayed}, status=200 if replayed else 201)


def report_token(request: HttpRequest) -> HttpResponse:
    """A CSRF token for the outbox's sends (the service worker has no page to read one from); 401 when signed
    out, so that the phone keeps the draft and says why."""
    if not request.user.is_authenticated:
        return JsonResponse({"errors": {"__all__": [str(_("Sign in again to send your reports."))]}}, status=401)
    response = JsonResponse({"csrf": get_token(request), "user": request.user.get_username()})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def case_report(request: HttpRequest) -> HttpResponse:
    form = _report_form(request)
    if request.method == "POST" and _wants_json(request):
        return _report_json(request, form)
    nearby: list[Case] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if not data["confirm_nearby"] and data["lat"] is not None and data["lng"] is not None:
            nearby = selectors.nearby_open_cases(
                user=request.user, category=data["category"], lat=data["lat"], lng=data["lng"]
            )
        if not nearby:
            case = call_service(form, services.case_report, reporter=request.user, **form.service_kwargs())
            if case is not None and getattr(case, "replayed", False):
                messages.info(request, _("This report was sent before: case %(number)s.") % {"number": case.number})
                return redirect("case_detail", pk=case.pk)
            if case is not None:
                messages.success(request, _("Case %(number)s reported.") % {"number": case.number})
                return redirect("case_detail", pk=case.pk)
    context = {
        "form": form,
        "nearby": nearby,
        "had_files": bool(request.FILES),
    }
    return render(request, "cases/report.html", context)


@login_required
def report_nearby(request: HttpRequest) -> HttpResponse:
    """The duplicate warning for the report form (asked by the page before it submits)."""
    try:
        category = int(request.GET.get("category", ""))
        lat, lng = float(request.GET.get("lat", "")), float(request.GET.get("lng", ""))
    except ValueError:
        return HttpResponse("")
    found = next((c for c in selectors.report_categories() if c.pk == category), None)
    if found is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return HttpResponse("")
    nearby = selectors.nearby_open_cases(user=request.user, category=found, lat=lat, lng=lng)
    if not nearby:
        return HttpResponse("")
    return render(request, "cases/_nearby.html", {"nearby": nearby, "had_files": False})


# --- lists ------------------------------------------------------------------------------------------------


def _list_page(request: HttpRequest, rows, *, title: str, default_sort: str = "newest") -> HttpResponse:
    """A plain list with only a sort control."""
    form = forms.SortForm(request.GET or None, default_sort=default_sort)
    page = _sorted_page(request, rows, form)
    return render(request, "cases/case_list.html", {"page": page, "title": title, "sort_form": form})


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET or None, categories=selectors.report_categories())
    rows = selectors.case_list(user=request.user, filters=form.filters())
    page = _sorted_page(request, rows, form)
    return render(request, "cases/case_list.html", {"page": page, "title": _("Cases"), "filter_form": form})


@login_required
def my_cases(request: HttpRequest) -> HttpResponse:
    form = forms.SortForm(request.GET or None, default_sort="newest")
    page = _sorted_page(request, selectors.my_cases(user=request.user), form)
    context = {"page": page, "title": _("My cases"), "sort_form": form, "outbox": True}
    return render(request, "cases/case_list.html", context)


@login_required
def verify_queue(request: HttpRequest) -> HttpResponse:
    rows = selectors.to_verify(user=request.user)
    return _list_page(request, rows, title=_("To verify"), default_sort="oldest")


@login_required
def triage(request: HttpRequest) -> HttpResponse:
    """Reported cases of the viewer's communities, each with settle / call the street / cancel."""
    rows = selectors.triage_queue(user=request.user)
    sort_form = forms.SortForm(request.GET or None, default_sort="oldest")
    page = _sorted_page(request, rows, sort_form)
    here = request.get_full_path()
    for case in page:  # each action's form is loaded when opened
        case.actions = [
            _case_action(case, code, None) for code in TRIAGE_ACTIONS if services.can_fire(request.user, case, code)
        ]
    return render(request, "cases/triage.html", {"page": page, "next": here, "sort_form": sort_form})


@login_required
def street_queue(request: HttpRequest) -> HttpResponse:
    """The street command centre's queue: filters, flags, bulk accept/close."""
    form = forms.QueueFilterForm(
        request.GET or None,
        categories=selectors.report_categories(),
        states=selectors.STREET_STATES,
        default_sort="oldest",
    )
    rows = selectors.street_queue(user=request.user, filters=form.filters())
    page = _sorted_page(request, rows, form)
    for case in page:
        case.level_label = Level(case.level).label
        case.bulk_ok = any(services.can_fire(request.user, case, code) for code in ("accept", "close"))
    return render(
        request,
        "cases/street_queue.html",
        {"page": page, "filter_form": form, "bulk_form": forms.BulkForm(), "next": request.get_full_path()},
    )


@login_required
@require_POST
def street_bulk(request: HttpRequest) -> HttpResponse:
    """Fire accept or close on each ticked case separately; report what worked and what did not."""
    back = _next_url(request, reverse("street_queue"))
    form = forms.BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an action and tick at least one case."))
        return HttpResponseRedirect(back)
    action, picked = form.cleaned_data["action"], form.cleaned_data["cases"]
    found = {c.pk: c for c in selectors.street_queue(user=request.user).filter(pk__in=list(picked))}
    done, failed = [], []
    for pk, version in picked.items():
        case = found.get(pk)
        if case is None:
            failed.append(_("#%(pk)s is not in your queue") % {"pk": pk})
            continue
        try:
            services.case_transition(case=case, action=action, actor=request.user, expected_version=version)
        except services.StaleCase:
            failed.append(f"{case.number}: {CONFLICT}")
        except (services.TransitionNotAllowed, ValidationError, PermissionDenied) as exc:
            failed.append(f"{case.number}: {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        else:
            done.append(case.number)
    label = TRANSITIONS[action].label
    if done:
        messages.success(request, _("%(action)s: %(numbers)s") % {"action": label, "numbers": ", ".join(done)})
    if failed:
        messages.error(request, _("Not done: %(items)s") % {"items": "; ".join(failed)})
    return HttpResponseRedirect(back)


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """A department's work orders by state, with the steps its members take."""
    tab = request.GET.get("tab", "to_sign")
    if tab not in selectors.INBOX_TABS:
        tab = "to_sign"
    rows = selectors.department_inbox(user=request.user, tab=tab)
    live = tab in ("to_sign", "in_progress")  # only live work orders have a running clock
    sort_form = forms.SortForm(
        request.GET or None,
        default_sort="newest" if tab == "done" else "oldest",
        sorts=None if live else ("newest", "oldest"),
    )
    page = _sorted_page(request, rows, sort_form, due_key="deadline_due_at")
    may_act = selectors.department_ids(request.user)
    for order in page:
        order.light = light_of(due_at=order.deadline_due_at, yellow_at=order.deadline_yellow_at)
        order.actions = _work_order_actions(
            request.user, order.case, order, member=order.department_id in may_act, dispatcher=False
        )
    tabs = [
        ("to_sign", _("To sign")),
        ("in_progress", _("In progress")),
        ("refused", _("Refused")),
        ("done", _("Done")),
    ]
    context = {"page": page, "tab": tab, "tabs": tabs, "next": request.get_full_path(), "sort_form": sort_form}
    return render(request, "cases/inbox.html", context)


# --- one case ---------------------------------------------------------------------------------------------


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_page(request, selectors.case_get(user=request.user, pk=pk))


def _next_param(request: HttpRequest) -> str:
    candidate = request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if candidate.startswith("/") and ok else ""


NOT_AVAILABLE = gettext_lazy("This action is not available to you on this case now.")


def _open_action(request: HttpRequest, case: Case, code: str, order: WorkOrder | None = None) -> HttpResponse:
    """GET of an action's address: its form alone when the page asks for it (htmx, as the person opens the action),
    otherwise the case page with that form open (no JavaScript)."""
    if not request.htmx:
        return _case_page(request, case, open_code=code, open_order=order.pk if order else None)
    user = request.user
    if order is None:
        orders = selectors.case_work_orders(case=case)
        entries = _case_actions(user, case, orders, clocks=selectors.case_clocks(case=case), open_code=code)
    else:
        member = user.is_superuser or order.department_id in selectors.department_ids(user)
        dispatcher = selectors.may_see_contact(user=user, case=case)
        entries = _work_order_actions(user, case, order, member=member, dispatcher=dispatcher, open_code=code)
    entry = next((a for a in entries if a["code"] == code and a["form"] is not None), None)
    if entry is None:
        return HttpResponse(f'<div class="small text-danger" data-testid="not-available">{NOT_AVAILABLE}</div>')
    return render(request, "cases/_action_form_body.html", {"a": entry, "next": _next_param(request)})


@login_required
@require_http_methods(["GET", "POST"])
def case_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    case = selectors.case_get(user=request.user, pk=pk)
    if action not in TRANSITIONS:
        raise Http404("No such action.")
    if request.method == "GET":
        return _open_action(request, case, action)
    form = forms.case_action_form(
        action,
        request.POST,
        request.FILES,
        case=case,
        user=request.user,
        departments=selectors.dispatch_departments(case=case) if action in ("dispatch", "redispatch") else None,
        lookup=lambda number: selectors.case_by_number(user=request.user, number=number),
    )
    if form.is_valid():
        done, conflict = _fire(
            request,
            case,
            form,
            services.case_transition,
            case=case,
            action=action,
            actor=request.user,
            **form.service_kwargs(),
        )
        if conflict:
            return conflict
        if done:
            messages.success(
                request,
                _("%(number)s: %(action)s — done.") % {"number": done.number, "action": TRANSITIONS[action].label},
            )
            return HttpResponseRedirect(_next_url(request, reverse("case_detail", args=[case.pk])))
    return _case_page(request, case, bound=form, status=200 if form.is_valid() else 400)


@login_required
@require_http_methods(["GET", "POST"])
def work_order_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    order = selectors.work_order_get(user=request.user, pk=pk)
    if action not in forms.WORK_ORDER_ACTIONS:
        raise Http404("No such action.")
    if request.method == "GET":
        return _open_action(request, order.case, action, order)
    form = forms.work_order_form(action, request.POST, request.FILES, order=order)
    if form.is_valid():
        done, conflict = _fire(
            request,
            order.case,
            form,
            services.work_order_step,
            work_order=order,
            action=action,
            actor=request.user,
            **form.service_kwargs(),
        )
        if conflict:
            return conflict
        if done:
            messages.success(
                request,
                _("%(number)s · %(dept)s: %(action)s — done.")
                % {"number": order.case.number, "dept": order.department.name, "action": WORK_ORDER_LABELS[action]},
            )
            return HttpResponseRedirect(_next_url(request, reverse("case_detail", args=[order.case_id])))
    fresh = selectors.case_get(user=request.user, pk=order.case_id)
    return _case_page(request, fresh, bound=form, status=200 if form.is_valid() else 400)


@login_required
def attachment_download(request: HttpRequest, pk: int, thumb: bool = False) -> FileResponse:
    """A case's photo or PDF, only for people who may see the case; never sniffed into something else."""
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    stored = attachment.thumbnail if thumb else attachment.file
    if not stored:
        raise Http404("No thumbnail.")
    try:
        handle = stored.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing.") from exc
    content_type = "image/jpeg" if thumb else attachment.content_type
    inline = content_type.startswith("image/") or content_type == "application/pdf"
    response = FileResponse(
        handle, content_type=content_type, as_attachment=not inline, filename=attachment.original_name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- categories and response templates (city-level admins) --------------------------------------------------


@login_required
def category_list(request: HttpRequest) -> HttpResponse:
    groups = selectors.category_tree()
    context = {
        "groups": groups,
        "may_edit": services.may_edit_categories(request.user),
        "templates": selectors.response_template_list(),
    }
    return render(request, "cases/category_list.html", context)


@login_required
def category_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not services.may_edit_categories(request.user):
        raise PermissionDenied(_("Only an administrator at city level edits categories."))
    category = selectors.category_get(pk=pk) if pk else None
    initial = {}
    if category:
        kinds = category.lead_department_kinds or {}
        initial = {
            "code": category.code,
            "name": category.name,
            "parent": category.parent_id,
            "default_urgency": category.default_urgency,
            "lead_street": kinds.get("3", ""),
            "lead_district": kinds.get("2", ""),
            "escalation_grace_hours": category.escalation_grace_hours,
            "sort_order": category.sort_order,
            "is_active": category.is_active,
        }
    form = forms.CategoryForm(request.POST or None, initial=initial, category=category)
    if request.method == "POST" and request.POST.get("delete") and category:
        try:
            services.category_delete(actor=request.user, category=category)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("category_edit", pk=category.pk)
        messages.success(request, _("Category deleted."))
        return redirect("category_list")
    if request.method == "POST" and form.is_valid():
        saved = call_service(
            form, services.category_save, actor=request.user, category=category, **form.service_kwargs()
        )
        if saved is not None:
            messages.success(request, _("Category %(name)s saved.") % {"name": saved.name})
            return redirect("category_list")
    return render(request, "cases/category_form.html", {"form": form, "category": category})


@login_required
def response_template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not services.may_edit_categories(request.user):
        raise PermissionDenied(_("Only an administrator at city level edits response templates."))
    template = selectors.response_template_get(pk=pk) if pk else None
    initial = (
        {
            "category": template.category_id,
            "transition": template.transition,
            "text": template.text,
            "is_active": template.is_active,
        }
        if template
        else {}
    )
    form = forms.ResponseTemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = call_service(
            form, services.response_template_save, actor=request.user, template=template, **form.cleaned_data
        )
        if saved is not None:
            messages.success(request, _("Saved."))
            return redirect("category_list")
    return render(request, "cases/response_template_form.html", {"form": form, "template": template})


# --- business calendar (工作日历): everyone signed in sees it, city-level admins edit it ----------------------------
# The imports of this section stay with it, appended after the rest of the module.


CALENDAR_FORBIDDEN = gettext_lazy("Only an administrator at city level edits the calendar.")


class CalendarDayForm(django_forms.Form):
    """A holiday or a 调休 working day; the date of an existing entry is fixed (undo it and add another)."""

    day = django_forms.DateField(
        label=gettext_lazy("Date"),
        input_formats=["%Y-%m-%d"],
        widget=django_forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),  # ISO whatever the language
    )
    kind = django_forms.ChoiceField(
        label=gettext_lazy("Type of day"), choices=[(k.value, k.label) for k in business_calendar.EDITABLE_KINDS]
    )
    name = django_forms.CharField(
        label=gettext_lazy("Name"),
        max_length=60,
        required=False,
        help_text=gettext_lazy("The festival, e.g. 春节, 国庆节调休上班."),
    )

    def __init__(self, *args: Any, existing: CalendarDay | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if existing is not None:
            self.fields["day"].disabled = True


def _calendar_url(year: int) -> str:
    return f"{reverse('calendar')}?year={year}"


def _calendar_year_param(value: str | None) -> int:
    try:
        year = int(value or "")
    except ValueError:
        return timezone.localdate().year
    return year if 1950 <= year <= 2100 else timezone.localdate().year


@login_required
def calendar_year(request: HttpRequest) -> HttpResponse:
    """A year's holidays and 调休 working days by month, the working hours, and (for admins) the edit controls."""
    year = _calendar_year_param(request.GET.get("year"))
    view = business_calendar.calendar_year(year=year)
    may_edit = business_calendar.may_edit_calendar(request.user)
    months = [
        {
            "first": date(year, m.month, 1),
            "working_days": m.working_days,
            "rows": [
                # Beside an admin's row, what the library says of that date (if anything).
                {"row": r, "library": view.library.get(r.day) if r.source == CalendarDay.Origin.ADMIN else None}
                for r in m.rows
            ],
        }
        for m in view.months
    ]
    context = {
        "year": year,
        "view": view,
        "months": months,
        "may_edit": may_edit,
        "hours": business_calendar.working_hours_label(),
        "hours_per_day": business_calendar.hours_per_day(),
        "time_zone": settings.TIME_ZONE,
        "country": settings.GOVGRID_WORKDAY_COUNTRY,
        "form": CalendarDayForm(initial={"day": f"{year}-01-01"}) if may_edit else None,
    }
    return render(request, "cases/calendar.html", context)


@login_required
def calendar_day_edit(request: HttpRequest, day: str | None = None) -> HttpResponse:
    """Add a day (no ``day``) or change one; a POST with ``delete`` undoes the entry."""
    if not business_calendar.may_edit_calendar(request.user):
        raise PermissionDenied(CALENDAR_FORBIDDEN)
    existing = None
    if day is not None:
        try:
            existing = CalendarDay.objects.filter(day=business_calendar.parse_day(day)).first()
        except ValidationError:
            existing = None
        if existing is None:
            raise Http404("No calendar entry on that date.")
    if existing is not None:
        kind = existing.kind if existing.kind in business_calendar.EDITABLE_KINDS else CalendarDay.Kind.HOLIDAY
        initial = {"day": existing.day, "kind": kind, "name": existing.name}
    else:
        initial = {"day": request.GET.get("day", "")}
    form = CalendarDayForm(request.POST or None, initial=initial, existing=existing)
    if request.method == "POST" and request.POST.get("delete") and existing:
        left = business_calendar.calendar_day_delete(actor=request.user, day=existing.day)
        ordinary = left is None or left.kind == CalendarDay.Kind.ORDINARY
        messages.success(
            request,
            (_("%(day)s is an ordinary day now.") if ordinary else _("%(day)s follows the holidays library again."))
            % {"day": existing.day.isoformat()},
        )
        return redirect(_calendar_url(existing.day.year))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = call_service(
            form,
            business_calendar.calendar_day_save,
            actor=request.user,
            day=data["day"],
            kind=data["kind"],
            name=data["name"],
        )
        if saved is not None:
            messages.success(request, _("%(day)s saved.") % {"day": saved.day.isoformat()})
            return redirect(_calendar_url(saved.day.year))
    back = _calendar_url(existing.day.year if existing else timezone.localdate().year)
    return render(request, "cases/calendar_day_form.html", {"form": form, "existing": existing, "back": back})


@login_required
@require_POST
def calendar_seed(request: HttpRequest) -> HttpResponse:
    """Seed a year again from the holidays library; the admins' own rows are kept."""
    year = _calendar_year_param(request.POST.get("year"))
    (result,) = business_calendar.calendar_seed(years=[year], actor=request.user)
    messages.success(
        request,
        _(
            "%(year)s seeded from the holidays library: %(created)s added, %(updated)s changed, %(removed)s removed, "
            "%(kept)s entered by admins kept."
        )
        % {
            "year": year,
            "created": result.created,
            "updated": result.updated,
            "removed": result.removed,
            "kept": result.kept,
        },
    )
    return redirect(_calendar_url(year))


@login_required
def supervision(request: HttpRequest) -> HttpResponse:
    """督办 page for district and city supervisors."""
    if not access.user_can_anywhere(request.user, "cases.supervise_case"):
        raise PermissionDenied(_("Only supervisors see this page."))
    board = selectors.supervision_board(user=request.user)
    return render(request, "cases/supervision.html", board)
