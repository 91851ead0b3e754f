"""API of the grids app: regions (tree, children, path, locate), departments, tokens. Thin: selectors and
services do the work; everything outside the caller's scope is 404."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from govgrid.api.errors import ErrorSerializer, error_response
from govgrid.api.filters import BooleanFilter, IntegerFilter, StrictFilterSet, reject_unknown
from govgrid.api.throttles import AnonThrottle
from grids import selectors, tokens
from grids.geo import locate
from grids.models import ApiToken, Department, Region

from . import serializers as s

E400 = OpenApiResponse(ErrorSerializer, description="Bad input: `fields` says which and why.")
E401 = OpenApiResponse(ErrorSerializer, description="Not signed in, or a bad token.")
E403 = OpenApiResponse(ErrorSerializer, description="Seen, but the caller may not do this.")
E404 = OpenApiResponse(ErrorSerializer, description="No such thing that the caller may see.")
E409 = OpenApiResponse(ErrorSerializer, description="Changed meanwhile, or not possible now: `current` says how it is.")
E429 = OpenApiResponse(ErrorSerializer, description="Too many requests, or sign-in locked out for a while.")
READ_ERRORS = {400: E400, 401: E401, 404: E404, 429: E429}


def _parent_codes(regions) -> dict[str, str]:
    paths = {r.path[: -Region.steplen] for r in regions if r.depth > 1}
    return dict(Region.objects.filter(path__in=paths).values_list("path", "code")) if paths else {}


class RegionFilter(StrictFilterSet):
    q = filters.CharFilter(method="search", max_length=100, help_text="Name contains, or code begins with (digits).")
    level = IntegerFilter(field_name="depth", min_value=1, max_value=5, help_text="1 city … 5 grid.")
    under = filters.CharFilter(method="filter_under", max_length=15, help_text="Code of a node: its subtree only.")
    active = BooleanFilter(field_name="is_active", help_text="Active (true) or retired (false) nodes.")

    class Meta:
        model = Region
        fields: list[str] = []

    def search(self, rows, name, value):
        value = value.strip()
        return rows.filter(code__startswith=value) if value.isdigit() else rows.filter(name__icontains=value)

    def filter_under(self, rows, name, value):
        node = Region.objects.filter(code=value).only("path").first()
        return rows.filter(path__startswith=node.path) if node else rows.none()


@extend_schema_view(
    list=extend_schema(
        summary="Regions the caller may see", responses={200: s.RegionSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="One region, with its boundary", responses={200: s.RegionDetailSerializer, **READ_ERRORS}
    ),
)
class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    """The region tree (city → district → street → community → grid), scoped to the caller's grants."""

    filterset_class = RegionFilter
    keyset_key = "created_at"

    def get_queryset(self):
        return selectors.region_list(user=self.request.user).defer("boundary").order_by("path")

    def get_object(self):
        reject_unknown(self.request, set())
        return selectors.region_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_serializer_class(self):
        return s.RegionDetailSerializer if self.action == "retrieve" else s.RegionSerializer

    def keyset_order(self, request):
        return "created_at", False

    def list(self, request, *args, **kwargs):
        rows = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(rows)
        data = s.RegionSerializer(page, many=True, context={"parent_codes": _parent_codes(page)}).data
        return self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        region = self.get_object()
        return Response(s.RegionDetailSerializer(region, context={"parent_codes": _parent_codes([region])}).data)

    @extend_schema(
        summary="Children of a region", filters=False, responses={200: s.RegionSerializer(many=True), **READ_ERRORS}
    )
    @action(detail=True, pagination_class=None, filterset_class=None)
    def children(self, request, pk=None):
        region = self.get_object()
        rows = list(selectors.region_children(region=region))
        return Response(s.RegionSerializer(rows, many=True, context={"parent_codes": {region.path: region.code}}).data)

    @extend_schema(
        summary="A region and every node above it, root first",
        filters=False,
        responses={200: s.RegionSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, pagination_class=None, filterset_class=None)
    def path(self, request, pk=None):
        region = self.get_object()
        rows = list(Region.objects.filter(path__in=region.ancestor_paths()).defer("boundary").order_by("depth"))
        return Response(s.RegionSerializer(rows, many=True, context={"parent_codes": _parent_codes(rows)}).data)

    @extend_schema(
        summary="The grid that contains a point",
        filters=False,
        parameters=[s.LocateQuerySerializer],
        responses={200: s.RegionSerializer, **READ_ERRORS},
    )
    @action(detail=False, pagination_class=None, filterset_class=None)
    def locate(self, request):
        reject_unknown(request, {"lat", "lng"})
        query = s.LocateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        grid = locate(query.validated_data["lat"], query.validated_data["lng"])
        if grid is None or not selectors.region_list(user=request.user).filter(pk=grid.pk).exists():
            raise NotFound(_("No grid that you may see contains this point."))
        return Response(s.RegionSerializer(grid, context={"parent_codes": _parent_codes([grid])}).data)


class DepartmentFilter(StrictFilterSet):
    kind = filters.CharFilter(max_length=20, help_text="Department kind, e.g. cgzf.")
    active = BooleanFilter(field_name="is_active")

    class Meta:
        model = Department
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="Departments the caller may see", responses={200: s.DepartmentSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="One department", responses={200: s.DepartmentSerializer, **READ_ERRORS}),
)
class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.DepartmentSerializer
    filterset_class = DepartmentFilter

    def get_queryset(self):
        return selectors.department_list(user=self.request.user)

    def get_object(self):
        reject_unknown(self.request, set())
        return selectors.department_get(user=self.request.user, pk=self.kwargs["pk"])

    def keyset_order(self, request):
        return "created_at", False


class TokenObtainView(APIView):
    """A personal token for a username and password. Failed attempts count towards the sign-in lockout."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonThrottle]

    @extend_schema(
        summary="Get a token with a username and password",
        request=s.TokenRequestSerializer,
        responses={201: s.NewTokenSerializer, 400: E400, 401: E401, 429: E429},
        auth=[],
    )
    def post(self, request):
        form = s.TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        # django-axes counts failures and refuses locked-out accounts and addresses: it needs Django's request.
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if getattr(request._request, "axes_locked_out", False):
            return error_response(
                "locked_out", _("Too many failed sign-ins: try again later."), status.HTTP_429_TOO_MANY_REQUESTS
            )
        if user is None or getattr(user, "is_service", False):
            return error_response("authentication_failed", _("Wrong username or password."), 401)
        days = data.get("expires_in_days")
        made = tokens.token_create(
            actor=user,
            user=user,
            name=data["name"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        body = {**s.TokenSerializer(made.token).data, "token": made.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenNameSerializer(s.serializers.Serializer):
    name = s.serializers.CharField(max_length=60)
    expires_in_days = s.serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


@extend_schema_view(
    list=extend_schema(summary="My tokens", responses={200: s.TokenSerializer(many=True), **READ_ERRORS}),
    create=extend_schema(
        summary="Make a token for myself",
        request=TokenNameSerializer,
        responses={201: s.NewTokenSerializer, 400: E400, 401: E401, 429: E429},
    ),
    destroy=extend_schema(summary="Revoke one of my tokens", responses={204: None, 401: E401, 404: E404, 429: E429}),
)
class MyTokenViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TokenSerializer
    filter_backends: list = []
    pagination_class = None
    lookup_value_regex = r"\d+"
    queryset = ApiToken.objects.none()

    def get_queryset(self):
        return tokens.token_list(user=self.request.user)

    def list(self, request, *args, **kwargs):
        reject_unknown(request, set())
        return super().list(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        form = TokenNameSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        days = form.validated_data.get("expires_in_days")
        made = tokens.token_create(
            actor=request.user,
            user=request.user,
            name=form.validated_data["name"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        return Response({**s.TokenSerializer(made.token).data, "token": made.secret}, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        token = tokens.token_get(user=request.user, pk=self.kwargs["pk"])
        tokens.token_revoke(actor=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
