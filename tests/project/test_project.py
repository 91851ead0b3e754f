"""The project's wiring: compose stack, settings from the environment, Celery app, embedded SQLite."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_names_the_five_services_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "redis", "web", "worker", "beat"}
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert any("pgdata" in v for v in services["db"]["volumes"])
    for name in ("web", "worker", "beat"):
        assert services[name]["build"] == "."
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert "beat" in services["beat"]["command"]
    assert (ROOT / "Dockerfile").exists()


@pytest.mark.skipif(not (shutil.which("docker-compose") or shutil.which("docker")), reason="no compose client")
def test_compose_config_accepts_the_file():
    if shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", "docker-compose.yml", "config", "-q"]
    else:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip("docker has no compose plugin here")
        cmd = ["docker", "compose", "-f", "docker-compose.yml", "config", "-q"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _settings_probe(env: dict, code: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "govgrid.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_secret_key_unless_debug(tmp_path):
    result = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path)}, "print('started')")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
    ok = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50, **FIELD_KEYS}, "print('started')")
    assert ok.returncode == 0, ok.stderr


FIELD_KEYS = {
    "GOVGRID_FIELD_KEYS": "7BzhR8Zr0dQ6Q0o8dQXfUe2jH3v9xk1mWq4tA5sL6pE=",
    "GOVGRID_HMAC_KEY": "a-long-random-hmac-key-for-the-settings-test-only",
}


def test_refuses_to_start_without_the_personal_data_keys_unless_debug(tmp_path):
    base = {"GOVGRID_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50}
    for missing in ("GOVGRID_FIELD_KEYS", "GOVGRID_HMAC_KEY"):
        env = {**base, **{k: v for k, v in FIELD_KEYS.items() if k != missing}}
        result = _settings_probe(env, "print('started')")
        assert result.returncode != 0 and "GOVGRID_FIELD_KEYS and GOVGRID_HMAC_KEY must be set" in result.stderr
    # With DEBUG on, development keys come from SECRET_KEY: nothing to set for `make run`.
    code = "from parties import crypto; t = crypto.encrypt('13800001234'); print(crypto.decrypt(t))"
    dev = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path), "DEBUG": "1"}, code)
    assert dev.returncode == 0 and dev.stdout.strip() == "13800001234", dev.stderr


def test_embedded_default_is_sqlite_in_wal_mode_and_filesystem_broker(tmp_path):
    code = (
        "from django.conf import settings; from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(settings.DATABASES['default']['ENGINE'], c.fetchone()[0], settings.CELERY_BROKER_URL, settings.TIME_ZONE, settings.LANGUAGE_CODE)"
    )
    result = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path), "DEBUG": "1"}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "wal", "filesystem://", "Asia/Shanghai", "zh-hans"]
    assert (tmp_path / "govgrid.sqlite3").exists() and (tmp_path / "broker" / "queue").is_dir()


def test_celery_app_is_configured_from_settings():
    from govgrid.celery import app

    assert app.main == "govgrid"
    assert isinstance(app.conf.beat_schedule, dict)
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.timezone == "Asia/Shanghai"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("##", readme.index("make test"))] if "##" in readme else readme
    assert "make run" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_cdn_links_in_templates():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert "//cdn" not in text and "https://" not in text, template


def test_uploads_go_to_an_s3_compatible_store_by_setting(tmp_path):
    code = "from django.conf import settings; d = settings.STORAGES['default']; print(d['BACKEND'], d.get('OPTIONS', {}).get('bucket_name'), d.get('OPTIONS', {}).get('endpoint_url'))"
    local = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path), "DEBUG": "1"}, code)
    assert local.stdout.split()[0] == "django.core.files.storage.FileSystemStorage", local.stderr
    s3 = _settings_probe(
        {
            "GOVGRID_VAR_DIR": str(tmp_path),
            "DEBUG": "1",
            "GOVGRID_S3_BUCKET": "govgrid-media",
            "GOVGRID_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        },
        code
        + "; from django.core.files.storage import default_storage; print(type(default_storage._wrapped if hasattr(default_storage, '_wrapped') else default_storage).__name__)",
    )
    assert s3.returncode == 0, s3.stderr
    assert s3.stdout.split()[:3] == ["storages.backends.s3.S3Storage", "govgrid-media", "http://127.0.0.1:9000"]


def test_beat_sweeps_deadlines_every_minute_and_no_task_waits_long():
    from govgrid.celery import app

    schedule = app.conf.beat_schedule
    assert schedule["sweep-deadlines"]["task"] == "cases.tasks.sweep_deadlines"
    assert schedule["sweep-deadlines"]["schedule"] == 60.0
    app.loader.import_default_modules()
    assert "cases.tasks.sweep_deadlines" in app.tasks
    for name, task in app.tasks.items():
        if name.startswith(("cases.", "notifications.")):
            assert (getattr(task, "retry_backoff_max", 0) or 0) <= 300, name
            assert getattr(task, "default_retry_delay", 0) <= 300, name


def test_every_beat_entry_names_a_task_the_worker_registers(tmp_path):
    """In a fresh process, as a worker starts (autodiscovery of each app's tasks module only): a task beat sends
    that the worker does not know would be refused, every night, with nothing else noticing."""
    code = (
        "from govgrid.celery import app; app.loader.import_default_modules(); "
        "missing = sorted(e['task'] for e in app.conf.beat_schedule.values() if e['task'] not in app.tasks); "
        "print('missing:', missing, len(app.conf.beat_schedule))"
    )
    probe = _settings_probe({"GOVGRID_VAR_DIR": str(tmp_path), "DEBUG": "1"}, code)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("missing: [] "), probe.stdout
    assert int(probe.stdout.split()[-1]) >= 6


def test_publishing_a_task_far_ahead_is_caught():
    from datetime import timedelta

    from django.utils import timezone

    from cases.tasks import sweep_deadlines
    from tests.conftest import LONG_COUNTDOWNS

    sweep_deadlines.apply_async(eta=timezone.now() + timedelta(hours=2))
    assert LONG_COUNTDOWNS and "ahead" in LONG_COUNTDOWNS[0]
    LONG_COUNTDOWNS.clear()  # the watcher caught it; this test was about the watcher


def test_pgbouncer_transaction_pooling_turns_server_side_cursors_off_on_primary_and_replicas(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(*(settings.DATABASES[a].get('DISABLE_SERVER_SIDE_CURSORS') for a in ('default', 'replica1')))"
    )
    env = {
        "GOVGRID_VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        "DATABASE_URL": "postgres://govgrid@127.0.0.1:6432/govgrid",
        "DATABASE_REPLICA_URLS": "postgres://govgrid@127.0.0.1:6433/govgrid",
    }
    plain = _settings_probe(env, code)
    assert plain.returncode == 0 and plain.stdout.split() == ["False", "False"], plain.stderr
    pooled = _settings_probe({**env, "DATABASE_DISABLE_SERVER_SIDE_CURSORS": "true"}, code)
    assert pooled.returncode == 0 and pooled.stdout.split() == ["True", "True"], pooled.stderr


def test_the_static_build_needs_no_secrets_and_nothing_else_starts_without_them(tmp_path):
    """`collectstatic` with DEBUG off reads no data: a build machine runs it with no secret at all; every other
    command still refuses to start without SECRET_KEY and the personal-data keys."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "GOVGRID_FIELD_KEYS", "GOVGRID_HMAC_KEY")
    }
    env = {**clean, "DEBUG": "false", "GOVGRID_VAR_DIR": str(tmp_path), "STATIC_ROOT": str(tmp_path / "static")}
    built = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr
