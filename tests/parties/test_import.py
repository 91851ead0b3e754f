"""Import of households with residents, and of organisations: the dry run lists every bad row and writes nothing;
a good file is queued and written in one transaction."""

import pytest
from django.urls import reverse

from parties import importing, transfer
from parties.models import AccessLog, Household, ImportJob, Organisation, Resident

from .conftest import make_id

pytestmark = pytest.mark.postgres
HEADER = "网格编码,楼栋,单元,楼层,房号,地址,户类型,户编号,姓名,性别,出生日期,身份证号,手机号,与户主关系,标签,迁入日期"


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def good_rows(grid: str, n: int = 3) -> list[str]:
    rows = []
    for i in range(n):
        number = make_id("19800101", f"{100 + i:03d}")
        rows.append(f"{grid},1栋,2,{i + 1},{i + 1}01,,出租,,居民{i},,,{number},1370000{i:04d},户主,独居老人,2020-01-01")
    return rows


def test_the_preview_lists_every_bad_row_and_writes_nothing(world):
    g = world.city.g1111.code
    ok = make_id("19800101", "301")
    bad_check = make_id("19800101", "302")[:-1] + "0"
    if bad_check == make_id("19800101", "302"):
        bad_check = bad_check[:-1] + "1"
    data = csv_file(
        f"{g},1栋,2,3,301,,自住,A,好人,男,1980-01-01,{ok},13700000001,户主,,",  # line 2: good
        f"{g},1栋,2,3,302,,自住,B,错号,,,{bad_check},,户主,,",  # 3: check character
        f"{g},1栋,2,3,303,,自住,C,错日,,1980-01-02,{make_id('19800101', '303')},,户主,,",  # 4: birth date
        "999999999999999,1栋,2,3,304,,自住,D,无网格,,,,,户主,,",  # 5: unknown grid
        f"{g},9栋,2,3,305,,自住,E,无楼栋,,,,,户主,,",  # 6: unknown building
        f"{g},1栋,2,3,306,,自住,F,重号,,,{ok},,户主,,",  # 7: duplicate in the file
        f"{g},1栋,2,3,307,,自住,G,库中,,,{make_id('19650308', '123')},,户主,,",  # 8: already in the database
        f"{g},1栋,2,3,308,,自住,H,坏电话,,,,02812345678,户主,,",  # 9: phone format
        f"{g},1栋,2,3,309,,自住,I,坏标签,,,,,户主,不存在的标签,",  # 10: unknown tag
        f"{world.city.g2111.code},,,,,远方路1号,自住,J,外街,,,,,户主,,",  # 11: not the importer's grid
    )
    before = (Household.objects.count(), Resident.objects.count())
    plan = transfer.plan(actor=world.worker, kind="households", data=data)
    lines = sorted({e.line for e in plan.errors})
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    text = " ".join(e.message for e in plan.errors)
    for words in (
        "check character",
        "does not match",
        "Unknown grid",
        "Unknown building",
        "repeated",
        "already on record",
        "mobile",
        "Unknown tag",
    ):
        assert words in text, words
    assert bad_check not in text and ok not in text  # messages never carry a whole number
    assert not plan.ok and (Household.objects.count(), Resident.objects.count()) == before


def test_the_page_previews_then_queues_and_the_job_writes_everything(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.worker)
    page = client.get(reverse("parties:import"))
    assert page.status_code == 200
    template = client.get(reverse("parties:import_template", args=["households", "xlsx"]))
    assert template.status_code == 200 and template.content[:2] == b"PK"
    upload = ("居民.csv", csv_file(*good_rows(world.city.g1111.code)), "text/csv")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(reverse("parties:import"), {"kind": "households", "file": SimpleUploadedFile(*upload)})
    page = response.content.decode()
    assert 'data-testid="import-preview"' in page and "13700000000" not in page  # the preview is masked too
    assert Household.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("parties:import"), {"confirm": "1"})
    job = ImportJob.objects.exclude(state="preview").get()
    assert response.status_code == 302 and response["Location"] == reverse("parties:import_job", args=[job.pk])
    assert len(callbacks) == 1 and job.state == "queued" and Household.objects.count() == 1
    importing.import_run(job_id=job.pk)  # what the worker does (tests/parties/test_import_worker.py runs a real one)
    job.refresh_from_db()
    assert job.state == "done" and job.result == {"households": 3, "residents": 3} and job.data == b""
    assert Resident.objects.filter(name__startswith="居民", tags__code="elderly-alone").count() == 3
    info = client.get(reverse("parties:import_job", args=[job.pk]), {"format": "json"}).json()
    assert info["state"] == "done" and info["percent"] == 100
    assert not AccessLog.objects.exists()


def test_a_file_that_became_bad_before_the_worker_ran_writes_nothing(world):
    data = csv_file(*good_rows(world.city.g1111.code, 2))
    job = importing.import_queue(actor=world.worker, kind="households", data=data, filename="a.csv")
    from parties import services

    services.resident_save(
        actor=world.actor, household=world.household, name="抢先", id_number=make_id("19800101", "101")
    )
    importing.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "already on record" in " ".join(job.result["errors"])
    assert not Resident.objects.filter(name__startswith="居民").exists()
    assert importing.import_run(job_id=job.pk).state == "failed"  # a second delivery changes nothing


def test_organisations_import(world):
    header = "网格编码,单位名称,统一社会信用代码,单位类型,楼栋,地址,法定代表人,联系人,联系电话,标签"
    g = world.city.g1111.code
    data = f"{header}\n{g},新店,91110108551385082Q,商铺,1栋,东湖路2号,李四,李四,13711112222,餐饮\n{g},错码店,91110108551385082R,,,,,,,\n".encode()
    plan = transfer.plan(actor=world.worker, kind="organisations", data=data)
    assert [e.line for e in plan.errors] == [3]
    data = f"{header}\n{g},新店,91110108551385082Q,商铺,1栋,东湖路2号,李四,李四,13711112222,餐饮\n".encode()
    job = importing.import_queue(actor=world.worker, kind="organisations", data=data, filename="o.csv")
    importing.import_run(job_id=job.pk)
    shop = Organisation.objects.get(uscc="91110108551385082Q")
    assert (
        shop.kind == "shop" and shop.contact_phone_mask == "137****2222" and "13711112222" not in shop.contact_phone_enc
    )


def test_a_file_that_is_not_a_spreadsheet_is_refused(world):
    plan = transfer.plan(actor=world.worker, kind="households", data=b"\x89PNG\r\n\x1a\nxxxx")
    assert not plan.ok and "PNG" in plan.errors[0].message
    plan = transfer.plan(actor=world.worker, kind="households", data="姓名\n张三\n".encode())
    assert not plan.ok and "Missing" in plan.errors[0].message
