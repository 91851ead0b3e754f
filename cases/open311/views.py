"""Open311 GeoReport v2 under /open311/v2/: discovery, services, service definitions, requests (GET and POST),
one request, tokens; JSON or XML by the extension; errors as ``[{code, description}]`` in either format.

Only public categories are services; GET answers carry no personal data of the residents (contact, name, e-mail,
phone stay on the case, masked on the pages). Status notes say what happened in plain words, never an internal
comment. Datetimes are ISO 8601 with the city's offset.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from cases.models import Case, CaseEvent, Category, Open311Request, WorkOrder
from cases.workflow import State, WorkOrderState

from . import services

MAX_REQUESTS = 1000
MAX_SPAN = timedelta(days=90)
CLOSED = {State.CLOSED, State.CANCELLED}
# What a resident reads as the status note of the latest step (never the staff's comment).
PUBLIC_NOTES = {
    "report": "Received; the community is looking at it.",
    "call_street": "Passed to the street office.",
    "accept": "Accepted by the street office.",
    "return": "Returned to the community.",
    "dispatch": "Sent to the departments responsible.",
    "redispatch": "Sent again to the departments responsible.",
    "settle": "Settled by the community; to be checked on site.",
    "wo_sign": "A department has taken it on.",
    "wo_complete": "A department reports the work done.",
    "verify_ok": "Checked on site: fixed.",
    "verify_failed": "Checked on site: not fixed yet, work goes on.",
    "close": "Closed.",
    "escalate": "Passed to the level above.",
    "cancel": "Closed without action.",
    "mark_duplicate": "Closed: the same problem was already reported.",
    "reopen": "Reopened.",
    "evaluate": "Your evaluation was recorded.",
}


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def iso(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


# --- rendering ------------------------------------------------------------------------------------------


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


# Lists inside a row and the name of each of their items (as in the spec's XML examples).
_XML_ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _fill(node: ET.Element, row: dict[str, Any]) -> None:
    for key, value in row.items():
        child = ET.SubElement(node, key)
        if isinstance(value, list):
            for v in value:
                sub = ET.SubElement(child, _XML_ITEMS.get(key, "item"))
                if isinstance(v, dict):
                    _fill(sub, v)
                else:
                    sub.text = str(v)
        elif isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def render(fmt: str, root: str, item: str, rows: Any, *, status: int = 200) -> HttpResponse:
    if fmt == "xml":
        if isinstance(rows, dict):  # one element (discovery, a service definition)
            top = ET.Element(root)
            _fill(top, rows)
            body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
        else:
            body = _xml(root, item, rows)
        return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")
    return JsonResponse(rows, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def error(fmt: str, status: int, description: str) -> HttpResponse:
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status=status)


def endpoint(view):
    """Open311 errors and Django's ValidationError in the spec's format; the jurisdiction checked first."""

    def wrapped(request: HttpRequest, *args, fmt: str, **kwargs) -> HttpResponse:
        try:
            params = request.POST if request.method == "POST" else request.GET
            wanted = getattr(settings, "OPEN311_JURISDICTION", "")
            given = params.get("jurisdiction_id", "")
            if given and wanted and given != wanted:
                raise Open311Error(404, f"jurisdiction_id {given!r} is not served here; use {wanted!r}.")
            return view(request, *args, fmt=fmt, **kwargs)
        except Open311Error as exc:
            return error(fmt, exc.status, exc.description)
        except ValidationError as exc:
            return error(fmt, 400, " ".join(exc.messages))

    wrapped.__name__ = view.__name__
    return csrf_exempt(wrapped)


# --- discovery and services -----------------------------------------------------------------------------


@require_http_methods(["GET"])
@endpoint
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    base = request.build_absolute_uri("/open311/v2/")
    body = {
        "changeset": iso(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)),
        "contact": getattr(settings, "OPEN311_CONTACT", ""),
        "key_service": getattr(settings, "OPEN311_KEY_SERVICE", ""),
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": iso(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, "discovery", "", body)


def _public_categories():
    return Category.objects.filter(is_public=True, is_active=True, parent__isnull=False, parent__is_active=True)


def _service(c: Category) -> dict[str, Any]:
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": c.service_notice or c.name,
        "metadata": bool(c.questions),
        "type": "realtime",
        "keywords": c.keywords,
        "group": c.parent.name,
    }


@require_http_methods(["GET"])
@endpoint
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    rows = _public_categories().select_related("parent").order_by("parent__sort_order", "sort_order", "code")
    return render(fmt, "services", "service", [_service(c) for c in rows])


@require_http_methods(["GET"])
@endpoint
def service_definition(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    category = _public_categories().filter(code=code).first()
    if category is None:
        raise Open311Error(404, f"No service with the code {code!r}.")
    attributes = [
        {
            "variable": True,
            "code": q.get("code", ""),
            "datatype": q.get("datatype", "string"),
            "required": bool(q.get("required")),
            "datatype_description": q.get("datatype_description", ""),
            "order": i + 1,
            "description": q.get("description", ""),
            "values": [{"key": v.get("key"), "name": v.get("name")} for v in q.get("values") or []],
        }
        for i, q in enumerate(category.questions or [])
    ]
    return render(fmt, "service_definition", "", {"service_code": category.code, "attributes": attributes})


# --- requests -------------------------------------------------------------------------------------------


def _rows():
    lead = WorkOrder.objects.filter(case=OuterRef("pk"), is_lead=True).exclude(state=WorkOrderState.CANCELLED)
    latest = CaseEvent.objects.filter(case=OuterRef("pk"), transition__in=list(PUBLIC_NOTES)).order_by("-at", "-id")
    return (
        Case.objects.filter(category__is_public=True)
        .select_related("category")
        .annotate(
            agency=Subquery(lead.order_by("-round", "id").values("department__name")[:1]),
            last_step=Subquery(latest.values("transition")[:1]),
            media=Subquery(Open311Request.objects.filter(case=OuterRef("pk")).values("media_url")[:1]),
        )
        .defer("parties", "reporter_contact", "departments")
    )


def _request_row(case: Case) -> dict[str, Any]:
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in CLOSED else "open",
        "status_notes": PUBLIC_NOTES.get(case.last_step or "", ""),
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description if case.source == "open311" else case.title,
        "agency_responsible": case.agency or "",
        "service_notice": case.category.service_notice,
        "requested_datetime": iso(case.created_at),
        "updated_datetime": iso(case.updated_at),
        "expected_datetime": iso(case.due_at) if case.state not in CLOSED else "",
        "address": case.address,
        "address_id": "",
        "zipcode": "",
        "lat": case.lat,
        "long": case.lng,
        "media_url": case.media or "",
    }


def _date(params, name: str) -> datetime | None:
    raw = params.get(name, "")
    if not raw:
        return None
    value = parse_datetime(raw.replace(" ", "+")) if "T" in raw else None
    if value is None:
        raise Open311Error(400, f"{name} must be a W3C datetime such as 2026-11-21T09:00:00+08:00.")
    return value if value.tzinfo else timezone.make_aware(value)


def _request_list(request: HttpRequest, fmt: str) -> HttpResponse:
    params = request.GET
    rows = _rows()
    ids = [i.strip().upper() for i in params.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        rows = rows.filter(number__in=ids[:MAX_REQUESTS])
    else:
        start, end = _date(params, "start_date"), _date(params, "end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date.")
        if start and end and end - start > MAX_SPAN:
            raise Open311Error(400, "start_date and end_date are at most 90 days apart.")
        if not start and not end:
            end = timezone.now()
            start = end - MAX_SPAN
        elif start and not end:
            end = start + MAX_SPAN
        elif end and not start:
            start = end - MAX_SPAN
        rows = rows.filter(created_at__gte=start, created_at__lte=end)
        codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]
        if codes:
            rows = rows.filter(category__code__in=codes)
        statuses = {s.strip() for s in params.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status is open, closed, or both (open,closed).")
        if statuses == {"open"}:
            rows = rows.exclude(state__in=CLOSED)
        elif statuses == {"closed"}:
            rows = rows.filter(state__in=CLOSED)
    found = list(rows.order_by("-created_at", "-id")[:MAX_REQUESTS])
    return render(fmt, "service_requests", "request", [_request_row(c) for c in found])


_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_\-]{1,40})\](\[\])?$")


def _float(params, name: str) -> float | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number.") from None
    if value != value or abs(value) > (90 if name == "lat" else 180):
        raise Open311Error(400, f"{name} is out of range.")
    return value


def _request_post(request: HttpRequest, fmt: str) -> HttpResponse:
    params = request.POST
    key = services.key_check(params.get("api_key", ""))
    if key is None:
        raise Open311Error(403, "A valid api_key is required to post a request.")
    if services.over_rate(key):
        raise Open311Error(429, "Too many requests from this api_key: wait a minute.")
    code = params.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required.")
    category = _public_categories().filter(code=code).first()
    if category is None:
        raise Open311Error(404, f"No service with the code {code!r}.")
    lat, lng = _float(params, "lat"), _float(params, "long")
    if (lat is None) != (lng is None):
        raise Open311Error(400, "Give both lat and long.")
    address = params.get("address_string", "").strip()
    if lat is None and not address and not params.get("address_id"):
        raise Open311Error(400, "A location is required: lat and long, or address_string.")
    attributes: dict[str, list[str]] = {}
    for name in params:
        match = _ATTRIBUTE.match(name)
        if match:
            attributes[match.group(1)] = params.getlist(name)
        elif name.startswith("attribute"):
            raise Open311Error(400, f"Bad attribute parameter {name!r}: use attribute[CODE].")
    description = params.get("description", "")
    if len(description) > services.DESCRIPTION_MAX:
        raise Open311Error(400, "description has at most 4000 characters.")
    media_url = params.get("media_url", "").strip()
    if media_url and not re.match(r"^https?://", media_url):
        raise Open311Error(400, "media_url must be an http(s) address.")
    files = request.FILES.getlist("media")
    made = services.request_create(
        key=key,
        category=category,
        lat=lat,
        lng=lng,
        address=address,
        description=description,
        email=params.get("email", "").strip(),
        first_name=params.get("first_name", "").strip(),
        last_name=params.get("last_name", "").strip(),
        phone=params.get("phone", "").strip(),
        device_id=params.get("device_id", "").strip(),
        account_id=params.get("account_id", "").strip(),
        media_url=media_url,
        attributes=attributes,
        files=files,
    )
    row = {
        "service_request_id": made.case.number,
        "token": made.token,
        "service_notice": category.service_notice,
        "account_id": made.account_id,
    }
    return render(fmt, "service_requests", "request", [row], status=201)


@require_http_methods(["GET", "POST"])
@endpoint
def request_list(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _request_post(request, fmt)
    return _request_list(request, fmt)


@require_http_methods(["GET"])
@endpoint
def request_detail(request: HttpRequest, number: str, fmt: str) -> HttpResponse:
    case = _rows().filter(number=number.upper()).first()
    if case is None:
        raise Open311Error(404, f"No request with the id {number!r}.")
    return render(fmt, "service_requests", "request", [_request_row(case)])


@require_http_methods(["GET"])
@endpoint
def token_detail(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    found = Open311Request.objects.filter(token=token).select_related("case").first()
    if found is None:
        raise Open311Error(404, f"No request with the token {token!r}.")
    return render(fmt, "service_requests", "request", [{"service_request_id": found.case.number, "token": token}])
