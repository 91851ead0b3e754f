"""Keyset (cursor) pagination for the API, on ``govgrid.pager``: one query of ``size + 1`` rows, no COUNT.

Query parameters: ``after`` / ``before`` (the cursors a page gives), ``size`` (1-200). A view names the order
with ``keyset_key`` / ``keyset_descending`` (or ``keyset_order(request)`` when the caller may choose a sort).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from govgrid.pager import keyset_page

DEFAULT_SIZE = 30
MAX_SIZE = 200


class KeysetPagination(BasePagination):
    size_param = "size"

    def paginate_queryset(self, queryset, request, view=None) -> list:
        raw = request.query_params.get(self.size_param, "")
        try:
            size = int(raw) if raw else DEFAULT_SIZE
        except ValueError:
            raise ValidationError({"size": [_("A whole number from 1 to %(max)d.") % {"max": MAX_SIZE}]}) from None
        if not 1 <= size <= MAX_SIZE:
            raise ValidationError({"size": [_("A whole number from 1 to %(max)d.") % {"max": MAX_SIZE}]})
        self.request = request
        if hasattr(view, "keyset_page"):  # a view whose selector pages itself (e.g. over several sources)
            self.page = view.keyset_page(
                after=request.query_params.get("after", ""), before=request.query_params.get("before", ""), size=size
            )
            return list(self.page.items)
        key, descending = view.keyset_order(request) if hasattr(view, "keyset_order") else ("created_at", True)
        self.page = keyset_page(
            queryset,
            after=request.query_params.get("after", ""),
            before=request.query_params.get("before", ""),
            size=size,
            key=key,
            descending=descending,
        )
        return list(self.page.items)

    def _link(self, param: str, cursor: str) -> str | None:
        if not cursor:
            return None
        url = self.request.build_absolute_uri()
        url = remove_query_param(remove_query_param(url, "after"), "before")
        return replace_query_param(url, param, cursor)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "next": self._link("after", self.page.next_cursor),
                "previous": self._link("before", self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": ["string", "null"], "format": "uri", "description": "The next page, or null."},
                "previous": {"type": ["string", "null"], "format": "uri", "description": "The page before, or null."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        text = {
            "after": "Cursor from `next`: the page after it.",
            "before": "Cursor from `previous`: the page before it.",
        }
        params = [
            {"name": name, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
            for name, d in text.items()
        ]
        params.append(
            {
                "name": self.size_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page (1-{MAX_SIZE}, default {DEFAULT_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
            }
        )
        return params
