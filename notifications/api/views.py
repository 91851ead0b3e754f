"""API of the inbox: the caller's own notices (newest first, keyset pages), mark one or all read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from govgrid.api.errors import ErrorSerializer
from govgrid.api.filters import BooleanFilter, StrictFilterBackend, StrictFilterSet, reject_unknown
from govgrid.api.pagination import KeysetPagination
from notifications import selectors, services
from notifications.models import Kind, Notification

READ_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input."),
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    404: OpenApiResponse(ErrorSerializer, description="Not one of the caller's notices."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests."),
}


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    link = serializers.CharField(help_text="Address of the page the notice is about ('' when none).")
    subject = serializers.CharField(help_text="What the notice is about, e.g. a case's number and title.")
    is_read = serializers.BooleanField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "link", "subject", "created_at", "read_at", "is_read"]


class CountSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class NotificationFilter(StrictFilterSet):
    unread = BooleanFilter(field_name="read_at", lookup_expr="isnull", help_text="Only unread (true) or read.")

    class Meta:
        model = Notification
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="My notices, newest first", responses={200: NotificationSerializer(many=True), **READ_ERRORS}
    ),
)
class NotificationViewSet(viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetPagination
    lookup_value_regex = r"\d+"
    queryset = Notification.objects.none()

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user)

    def keyset_order(self, request):
        return "created_at", True

    def list(self, request):
        rows = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(
        summary="Mark one notice read",
        request=None,
        responses={200: NotificationSerializer, **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def read(self, request, pk=None):
        notice = selectors.notification_get(user=request.user, pk=int(pk))
        return Response(NotificationSerializer(services.mark_read(user=request.user, notification=notice)).data)

    @extend_schema(
        summary="Mark all my notices read", request=None, responses={200: CountSerializer, **READ_ERRORS}, filters=False
    )
    @action(detail=False, methods=["post"], url_path="read-all", filter_backends=[], pagination_class=None)
    def read_all(self, request):
        reject_unknown(request, set())
        return Response({"marked": services.mark_all_read(user=request.user)})
