"""API of the inbox: the caller's notices, his own and his units' (newest first, keyset pages), mark one or all
read. A unit notice is read or unread for the caller alone, and comes in his language."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from govgrid.api.errors import ErrorSerializer
from govgrid.api.filters import BooleanFilter, StrictFilterBackend, StrictFilterSet, cleaned, reject_unknown
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
    is_read = serializers.BooleanField(help_text="Read by the caller (a unit's notice is read by each member).")
    read_at = serializers.DateTimeField(allow_null=True, help_text="When the caller read it (null: unread).")
    unit = serializers.CharField(
        source="unit_label", help_text="The unit it went to, e.g. a department ('' for the caller's own notice)."
    )

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "link", "subject", "unit", "created_at", "read_at", "is_read"]


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
        return selectors.visible(user=self.request.user)

    def keyset_page(self, *, after: str, before: str, size: int):
        unread = cleaned(NotificationFilter, self.request).get("unread")
        segment = selectors.ALL if unread is None else selectors.UNREAD if unread else selectors.READ
        return selectors.inbox_page(user=self.request.user, after=after, before=before, size=size, segments=(segment,))

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
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
