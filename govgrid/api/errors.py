"""The one exception handler of the API: every error has the body ``{code, detail, fields, current}``.

- 400 ``invalid``: ``fields`` maps each bad field (or ``non_field_errors``) to its messages;
- 401 ``not_authenticated`` before 403 ``permission_denied`` (seen, but the caller may not act);
- 404 ``not_found`` for whatever the caller may not see;
- 409 ``conflict``: stale version or a transition the current state does not allow, ``current`` says how it is now;
- 429 ``throttled`` / ``locked_out``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from govgrid.errors import Conflict


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    code = serializers.CharField(help_text="Stable code: invalid, not_authenticated, permission_denied, …")
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per input field (400 only).",
    )
    current = serializers.DictField(required=False, allow_null=True, help_text="The thing as it is now (409 only).")


def _django_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _flatten(data: Any) -> dict[str, list[str]]:
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                out[str(key)] = [str(v) if not isinstance(v, dict) else str(next(iter(v.values()), "")) for v in value]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(data, list):
        return {"non_field_errors": [str(v) for v in data]}
    return {"non_field_errors": [str(data)]}


def error_response(code: str, detail: str, http_status: int, **extra: Any) -> Response:
    return Response({"code": code, "detail": detail, **extra}, status=http_status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Conflict):
        return error_response("conflict", str(exc), status.HTTP_409_CONFLICT, current=exc.current)
    if isinstance(exc, DjangoValidationError):
        fields = _django_fields(exc)
        first = next(iter(fields.values()), [""])
        return error_response("invalid", first[0] if first else _("Invalid input."), 400, fields=fields)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(response.data)
        first = next(iter(fields.values()), [""])
        body = {"code": "invalid", "detail": first[0] if first else _("Invalid input."), "fields": fields}
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else str(response.data)
        body = {"code": code if isinstance(code, str) else "error", "detail": str(detail)}
    response.data = body
    return response


def not_found(request, exception=None):
    """404 of an address nothing answers: the API's error body under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"code": "not_found", "detail": _("No such address in the API.")}, status=404)
    if request.path.startswith("/open311/"):
        from django.http import JsonResponse

        return JsonResponse([{"code": 404, "description": "No such address."}], status=404, safe=False)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
