"""Every write of risk early warning: the nightly run of the rules, a supervisor's marks on a warning, the rules'
settings. Each runs in a transaction and writes its audit row in it.

Exactly once per night, caught up after downtime: ``warnings_nightly`` (the beat job, hourly) runs each night due —
the last completed day and, after a downtime, the days missed since the latest run (at most
``GOVGRID_RISK_CATCH_UP``, 7) — each in its own transaction that first inserts the night's ``RiskRun`` row. The
date is unique, so a second worker's insert waits on the first one's and then finds the row: it skips the night. A
worker stopped midway rolls its row back, and the next run does the night. Warnings are inserted skipping the rows
that exist (``(rule, dedupe_key, week)`` is unique), so the same finding is raised once a week.
"""

from __future__ import annotations

import logging
import time as clock
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import services as case_services
from cases.models import Category, Source
from grids import access
from grids.models import AuditLog, Region, User

from . import rules
from .models import RiskRule, RiskRun, Warning, WarningEvent, WarningStatus

logger = logging.getLogger(__name__)

REVIEW = "mediation.review_warning"
MANAGE = "mediation.manage_risk_rules"


# --- settings --------------------------------------------------------------------------------------------------


def rule_params(code: str, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule's parameters: the defaults, overridden by what admins stored."""
    params = dict(rules.RULES[code].defaults)
    for k, v in (stored or {}).items():
        if k in params:
            params[k] = v
    return params


def rule_settings() -> dict[str, tuple[bool, dict[str, Any]]]:
    """code → (active, parameters), for every rule (a rule without a row runs on its defaults)."""
    rows = {r.code: r for r in RiskRule.objects.all()}
    return {
        code: (
            rows[code].is_active if code in rows else True,
            rule_params(code, rows[code].params if code in rows else {}),
        )
        for code in rules.RULES
    }


def may_manage_rules(user: Any) -> bool:
    """The rules hold for the whole city: tuned by those who hold the permission at a top of the tree."""
    return any(access.user_can(user, MANAGE, r) for r in Region.objects.filter(depth=1))


def _clean_params(code: str, values: dict[str, Any]) -> dict[str, Any]:
    defaults = rules.RULES[code].defaults
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, default in defaults.items():
        value = values.get(name, default)
        if isinstance(default, list):
            items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            items = [v for v in items if v]
            if not items:
                errors[name] = [_("Give at least one.")]
            clean[name] = items
            continue
        try:
            number = float(value) if isinstance(default, float) else int(value)
        except (TypeError, ValueError):
            errors[name] = [_("Enter a number.")]
            continue
        if number <= 0 or number > 10_000:
            errors[name] = [_("Enter a number above 0 and at most 10000.")]
        clean[name] = number
    if errors:
        raise ValidationError(errors)
    return clean


def rule_save(*, actor: User, code: str, is_active: bool, params: dict[str, Any]) -> RiskRule:
    """Tune one rule (its thresholds and windows, on or off); audited."""
    if code not in rules.RULES:
        raise ValidationError(_("Unknown rule."))
    if not may_manage_rules(actor):
        raise PermissionDenied(_("You may not tune the warning rules."))
    clean = _clean_params(code, params)
    with transaction.atomic():
        row, _created = RiskRule.objects.select_for_update().get_or_create(code=code)
        old = {"is_active": row.is_active, "params": rule_params(code, row.params)}
        row.is_active, row.params, row.updated_by = is_active, clean, actor
        row.save()
        AuditLog.objects.create(
            actor=actor,
            action="risk_rule_change",
            target_type="risk_rule",
            target_id=code,
            target_repr=str(rules.RULES[code].name),
            data={"old": old, "new": {"is_active": is_active, "params": clean}},
        )
    return row


# --- the nightly run ---------------------------------------------------------------------------------------------


def nights_due(today: date | None = None) -> list[date]:
    """The days whose data the job runs the rules over: yesterday (the last completed day), and the days since the
    latest run after a downtime, at most ``GOVGRID_RISK_CATCH_UP``. A new installation starts with yesterday."""
    today = today or timezone.localdate()
    last = today - timedelta(days=1)
    limit = max(1, getattr(settings, "GOVGRID_RISK_CATCH_UP", 7))
    latest = RiskRun.objects.filter(finished_at__isnull=False).aggregate(d=Max("run_date"))["d"]
    days = [last]
    while len(days) < limit and latest is not None and days[-1] - timedelta(days=1) > latest:
        days.append(days[-1] - timedelta(days=1))
    done = set(RiskRun.objects.filter(run_date__in=days).values_list("run_date", flat=True))
    return sorted(d for d in days if d not in done)


def _placement(region_ids: set[int]) -> dict[int, tuple[Region, int | None, int | None]]:
    """Each grid with the ids of its street and district (from the path: no walk up the tree)."""
    grids = Region.objects.in_bulk(region_ids)
    step = Region.steplen
    prefixes = {g.path[: step * depth] for g in grids.values() for depth in (2, 3) if g.depth >= depth}
    ids = dict(Region.objects.filter(path__in=prefixes).values_list("path", "id"))
    return {
        pk: (g, ids.get(g.path[: step * 3]) if g.depth >= 3 else None, ids.get(g.path[: step * 2]))
        for pk, g in grids.items()
    }


def explanation_for(rule: str, params: dict[str, Any]) -> str:
    """The explanation of a finding in the current language."""
    values = {k: ("—" if v in (None, "") else v) for k, v in params.items()}
    return str(rules.RULES[rule].template) % values


def warnings_for_day(day: date, *, run: RiskRun | None = None) -> dict[str, int]:
    """Run every active rule over the data up to ``day`` and insert its new findings (rows that exist are left
    alone). Returns the number of warnings raised per rule."""
    week = rules.week_of(day)
    counts: dict[str, int] = {}
    for code, (active, params) in rule_settings().items():
        if not active:
            continue
        with translation.override(settings.LANGUAGE_CODE):  # stored labels, read in the weekly meeting's language
            findings = rules.RULES[code].run(day, params)
        if code == "cluster":
            findings = _new_clusters(findings, week)
        placed = _placement({f.region_id for f in findings})
        rows = []
        for f in findings:
            grid, street, district = placed[f.region_id]
            with translation.override(settings.LANGUAGE_CODE):
                text = explanation_for(code, f.params)
            rows.append(
                Warning(
                    rule=code,
                    week=week,
                    dedupe_key=f.dedupe_key,
                    region=grid,
                    street_id=street,
                    district_id=district,
                    subject_kind=f.subject_kind,
                    subject_id=f.subject_id,
                    subject_label=f.subject_label[:200],
                    explanation=text,
                    evidence={"params": f.params, "links": f.links, **f.extra},
                    lat=f.lat,
                    lng=f.lng,
                    found_on=day,
                    run=run,
                )
            )
        before = Warning.objects.filter(rule=code, week=week).count()
        Warning.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        counts[code] = Warning.objects.filter(rule=code, week=week).count() - before
    return counts


def _new_clusters(findings: list[rules.Finding], week: date) -> list[rules.Finding]:
    """A cluster that shares a case with one already raised this week is the same cluster, grown or shifted."""
    seen: set[int] = set()
    for evidence in Warning.objects.filter(rule="cluster", week=week).values_list("evidence", flat=True):
        seen.update(evidence.get("cases", []))
    return [f for f in findings if not seen.intersection(f.extra.get("cases", []))]


def warnings_run_night(day: date) -> RiskRun | None:
    """Run the rules for one night, once: None when another worker has run (or is running) it."""
    started = clock.monotonic()
    try:
        with transaction.atomic():
            run, created = RiskRun.objects.get_or_create(run_date=day)
            if not created:
                return None
            run.counts = warnings_for_day(day, run=run)
            run.finished_at = timezone.now()
            run.seconds = round(clock.monotonic() - started, 3)
            run.save(update_fields=["counts", "finished_at", "seconds"])
            return run
    except IntegrityError:  # another worker inserted the night's row at the same moment and committed first
        return None


def warnings_nightly(today: date | None = None) -> list[RiskRun]:
    """The beat job: every night due, oldest first, each once."""
    done = []
    for day in nights_due(today):
        run = warnings_run_night(day)
        if run is not None:
            logger.info("risk warnings for %s: %s", day, run.counts)
            done.append(run)
    return done


# --- a supervisor's marks -----------------------------------------------------------------------------------------


def _lock(warning: Warning, actor: User) -> Warning:
    locked = Warning.objects.select_for_update(of=("self",)).select_related("region").get(pk=warning.pk)
    if not access.user_can(actor, REVIEW, locked):
        raise PermissionDenied(_("You may not review this warning."))
    return locked


def _audit(warning: Warning, actor: User, action: str, old: str, reason: str = "", **data: Any) -> WarningEvent:
    return WarningEvent.objects.create(
        warning=warning, actor=actor, action=action, from_status=old, to_status=warning.status, reason=reason, data=data
    )


def _set(warning: Warning, actor: User, status: str, reason: str = "", case=None) -> str:
    old = warning.status
    warning.status, warning.status_reason, warning.status_by, warning.status_at = status, reason, actor, timezone.now()
    if case is not None:
        warning.case = case
    warning.save(update_fields=["status", "status_reason", "status_by", "status_at", "case"])
    return old


def _open(warning: Warning) -> None:
    if warning.status == WarningStatus.TURNED_INTO_CASE:
        raise ValidationError(_("This warning was turned into a case already."))


def warning_follow_up(*, actor: User, warning: Warning, note: str = "") -> Warning:
    """Mark a warning followed up (已跟进), with an optional note."""
    with transaction.atomic():
        warning = _lock(warning, actor)
        _open(warning)
        old = _set(warning, actor, WarningStatus.FOLLOWED_UP, note.strip()[:2000])
        _audit(warning, actor, "follow_up", old, warning.status_reason)
    return warning


def warning_dismiss(*, actor: User, warning: Warning, reason: str) -> Warning:
    """Dismiss a warning (排除): a reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the warning is dismissed.")})
    with transaction.atomic():
        warning = _lock(warning, actor)
        _open(warning)
        old = _set(warning, actor, WarningStatus.DISMISSED, reason[:2000])
        _audit(warning, actor, "dismiss", old, warning.status_reason)
    return warning


def suggested_category(warning: Warning) -> Category | None:
    code = rules.RULES[warning.rule].default_category
    if warning.rule == "rising_grid" and warning.evidence.get("by") == "c":
        return Category.objects.filter(pk=warning.evidence.get("category_id"), is_active=True).first()
    if code:
        return Category.objects.filter(code=code, is_active=True).first()
    return None


def warning_to_case(*, actor: User, warning: Warning, category: Category, title: str = "", note: str = "") -> Warning:
    """Turn a warning into a case (转为事件): the ordinary report (cases.services.case_report) in the warning's grid,
    at its place, with the explanation and "from risk warning N" as the description; the case is the warning's from
    then on.

    The reporter is the actor: the supervisor or street dispatcher who reviewed the warning. He need not hold the
    general right to report cases (``cases.report_case``): this service checks ``mediation.review_warning`` on the
    warning's grid (``_lock``) and files the report with ``allowed_by`` naming that permission, so the right to turn
    a warning into a case goes no further than the warnings one may review. The source is "Other" (the roll-up keeps
    a column per source, and no source names the warnings), and the case's timeline names the warning."""
    with transaction.atomic():
        warning = _lock(warning, actor)
        _open(warning)
        title = (title or "").strip() or f"{rules.RULES[warning.rule].name}：{warning.subject_label}"
        with translation.override(settings.LANGUAGE_CODE):  # stored text, read by the case's handlers
            origin = _("From risk warning #%(n)s") % {"n": warning.pk}
            label = f"{_('Risk warning')} #{warning.pk}"
        description = "\n".join(x for x in (origin, warning.explanation, note.strip()) if x)
        case = case_services.case_report(
            reporter=actor,
            allowed_by=REVIEW,
            through={"label": label, "url": warning.get_absolute_url()},
            category=category,
            title=title[:120],
            region=warning.region,
            description=description,
            source=Source.OTHER,
            lat=warning.lat if warning.subject_kind == "point" else None,
            lng=warning.lng if warning.subject_kind == "point" else None,
        )
        old = _set(warning, actor, WarningStatus.TURNED_INTO_CASE, note.strip()[:2000], case=case)
        _audit(warning, actor, "to_case", old, warning.status_reason, case=case.pk, number=case.number)
    return warning
