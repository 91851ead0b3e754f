"""Import (preview, queue, progress) and export pages of households, residents and organisations."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from grids import access

from . import importing, selectors, services, transfer
from .forms import ImportForm
from .models import ImportJob

CHANGE = "parties.change_household"
SESSION_KEY = "parties_import_preview"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes, name: str, fmt: str) -> HttpResponse:
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@login_required
def import_template(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    if kind not in transfer.COLUMNS or fmt not in ("csv", "xlsx"):
        raise Http404
    header, rows = transfer.template_rows(kind)
    body = transfer.to_csv(header, rows) if fmt == "csv" else transfer.to_xlsx(header, rows, kind)
    return _download(body, f"{kind}-template", fmt)


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    """Upload → preview (every bad row listed, nothing written) → queue (Celery) → progress."""
    if not access.user_can_anywhere(request.user, CHANGE):
        raise Http404
    form = ImportForm(request.POST or None, request.FILES or None)
    plan = None
    if request.method == "POST" and request.POST.get("confirm"):
        token = request.session.get(SESSION_KEY)
        job = ImportJob.objects.filter(pk=token, actor=request.user, state="preview").first() if token else None
        if job is None:
            messages.error(request, _("The preview has expired: upload the file again."))
            return redirect("parties:import")
        try:
            queued = importing.import_queue(
                actor=request.user, kind=job.kind, data=bytes(job.data), filename=job.filename
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("parties:import")
        finally:
            job.delete()
            request.session.pop(SESSION_KEY, None)
        return redirect("parties:import_job", pk=queued.pk)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read(settings.GOVGRID_PARTIES_IMPORT_MAX_BYTES + 1)
        plan = transfer.plan(actor=request.user, kind=form.cleaned_data["kind"], data=data)
        if plan.ok:
            # The previewed file waits in a job row (state "preview") until it is confirmed: never in the session.
            ImportJob.objects.filter(actor=request.user, state="preview").delete()
            held = ImportJob.objects.create(
                kind=plan.kind,
                region=plan.region,
                actor=request.user,
                filename=upload.name[:200],
                data=data,
                state="preview",
                total=len(plan.rows),
            )
            request.session[SESSION_KEY] = held.pk
    jobs = ImportJob.objects.filter(actor=request.user).exclude(state="preview").select_related("region")[:10]
    context = {
        "form": form,
        "plan": plan,
        "preview": plan.preview() if plan and plan.ok else [],
        "jobs": jobs,
        "max_mb": settings.GOVGRID_PARTIES_IMPORT_MAX_BYTES // (1024 * 1024),
        "max_rows": settings.GOVGRID_PARTIES_IMPORT_MAX_ROWS,
    }
    return render(request, "parties/import.html", context)


@login_required
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(
        ImportJob.objects.select_related("region").exclude(state="preview"), pk=pk, actor=request.user
    )
    info = importing.progress_of(job)
    if request.GET.get("format") == "json":
        return JsonResponse(info | {"result": job.result})
    template = "parties/_import_progress.html" if request.htmx else "parties/import_job.html"
    return render(request, template, {"job": job, "info": info})


@login_required
def export(request: HttpRequest, pk: int, kind: str, fmt: str) -> HttpResponse:
    """The region's households (one row per resident) or organisations, masked unless ``unmasked=1`` is asked by a
    holder of parties.view_personal_data there (then one access log row names the export and its row count)."""
    if kind not in ("households", "organisations") or fmt not in ("csv", "xlsx"):
        raise Http404
    region = selectors.region_get(user=request.user, pk=pk)
    unmasked = request.GET.get("unmasked") == "1"
    if unmasked and not access.user_can(request.user, "parties.view_personal_data", region):
        raise PermissionDenied(_("Only holders of the personal data permission here may export whole numbers."))
    limit = settings.GOVGRID_PARTIES_IMPORT_MAX_ROWS
    writer = transfer.export_households if kind == "households" else transfer.export_organisations
    header, rows = writer(region=region, unmasked=unmasked, limit=limit)
    if unmasked:
        services.access_log_record(
            actor=request.user,
            region=region,
            target_type="export",
            target_id=region.pk,
            label=f"{kind} · {region.name} ({region.code})",
            field="export",
            rows=len(rows),
        )
    body = transfer.to_csv(header, rows) if fmt == "csv" else transfer.to_xlsx(header, rows, kind)
    return _download(body, f"{kind}-{region.code}-{timezone.localdate():%Y%m%d}", fmt)
