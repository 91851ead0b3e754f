"""The pages of risk early warning: the weekly 研判 list, a warning with its actions, the XLSX, the map's GeoJSON
and the rules' settings. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from grids.codes import Level
from grids.models import Region

from . import export, rules, selectors, services
from .forms import ActionForm, ListForm, PeriodForm, RuleForm, this_week
from .models import RiskRun, WarningStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _need_review(request: HttpRequest) -> None:
    if not selectors.may_review(request.user):
        raise PermissionDenied(_("The warning list is for supervisors and street dispatchers."))


def _list_context(request: HttpRequest):
    form = ListForm(request.GET or None)
    valid = not form.is_bound or form.is_valid()
    pk = form.cleaned_data.get("region") if form.is_bound and valid else None
    region = selectors.region_get(user=request.user, pk=pk) if pk else selectors.default_region(user=request.user)
    week = form.week_value()
    status = form.cleaned_data.get("status", "") if form.is_bound and valid else ""
    return form, valid, region, week, status


@login_required
@require_GET
def warning_list(request: HttpRequest) -> HttpResponse:
    """研判 list: the week's warnings of a street, a district (or the city)."""
    _need_review(request)
    form, valid, region, week, status = _list_context(request)
    rows = selectors.weekly_list(user=request.user, region=region, week=week, status=status)
    counts = dict.fromkeys(WarningStatus.values, 0)
    for r in rows:
        counts[r.warning.status] += 1
    context = {
        "form": form,
        "region": region,
        "level": Level(region.depth).label,
        "week": week,
        "week_end": week + timedelta(days=6),
        "weeks": selectors.week_choices(this_week()),
        "status": status,
        "rows": rows,
        "counts": counts,
        "statuses": WarningStatus.choices,
        "tops": selectors.top_regions(request.user),
        "children": Region.objects.filter(
            path__startswith=region.path, depth=region.depth + 1, is_active=True
        ).order_by("code")
        if region.depth < 3
        else [],
        "last_run": RiskRun.objects.filter(finished_at__isnull=False).first(),
        "may_manage": services.may_manage_rules(request.user),
    }
    return render(request, "mediation/risk/list.html", context, status=200 if valid else 400)


@login_required
@require_GET
def warning_export(request: HttpRequest) -> HttpResponse:
    """The week's list as XLSX (Chinese headers), as the page shows it."""
    _need_review(request)
    _form, _valid, region, week, status = _list_context(request)
    with translation.override(settings.LANGUAGE_CODE):  # the meeting reads it in Chinese, whatever the viewer's
        rows = selectors.weekly_list(user=request.user, region=region, week=week, status=status)
        table = export.rows_of(rows, base_url=request.build_absolute_uri("/")[:-1])
    title = f"{region.name} 风险预警研判清单 {week:%Y-%m-%d} 周"
    content = export.workbook(title=title, rows=table)
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="risk-{region.code}-{week:%Y%m%d}.xlsx"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def warning_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One warning: who, what, why, the evidence and links, its history, and the supervisor's actions."""
    warning = selectors.warning_get(user=request.user, pk=pk)
    form = ActionForm(request.POST or None, initial={"category": services.suggested_category(warning)})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["action"] == "follow_up":
                    services.warning_follow_up(actor=request.user, warning=warning, note=data["reason"])
                    messages.success(request, _("Marked as followed up."))
                elif data["action"] == "dismiss":
                    services.warning_dismiss(actor=request.user, warning=warning, reason=data["reason"])
                    messages.success(request, _("Warning dismissed."))
                else:
                    w = services.warning_to_case(
                        actor=request.user,
                        warning=warning,
                        category=data["category"],
                        title=data["title"],
                        note=data["reason"],
                    )
                    messages.success(request, _("Case %(number)s reported.") % {"number": w.case.number})
                return redirect(warning.get_absolute_url())
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
        status = 400
    context = {
        "warning": warning,
        "row": selectors.row_of(warning),
        "events": selectors.warning_events(warning=warning),
        "form": form,
        "open": warning.status != WarningStatus.TURNED_INTO_CASE,
    }
    return render(request, "mediation/risk/detail.html", context, status=status)


def _error(code: str, detail: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


@require_GET
def warning_geojson(request: HttpRequest) -> JsonResponse:
    """The warnings of a region found in a period, with a place, as GeoJSON (the case map's warnings layer)."""
    if not request.user.is_authenticated:
        return _error("not_authenticated", _("Sign in first."), 401)
    if not selectors.may_review(request.user):
        return _error("permission_denied", _("The warning list is for supervisors and street dispatchers."), 403)
    form = PeriodForm(request.GET)
    if not form.is_valid():
        return _error("invalid", form.error_text(), 400, fields=form.errors.get_json_data())
    try:
        pk = form.cleaned_data.get("region")
        region = selectors.region_get(user=request.user, pk=pk) if pk else selectors.default_region(user=request.user)
    except Http404 as exc:
        return _error("not_found", str(exc) or _("No such region."), 404)
    data = selectors.geojson(
        user=request.user, region=region, since=form.cleaned_data["since"], until=form.cleaned_data["until"]
    )
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def rule_list(request: HttpRequest) -> HttpResponse:
    """The rules' settings (admins): each rule's explanation, on/off, thresholds and windows."""
    if not services.may_manage_rules(request.user):
        raise PermissionDenied(_("You may not tune the warning rules."))
    current = services.rule_settings()
    forms_by_code = {}
    status = 200
    for code, rule in rules.RULES.items():
        active, params = current[code]
        initial = {"is_active": active, **{k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}}
        bound = request.method == "POST" and request.POST.get("rule") == code
        forms_by_code[code] = RuleForm(request.POST if bound else None, rule=rule, initial=initial, prefix=code)
        if bound:
            form = forms_by_code[code]
            if form.is_valid():
                try:
                    services.rule_save(
                        actor=request.user, code=code, is_active=form.cleaned_data["is_active"], params=form.params()
                    )
                    messages.success(request, _("The rule “%(rule)s” is saved.") % {"rule": rule.name})
                    return redirect("mediation:risk:rules")
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
            status = 400
    items = [(rules.RULES[c], f, rules.RULES[c].run.__doc__) for c, f in forms_by_code.items()]
    return render(request, "mediation/risk/rules.html", {"items": items}, status=status)
