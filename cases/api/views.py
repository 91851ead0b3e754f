"""API of the cases app: thin views over the selectors the pages read through and the services they write
through. Inputs are validated by the pages' own forms (cases.forms), so the API has no second copy of a rule.

Errors: 404 for an unseen case, work order or file; 403 when the caller sees the case but may not act; 409 when
the version is stale or the state does not allow the step (the body carries the case's current state and version).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from cases import forms, selectors, services
from cases.deadlines import light_of
from cases.models import Case, Category, Urgency, WorkOrder
from cases.workflow import TRANSITIONS, State
from govgrid.api.filters import IntegerFilter, StrictFilterBackend, StrictFilterSet, cleaned, reject_unknown
from govgrid.api.pagination import KeysetPagination
from govgrid.errors import Conflict
from grids.api.views import E400, E401, E403, E404, E409, E429, READ_ERRORS

from . import serializers as s

QUEUES = {
    # queue → (selector, default sort): the pages' lists
    "all": ("newest",),
    "street": ("oldest",),
    "triage": ("oldest",),
    "mine": ("newest",),
    "verify": ("oldest",),
}
ACT_ERRORS = {400: E400, 401: E401, 403: E403, 404: E404, 409: E409, 429: E429}


def _form_errors(form) -> ValidationError:
    return ValidationError({field: list(errors) for field, errors in form.errors.items()})


def _form_data(request) -> Any:
    """The body as a form sees it: a QueryDict for form and multipart bodies, a dict of strings for JSON."""
    data = request.data
    if hasattr(data, "getlist"):
        return data
    if not isinstance(data, dict):
        raise ValidationError(_("Send a JSON object."))
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            out[key] = "on" if value else ""
        elif isinstance(value, list):
            out[key] = [str(v) for v in value if not isinstance(v, dict | list)]
        elif isinstance(value, dict):
            raise ValidationError({key: [_("A single value is expected.")]})
        elif value is not None:
            out[key] = str(value)
    return out


class _ListData(dict):
    """A dict a Django form can read lists from (``getlist``), for JSON bodies."""

    def copy(self):
        return _ListData(self)

    def getlist(self, key, default=None):
        value = self.get(key, default if default is not None else [])
        return value if isinstance(value, list) else [value]


def _bound(request) -> tuple[Any, Any]:
    data = _form_data(request)
    if not hasattr(data, "getlist"):
        data = _ListData(data)
    return data, request.FILES


class CaseFilter(StrictFilterSet):
    """The lists' filters and sorts (the same as the pages')."""

    queue = filters.ChoiceFilter(
        choices=[(q, q) for q in QUEUES],
        method="noop",
        help_text="all (every case the caller sees), street (queue of the street command centre), triage (the "
        "community's reported cases), mine (reported by the caller), verify (waiting for the caller's check).",
    )
    q = filters.CharFilter(method="noop", max_length=60, help_text="Number (or its beginning) or words of the title.")
    category = IntegerFilter(method="noop", help_text="Id of a category or of a group.")
    grid = filters.CharFilter(method="noop", max_length=15, help_text="Region code prefix (a grid or any node).")
    urgency = filters.ChoiceFilter(choices=Urgency.choices, method="noop")
    state = filters.MultipleChoiceFilter(choices=State.choices, method="noop", help_text="One or more states.")
    older_than = IntegerFilter(method="noop", min_value=0, max_value=3650, help_text="Reported days ago or more.")
    light = filters.ChoiceFilter(
        choices=[("red", "red"), ("yellow", "yellow"), ("green", "green")], method="noop", help_text="Deadline light."
    )
    sort = filters.ChoiceFilter(
        choices=[("newest", "newest"), ("oldest", "oldest"), ("due", "due")],
        method="noop",
        help_text="newest / oldest by report time, due: earliest open deadline first. Default: as the page.",
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def noop(self, rows, name, value):
        return rows


def _case_rows(user, data: dict[str, Any]):
    queue = data.get("queue") or "all"
    filters_ = {k: v for k, v in data.items() if k not in ("queue", "sort")}
    if filters_.get("category") is not None:
        filters_["category"] = int(filters_["category"])
    if filters_.get("older_than") is not None:
        filters_["older_than"] = int(filters_["older_than"])
    if queue == "street":
        return selectors.street_queue(user=user, filters=filters_)
    if queue == "triage":
        return selectors.triage_queue(user=user, filters=filters_)
    if queue == "mine":
        return selectors.my_cases(user=user, filters=filters_)
    if queue == "verify":
        return selectors.apply_filters(selectors.to_verify(user=user), filters_)
    return selectors.case_list(user=user, filters=filters_)


class NearbyQuerySerializer(s.serializers.Serializer):
    category = s.serializers.IntegerField(help_text="Category id.")
    lat = s.serializers.FloatField(min_value=-90, max_value=90)
    lng = s.serializers.FloatField(min_value=-180, max_value=180)


ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Case id.")
CODE = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Transition code.", enum=list(TRANSITIONS)
)


@extend_schema_view(
    list=extend_schema(summary="Cases the caller may see, by queue, filtered and sorted as on the pages"),
    retrieve=extend_schema(summary="One case", responses={200: s.CaseDetailSerializer, **READ_ERRORS}),
)
class CaseViewSet(viewsets.GenericViewSet):
    """Cases (事件). Every list and lookup goes through cases.selectors, scoped by grids.access."""

    serializer_class = s.CaseSerializer
    filterset_class = CaseFilter
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetPagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = r"\d+"
    queryset = Case.objects.none()

    def _query(self) -> dict[str, Any]:
        return cleaned(CaseFilter, self.request)

    def keyset_order(self, request):
        data = self._query()
        default = QUEUES[data.get("queue") or "all"][0]
        return selectors.sort_order(data.get("sort", ""), default=default)

    @extend_schema(responses={200: s.CaseSerializer(many=True), **READ_ERRORS})
    def list(self, request):
        rows = _case_rows(request.user, self._query())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.CaseSerializer(page, many=True).data)

    def _case(self, pk) -> Case:
        return selectors.case_get(user=self.request.user, pk=int(pk))

    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        case = self._case(pk)
        may = selectors.may_see_contact(user=request.user, case=case)
        return Response(s.CaseDetailSerializer(case, context={"may_see_contact": may}).data)

    @extend_schema(
        summary="Report a case (上报), with photos as multipart",
        request={"multipart/form-data": s.ReportInputSerializer, "application/json": s.ReportInputSerializer},
        responses={201: s.CaseDetailSerializer, 400: E400, 401: E401, 403: E403, 429: E429},
        filters=False,
    )
    def create(self, request):
        from cases.api.serializers import ReportInputSerializer
        from grids.access import user_can_anywhere

        if not user_can_anywhere(request.user, "cases.report_case"):
            from rest_framework.exceptions import PermissionDenied

            raise PermissionDenied(_("You may not report cases anywhere."))
        data, files = _bound(request)
        data = data.copy()
        if not data.get("source"):
            data["source"] = "patrol"
        if data.get("source") == "open311":
            raise ValidationError({"source": [_("Open311 reports come through /open311/v2/.")]})
        shape = ReportInputSerializer(data={k: v for k, v in data.items() if k != "files"})
        shape.is_valid(raise_exception=True)
        form = forms.ReportForm(
            data, files, categories=selectors.report_categories(), grids=selectors.reportable_grids(user=request.user)
        )
        if not form.is_valid():
            raise _form_errors(form)
        case = services.case_report(reporter=request.user, **form.service_kwargs())
        case = selectors.case_get(user=request.user, pk=case.pk)
        may = selectors.may_see_contact(user=request.user, case=case)
        return Response(s.CaseDetailSerializer(case, context={"may_see_contact": may}).data, status=201)

    @extend_schema(
        summary="The timeline of a case (oldest first)",
        parameters=[ID],
        responses={200: s.EventSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, filterset_class=None, filter_backends=[])
    def events(self, request, pk=None):
        reject_unknown(request, set())
        case = self._case(pk)
        from cases.models import CaseEvent

        rows = CaseEvent.objects.filter(case=case).select_related("actor").prefetch_related("attachments")
        self.keyset_order = lambda request: ("at", False)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)

    @extend_schema(
        summary="Work orders of a case",
        parameters=[ID],
        responses={200: s.WorkOrderSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, url_path="work-orders", pagination_class=None, filterset_class=None, filter_backends=[])
    def work_orders(self, request, pk=None):
        reject_unknown(request, set())
        case = self._case(pk)
        orders = selectors.case_work_orders(case=case)
        for o in orders:
            o.case = case
        return Response(s.WorkOrderSerializer(orders, many=True).data)

    @extend_schema(
        summary="Step deadlines of a case with their lights",
        parameters=[ID],
        responses={200: s.DeadlineSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, pagination_class=None, filterset_class=None, filter_backends=[])
    def deadlines(self, request, pk=None):
        reject_unknown(request, set())
        return Response(s.DeadlineSerializer(selectors.case_clocks(case=self._case(pk)), many=True).data)

    @extend_schema(
        summary="What the caller may do on this case now",
        parameters=[ID],
        responses={200: s.ActionsSerializer, **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, pagination_class=None, filterset_class=None, filter_backends=[])
    def actions(self, request, pk=None):
        reject_unknown(request, set())
        case = self._case(pk)
        orders = selectors.case_work_orders(case=case)
        clocks = selectors.case_clocks(case=case)
        body = {
            "version": case.version,
            "state": case.state,
            "transitions": selectors.case_action_codes(request.user, case, orders=orders, clocks=clocks),
            "work_orders": {
                str(o.pk): selectors.work_order_action_codes(request.user, case, o)
                for o in orders
                if selectors.work_order_action_codes(request.user, case, o)
            },
        }
        return Response(body)

    @extend_schema(
        summary="Fire a transition (JSON, or multipart with files)",
        parameters=[ID, CODE],
        request={"application/json": s.TransitionInputSerializer, "multipart/form-data": s.TransitionInputSerializer},
        responses={200: s.CaseDetailSerializer, **ACT_ERRORS},
        filters=False,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"transitions/(?P<code>[a-z_]+)",
        pagination_class=None,
        filterset_class=None,
        filter_backends=[],
    )
    def transition(self, request, pk=None, code=None):
        case = self._case(pk)
        if code not in TRANSITIONS:
            raise NotFound(_("No such transition."))
        data, files = _bound(request)
        form = forms.case_action_form(
            code,
            data,
            files,
            case=case,
            user=request.user,
            departments=selectors.dispatch_departments(case=case) if code in ("dispatch", "redispatch") else None,
            lookup=lambda number: selectors.case_by_number(user=request.user, number=number),
        )
        if not form.is_valid():
            raise _form_errors(form)
        try:
            done = services.case_transition(case=case, action=code, actor=request.user, **form.service_kwargs())
        except Conflict as exc:
            if exc.current is None:
                exc.current = services.current_of(Case.objects.get(pk=case.pk))
            raise
        done = selectors.case_get(user=request.user, pk=done.pk)
        may = selectors.may_see_contact(user=request.user, case=done)
        return Response(s.CaseDetailSerializer(done, context={"may_see_contact": may}).data)

    @extend_schema(
        summary="Open cases of a category within 200 m in the last 7 days (duplicate warning)",
        parameters=[NearbyQuerySerializer],
        responses={200: s.CaseSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=False, pagination_class=None, filterset_class=None, filter_backends=[])
    def nearby(self, request):
        reject_unknown(request, {"category", "lat", "lng"})
        q = NearbyQuerySerializer(data=request.query_params)
        q.is_valid(raise_exception=True)
        category = next((c for c in selectors.report_categories() if c.pk == q.validated_data["category"]), None)
        if category is None:
            raise ValidationError({"category": [_("Choose an active category.")]})
        rows = selectors.nearby_open_cases(
            user=request.user, category=category, lat=q.validated_data["lat"], lng=q.validated_data["lng"]
        )
        return Response(s.CaseSerializer(rows, many=True).data)


class InboxFilter(StrictFilterSet):
    tab = filters.ChoiceFilter(
        choices=[(t, t) for t in selectors.INBOX_TABS],
        method="noop",
        help_text="to_sign (default), in_progress, refused, done.",
    )
    sort = filters.ChoiceFilter(choices=[("newest", "newest"), ("oldest", "oldest"), ("due", "due")], method="noop")

    class Meta:
        model = WorkOrder
        fields: list[str] = []

    def noop(self, rows, name, value):
        return rows


WO_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Work order id.")
STEP = OpenApiParameter(
    "code",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Step code.",
    enum=list(forms.WORK_ORDER_ACTIONS),
)


class WorkOrderViewSet(viewsets.GenericViewSet):
    """The department inbox (工单) and the steps on a work order."""

    serializer_class = s.WorkOrderSerializer
    filterset_class = InboxFilter
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetPagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    lookup_value_regex = r"\d+"
    queryset = WorkOrder.objects.none()

    def _query(self) -> dict[str, Any]:
        return cleaned(InboxFilter, self.request, drop_empty=False)

    def keyset_order(self, request):
        data = self._query()
        tab = data.get("tab") or "to_sign"
        default = "newest" if tab == "done" else "oldest"
        sort = data.get("sort") or ""
        if tab not in ("to_sign", "in_progress") and sort == "due":
            sort = ""
        return selectors.sort_order(sort, default=default, due_key="deadline_due_at")

    @extend_schema(
        summary="My departments' work orders, by tab",
        responses={200: s.InboxWorkOrderSerializer(many=True), **READ_ERRORS},
    )
    def list(self, request):
        data = self._query()
        rows = selectors.department_inbox(user=request.user, tab=data.get("tab") or "to_sign")
        page = self.paginate_queryset(rows)
        for order in page:
            order.light = light_of(due_at=order.deadline_due_at, yellow_at=order.deadline_yellow_at)
        return self.get_paginated_response(s.InboxWorkOrderSerializer(page, many=True).data)

    @extend_schema(
        summary="One work order",
        parameters=[WO_ID],
        responses={200: s.WorkOrderSerializer, **READ_ERRORS},
        filters=False,
    )
    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        return Response(s.WorkOrderSerializer(selectors.work_order_get(user=request.user, pk=int(pk))).data)

    @extend_schema(
        summary="Take a step on a work order (sign, refuse, complete, ask for more time, assign; the dispatcher "
        "grants or denies an extension)",
        parameters=[WO_ID, STEP],
        request={"application/json": s.StepInputSerializer, "multipart/form-data": s.StepInputSerializer},
        responses={200: s.WorkOrderSerializer, **ACT_ERRORS},
        filters=False,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"steps/(?P<code>[a-z_]+)",
        pagination_class=None,
        filterset_class=None,
        filter_backends=[],
    )
    def step(self, request, pk=None, code=None):
        order = selectors.work_order_get(user=request.user, pk=int(pk))
        if code not in forms.WORK_ORDER_ACTIONS:
            raise NotFound(_("No such step."))
        data, files = _bound(request)
        form = forms.work_order_form(code, data, files, order=order)
        if not form.is_valid():
            raise _form_errors(form)
        try:
            done = services.work_order_step(work_order=order, action=code, actor=request.user, **form.service_kwargs())
        except Conflict as exc:
            if exc.current is None:
                exc.current = services.current_of(Case.objects.get(pk=order.case_id))
            raise
        return Response(s.WorkOrderSerializer(selectors.work_order_get(user=request.user, pk=done.pk)).data)


class AttachmentViewSet(viewsets.GenericViewSet):
    """Files of cases the caller may see (uploads go with a report or a step)."""

    serializer_class = s.AttachmentSerializer
    lookup_value_regex = r"\d+"
    filter_backends: list = []
    pagination_class = None

    @extend_schema(summary="A file's details", responses={200: s.AttachmentSerializer, **READ_ERRORS})
    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        return Response(s.AttachmentSerializer(selectors.attachment_get(user=request.user, pk=int(pk))).data)

    @extend_schema(
        summary="Download a file",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **READ_ERRORS},
    )
    @action(detail=True)
    def download(self, request, pk=None):
        reject_unknown(request, set())
        attachment = selectors.attachment_get(user=request.user, pk=int(pk))
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("The file is missing.") from exc
        response = FileResponse(
            handle, content_type=attachment.content_type, as_attachment=True, filename=attachment.original_name
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """The taxonomy (事件分类) with each category's time limits; everyone signed in may read it."""

    serializer_class = s.CategorySerializer
    filter_backends: list = []
    pagination_class = None
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return Category.objects.select_related("parent").order_by("parent_id", "sort_order", "code")

    @extend_schema(summary="Categories and groups", responses={200: s.CategorySerializer(many=True), **READ_ERRORS})
    def list(self, request, *args, **kwargs):
        reject_unknown(request, set())
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="One category", responses={200: s.CategorySerializer, **READ_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        reject_unknown(request, set())
        return super().retrieve(request, *args, **kwargs)
