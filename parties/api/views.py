"""API of the parties app: households, residents and organisations, read through parties.selectors (scoped by
grids.access: whatever the caller may not see is 404). Numbers are masked; ``reveal`` shows one whole number to a
holder of ``parties.view_personal_data`` and writes the access log, as the pages' "show" does."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from govgrid.api.filters import (
    BooleanFilter,
    IntegerFilter,
    StrictFilterBackend,
    StrictFilterSet,
    cleaned,
    reject_unknown,
)
from govgrid.api.pagination import KeysetPagination
from grids.api.views import E400, E401, E403, E404, E429, READ_ERRORS
from parties import selectors, services
from parties.models import Household, HouseholdKind, Organisation, Resident

from . import serializers as s


def _region(request):
    code = request.query_params.get("region", "")
    return selectors.region_by_code(user=request.user, code=code) if code else None


class HouseholdFilter(StrictFilterSet):
    region = filters.CharFilter(method="noop", max_length=15, help_text="Code of a region: households under it.")
    building = IntegerFilter(method="noop", min_value=1, help_text="Id of a building.")
    kind = filters.ChoiceFilter(method="noop", choices=HouseholdKind.choices)
    tag = IntegerFilter(method="noop", min_value=1, help_text="Id of a household tag.")
    uncovered = BooleanFilter(method="noop", help_text="Only households nobody keeps in touch with (true).")
    q = filters.CharFilter(method="noop", max_length=100, help_text="Room, address or building name contains.")

    class Meta:
        model = Household
        fields: list[str] = []

    def noop(self, rows, name, value):  # the selector applies them
        return rows


class OrganisationFilter(StrictFilterSet):
    region = filters.CharFilter(method="noop", max_length=15, help_text="Code of a region: organisations under it.")
    q = filters.CharFilter(method="noop", max_length=100, help_text="Name contains, or the whole credit code.")

    class Meta:
        model = Organisation
        fields: list[str] = []

    def noop(self, rows, name, value):
        return rows


def _reveal(request, record) -> Response:
    shape = s.RevealInputSerializer(data=request.data)
    shape.is_valid(raise_exception=True)
    field = shape.validated_data["field"]
    if isinstance(record, Organisation):
        field = "contact_phone" if field == "phone" else field
    try:
        value = services.personal_data_reveal(actor=request.user, record=record, field=field)
    except DjangoValidationError as e:
        raise ValidationError({"field": e.messages}) from None
    return Response(s.RevealSerializer({"field": shape.validated_data["field"], "value": value}).data)


REVEAL = extend_schema(
    summary="Show one whole number (written to the access log)",
    request=s.RevealInputSerializer,
    responses={200: s.RevealSerializer, 400: E400, 401: E401, 403: E403, 404: E404, 429: E429},
    filters=False,
)


@extend_schema_view(
    list=extend_schema(
        summary="Households the caller may see (户)", responses={200: s.HouseholdSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One household with its residents", responses={200: s.HouseholdDetailSerializer, **READ_ERRORS}
    ),
)
class HouseholdViewSet(viewsets.GenericViewSet):
    serializer_class = s.HouseholdSerializer
    filterset_class = HouseholdFilter
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetPagination
    lookup_value_regex = r"\d+"
    queryset = Household.objects.none()

    def keyset_order(self, request):
        return "sort_key", False

    def list(self, request):
        data = cleaned(HouseholdFilter, request)
        rows = selectors.households_visible(user=request.user, region=_region(request), filters=data)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.HouseholdSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        household = selectors.household_get(user=request.user, pk=int(pk))
        members = selectors.household_members(household=household)
        return Response(s.HouseholdDetailSerializer(household, context={"members": members}).data)


@extend_schema_view(
    retrieve=extend_schema(
        summary="One resident (居民), numbers masked", responses={200: s.ResidentSerializer, **READ_ERRORS}
    ),
)
class ResidentViewSet(viewsets.GenericViewSet):
    serializer_class = s.ResidentSerializer
    pagination_class = None  # a search answers its best matches (at most 50), not pages
    lookup_value_regex = r"\d+"
    queryset = Resident.objects.none()

    @extend_schema(
        summary="Find residents by name, a whole ID or phone number, or an ID's last four",
        responses={200: s.ResidentSerializer(many=True), **READ_ERRORS},
        parameters=[
            OpenApiParameter("q", str, required=True, description="A name, a whole ID or phone number, or 4 digits."),
            OpenApiParameter("region", str, description="Code of a region: residents under it."),
        ],
        filters=False,
    )
    def list(self, request):
        reject_unknown(request, {"q", "region"})
        q = request.query_params.get("q", "").strip()
        if not q or len(q) > 50:
            raise ValidationError({"q": [_("Give a name or a number (at most 50 characters).")]})
        rows = selectors.resident_search(user=request.user, q=q, region=_region(request))
        return Response(s.ResidentSerializer(rows, many=True).data)

    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        return Response(s.ResidentSerializer(selectors.resident_get(user=request.user, pk=int(pk))).data)

    @REVEAL
    @action(detail=True, methods=["post"])
    def reveal(self, request, pk=None):
        return _reveal(request, selectors.resident_get(user=request.user, pk=int(pk)))


@extend_schema_view(
    list=extend_schema(
        summary="Organisations the caller may see (单位/企业)",
        responses={200: s.OrganisationSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary="One organisation", responses={200: s.OrganisationSerializer, **READ_ERRORS}),
)
class OrganisationViewSet(viewsets.GenericViewSet):
    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetPagination
    lookup_value_regex = r"\d+"
    queryset = Organisation.objects.none()

    def keyset_order(self, request):
        return "name", False

    def list(self, request):
        data = cleaned(OrganisationFilter, request)
        rows = selectors.organisations_visible(user=request.user, region=_region(request), q=data.get("q", ""))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.OrganisationSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        reject_unknown(request, set())
        return Response(s.OrganisationSerializer(selectors.organisation_get(user=request.user, pk=int(pk))).data)

    @REVEAL
    @action(detail=True, methods=["post"])
    def reveal(self, request, pk=None):
        return _reveal(request, selectors.organisation_get(user=request.user, pk=int(pk)))
