"""Request guards that hold for every page and endpoint."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

NUL = "\x00"


def _has_nul(data) -> bool:
    return any(NUL in key or any(NUL in value for value in data.getlist(key)) for key in data)


class RefuseNulMiddleware:
    """A NUL character in a query string or a submitted form is refused with a 400 that says so.

    PostgreSQL text cannot hold NUL, so without this a search or a reason containing ``%00`` reached the database
    and failed there (a 500). Files are not inspected here (their checks are their own), only text fields.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path or _has_nul(request.GET) or self._form_has_nul(request):
            message = _("The request contains a NUL character (\\0), which text cannot hold. Remove it and try again.")
            if request.path.startswith(("/api/", "/open311/")) or "application/json" in request.headers.get(
                "Accept", ""
            ):
                return HttpResponseBadRequest(json.dumps({"detail": message}), content_type="application/json")
            body = render_to_string("400.html", {"message": message}, request=None)
            return HttpResponseBadRequest(body)
        return self.get_response(request)

    @staticmethod
    def _form_has_nul(request: HttpRequest) -> bool:
        if request.method not in ("POST", "PUT", "PATCH"):
            return False
        content_type = request.content_type or ""
        if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return False
        try:
            return _has_nul(request.POST)
        except Exception:  # noqa: BLE001 - a malformed body is the view's (and Django's) to refuse
            return False
