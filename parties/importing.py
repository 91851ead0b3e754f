"""Queueing and running the import of a previewed file (the writer behind parties.tasks.run_import).

``import_queue`` stores the file with its job and hands the job id to Celery once the transaction commits.
``import_run`` plans the file again in the worker (the database may have changed since the preview), then writes
every row in one transaction with bulk inserts, or nothing. Progress goes to the job row between phases and to the
cache while rows are written (the job row's updates inside the writing transaction would not be seen until the
end), so the page's progress bar moves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from grids import access
from grids.services import audit

from . import crypto, identity, transfer
from .models import Household, ImportJob, ImportState, Organisation, Residence, Resident
from .services import _recount_members, natural_key

if TYPE_CHECKING:
    from grids.models import User

log = logging.getLogger(__name__)
BATCH = 2000
CACHE_SECONDS = 3600


def progress_key(job_id: int) -> str:
    return f"parties:import:{job_id}"


def progress_of(job: ImportJob) -> dict[str, Any]:
    """{state, phase, done, total, percent} of a job: the cache while it runs, else the row."""
    info = {"state": job.state, "phase": job.phase, "done": job.done, "total": job.total}
    if job.state == ImportState.RUNNING:
        info.update(cache.get(progress_key(job.pk)) or {})
    info["percent"] = (
        100 if job.state == ImportState.DONE else int(100 * info["done"] / info["total"]) if info["total"] else 0
    )
    return info


def import_queue(*, actor: User, kind: str, data: bytes, filename: str) -> ImportJob:
    """Queue a file whose preview was good: the job row holds the file until the worker has read it."""
    plan = transfer.plan(actor=actor, kind=kind, data=data)
    if not plan.ok:
        raise ValidationError(_("The file has problems; preview it again."))
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            region=plan.region,
            actor=actor,
            filename=filename[:200],
            data=data,
            total=len(plan.rows),
            phase="queued",
        )
        audit(
            actor=actor, action="parties.import_queued", target=job, region=plan.region, kind=kind, rows=len(plan.rows)
        )
        transaction.on_commit(lambda: enqueue(job.pk))
        return job


def enqueue(job_id: int) -> None:
    from django.conf import settings

    from .tasks import run_import

    options = {"queue": settings.GOVGRID_IMPORT_QUEUE} if settings.GOVGRID_IMPORT_QUEUE else {}
    run_import.apply_async((job_id,), **options)


def _phase(job: ImportJob, phase: str, done: int = 0) -> None:
    job.phase, job.done = phase, done
    ImportJob.objects.filter(pk=job.pk).update(phase=phase, done=done, total=job.total, state=job.state)
    cache.set(progress_key(job.pk), {"phase": phase, "done": done, "total": job.total}, CACHE_SECONDS)


def import_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job. Safe to call again after a worker died midway (the write is one transaction)."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("actor")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.state in (ImportState.DONE, ImportState.FAILED):
            return job
        job.state = ImportState.RUNNING
        job.save(update_fields=["state"])
    actor = job.actor
    access.clear_cache(actor)
    try:
        _phase(job, "checking")
        plan = transfer.plan(
            actor=actor,
            kind=job.kind,
            data=bytes(job.data),
            progress=lambda done, total: cache.set(
                progress_key(job.pk), {"phase": "checking", "done": done, "total": total}, CACHE_SECONDS
            ),
        )
        if not plan.ok:
            return _fail(job, [f"{e.line}: {e.message}" for e in plan.errors[:200]])
        job.total = len(plan.rows)
        _phase(job, "writing")
        with transaction.atomic():
            if not access.user_can_anywhere(actor, "parties.change_household"):
                raise PermissionDenied(_("The importer may no longer change records."))
            counts = _write_households(job, plan) if job.kind == "households" else _write_organisations(job, plan)
            audit(actor=actor, action="parties.import", target=job, region=job.region, kind=job.kind, **counts)
        job.state, job.result, job.done = ImportState.DONE, counts, job.total
        job.phase, job.finished_at, job.data = "done", timezone.now(), b""
        job.save()
        cache.delete(progress_key(job.pk))
        return job
    except (ValidationError, PermissionDenied) as exc:
        return _fail(job, getattr(exc, "messages", [str(exc)]))
    except Exception:
        log.exception("import job %s failed", job.pk)
        _fail(job, [_("The import stopped on an unexpected error; nothing was written.")])
        raise


def _fail(job: ImportJob, messages: list[str]) -> ImportJob:
    job.state, job.result, job.phase = ImportState.FAILED, {"errors": messages[:200]}, "failed"
    job.finished_at, job.data = timezone.now(), b""
    job.save()
    cache.delete(progress_key(job.pk))
    return job


def _insert(model, objects: list, on_batch=None) -> None:
    """Insert ``objects`` and give them their ids: COPY on PostgreSQL (ids taken from the table's sequence first),
    ``bulk_create`` elsewhere. COPY stores a 100,000-row file several times faster than INSERTs of 2,000 rows."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        for start in range(0, len(objects), BATCH):
            model.objects.bulk_create(objects[start : start + BATCH])
            if on_batch:
                on_batch(start + BATCH)
        return
    table = model._meta.db_table
    fields = list(model._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(objects)]
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        for start in range(0, len(objects), 10_000):
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for obj in objects[start : start + 10_000]:
                    copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
            if on_batch:
                on_batch(start + 10_000)
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias


def _tick(job: ImportJob, done: int) -> None:
    cache.set(progress_key(job.pk), {"phase": "writing", "done": done, "total": job.total}, CACHE_SECONDS)


def _write_households(job: ImportJob, plan: transfer.Plan) -> dict[str, int]:
    rows = plan.rows
    existing: dict[tuple, int] = {}
    regions = {r["_region"] for r in rows}
    for pk, region_id, building_id, unit, room, address in Household.objects.filter(
        region_id__in=regions, is_active=True
    ).values_list("pk", "region_id", "building_id", "unit", "room", "address"):
        existing[(region_id, building_id, unit, room, address)] = pk
    buildings = dict(transfer.Building.objects.filter(region_id__in=regions).values_list("pk", "sort_key"))
    created: dict[tuple, Household] = {}
    household_of_row: list[tuple] = []
    new_households: list[Household] = []
    for row in rows:
        key = transfer._household_key(row)
        address_key = (
            row["_region"],
            row["_building"],
            row.get("unit", ""),
            row.get("room", ""),
            row.get("address", ""),
        )
        household_of_row.append(key)
        if key in created or address_key in existing:
            if address_key in existing and key not in created:
                created[key] = Household(pk=existing[address_key])
            continue
        h = Household(
            region_id=row["_region"],
            building_id=row["_building"],
            unit=row.get("unit", ""),
            floor=int(row["floor"]) if row.get("floor") else None,
            room=row.get("room", ""),
            address=row.get("address", ""),
            kind=row["_kind"],
            sort_key="|".join(
                [
                    buildings.get(row["_building"], "~") if row["_building"] else "~",
                    natural_key(row.get("unit", "")),
                    natural_key(row.get("room", "")),
                    natural_key(row.get("address", "")),
                ]
            )[:120],
        )
        created[key] = h
        new_households.append(h)
    # New households get their member count here; households already on record are recounted after the write.
    people_of: dict[tuple, int] = {}
    for row, key in zip(rows, household_of_row, strict=True):
        if row.get("name"):
            people_of[key] = people_of.get(key, 0) + 1
    for key, household in created.items():
        if household._state.adding:
            household.member_count = people_of.get(key, 0)
    _insert(Household, new_households)
    _tick(job, len(rows) // 10)
    residents: list[Resident] = []
    person_rows = []
    for i, row in enumerate(rows):
        if not row.get("name"):
            continue
        household = created[household_of_row[i]]
        number, phone = row.get("id_number", ""), row.get("phone", "")
        residents.append(
            Resident(
                region_id=row["_region"],
                household_id=household.pk,
                relation=row["_relation"],
                name=row["name"],
                gender=row["_gender"],
                birth_date=row["_birth_date"],
                id_number_enc=crypto.encrypt(number),
                id_number_hash=crypto.digest("id", number),
                id_number_mask=identity.mask_id(number),
                phone_enc=crypto.encrypt(phone),
                phone_hash=crypto.digest("phone", phone),
                phone_mask=identity.mask_phone(phone),
                moved_in_on=row["_moved_in_on"],
            )
        )
        person_rows.append(row)
        if len(residents) % 5000 == 0:
            _tick(job, len(rows) // 10 + len(residents) // 3)
    base = len(rows) // 10 + len(residents) // 3
    _insert(Resident, residents, on_batch=lambda done: _tick(job, base + min(done, len(residents)) // 2))
    _insert(
        Residence,
        [
            Residence(resident_id=r.pk, household_id=r.household_id, relation=r.relation, moved_in_on=r.moved_in_on)
            for r in residents
        ],
    )
    through = Resident.tags.through
    through.objects.bulk_create(
        [
            through(resident_id=r.pk, tag_id=t)
            for r, row in zip(residents, person_rows, strict=True)
            for t in row["_tags"]
        ],
        batch_size=BATCH,
    )
    fresh = {h.pk for h in new_households}
    _recount_members({r.household_id for r in residents} - fresh)
    _tick(job, len(rows))
    return {"households": len(new_households), "residents": len(residents)}


def _write_organisations(job: ImportJob, plan: transfer.Plan) -> dict[str, int]:
    organisations = []
    for row in plan.rows:
        phone = row.get("contact_phone", "")
        organisations.append(
            Organisation(
                region_id=row["_region"],
                name=row["name"],
                uscc=row.get("uscc", ""),
                kind=row["_kind"],
                building_id=row["_building"],
                address=row.get("address", ""),
                legal_representative=row.get("legal_representative", ""),
                contact_name=row.get("contact_name", ""),
                contact_phone_enc=crypto.encrypt(phone),
                contact_phone_hash=crypto.digest("phone", phone),
                contact_phone_mask=identity.mask_phone(phone),
            )
        )
    _insert(Organisation, organisations, on_batch=lambda done: _tick(job, done))
    through = Organisation.tags.through
    through.objects.bulk_create(
        [
            through(organisation_id=o.pk, tag_id=t)
            for o, row in zip(organisations, plan.rows, strict=True)
            for t in row["_tags"]
        ],
        batch_size=BATCH,
    )
    return {"organisations": len(organisations)}
