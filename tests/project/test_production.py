"""Production mode, started exactly as the Dockerfile and docker-compose.yml start it.

The static build is the Dockerfile's own `collectstatic` line; web, worker and beat are the compose file's own
commands, run with the compose file's environment (DEBUG off, a real SECRET_KEY, PostgreSQL, Redis). The app is
then used over HTTP like a browser would: sign in, the report page, the street queue, a case page, static files.
`check --deploy` runs in the environment that docs/operations.md gives for production.
"""

from __future__ import annotations

import gzip
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
VENV_BIN = str(Path(sys.executable).parent)
DEMO_PASSWORD = "govgrid-demo"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = [
    pytest.mark.postgres,
    # one stack per run: every test of this file runs on the same xdist worker, in order (make test: loadgroup)
    pytest.mark.xdist_group("production"),
    pytest.mark.skipif(
        not os.environ.get("GOVGRID_TEST_POSTGRES") or not os.environ.get("GOVGRID_TEST_REDIS"),
        reason="needs the real PostgreSQL and Redis (tests/services.py)",
    ),
]


# --- what the files say ---------------------------------------------------------------------------------------


def compose_command(service: str) -> list[str]:
    return list(COMPOSE["services"][service]["command"])


def compose_environment() -> dict[str, str]:
    """The app services' environment with compose's ${VAR:-default} defaults applied."""
    env = {}
    for key, value in COMPOSE["x-app"]["environment"].items():
        value = str(value)
        env[key] = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return env


def dockerfile_collectstatic() -> str:
    """The Dockerfile's RUN step that builds the static files (its continuation lines joined)."""
    steps = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in steps:
        if line.startswith("RUN ") and "collectstatic" in line:
            return line[4:]
    raise AssertionError("the Dockerfile builds no static files")


def secrets_env() -> dict[str, str]:
    """Fresh keys, as an operator makes them (docs/operations.md)."""
    import base64

    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GOVGRID_FIELD_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "GOVGRID_HMAC_KEY": secrets.token_urlsafe(48),
    }


def documented_production_env() -> dict[str, str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    block = re.search(r"```env\n(.*?)```", text, re.S)
    assert block, "docs/operations.md has no ```env block of the production environment"
    return dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())


def documented_deploy_warnings() -> set[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+\.W\d{3})` \|", text, re.M))


# --- the stack ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin_url() -> str:
    return os.environ.get("TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/govgrid").rsplit("/", 1)[0] + "/postgres"


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(sql)


def base_env(tmp: Path) -> dict[str, str]:
    """The test process's environment without anything of the test settings, plus the venv on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GOVGRID_", "PYTEST", "DATABASE", "REDIS", "CELERY", "NOTIFY_"))
        and k not in ("DEBUG", "SECRET_KEY")
    }
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["GOVGRID_VAR_DIR"] = str(tmp / "var")
    env["STATIC_ROOT"] = str(tmp / "static")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = f"govgrid_prod_{os.getpid()}_{secrets.token_hex(3)}"
        redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = base_env(tmp) | compose_environment()
        self.env.update(secrets_env())
        self.env.update(
            {
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db}",
                "REDIS_URL": redis,
                "CELERY_BROKER_URL": redis,
                # its own queue on the shared test Redis, so no other test's worker takes its tasks
                "CELERY_QUEUE": f"prod-smoke-{secrets.token_hex(4)}",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": "2",
            }
        )
        assert self.env.get("DEBUG", "false").lower() in ("", "0", "false", "no")
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def run(self, command: str | list[str], *, timeout: int = 600) -> subprocess.CompletedProcess:
        args = ["sh", "-c", command] if isinstance(command, str) else command
        result = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def start(self, name: str, command: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self.tmp / f"{name}.log"
        handle = log.open("w")
        proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((proc, log))
        return proc, log

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def close(self) -> None:
        for proc, _log in self.procs:
            self.stop(proc)


def wait_for(predicate, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tail = log.read_text()[-4000:] if log and log.exists() else ""
    raise AssertionError(f"{what} did not happen within {timeout} s\n{tail}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    stack = Stack(tmp)
    _pg(f'CREATE DATABASE "{stack.db}"')
    try:
        stack.run(dockerfile_collectstatic())
        web, log = stack.start("web", compose_command("web"))

        def healthy() -> bool:
            assert web.poll() is None, log.read_text()[-4000:]
            try:
                with urllib.request.urlopen(stack.url + "/healthz", timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for(healthy, timeout=240, what="the web service answering /healthz", log=log)
        stack.web_log = log
        stack.run(["python", "manage.py", "seed_demo"])
        yield stack
    finally:
        stack.close()
        _pg(f'DROP DATABASE IF EXISTS "{stack.db}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


class Browser:
    """A cookie-keeping HTTP client that signs in through the login form, as a person does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            response = exc
        response.body = response.read()
        return response

    def post(self, path: str, data: dict):
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            response = exc
        response.body = response.read()
        return response

    def login(self, username: str) -> None:
        self.get("/login/")
        response = self.post("/login/", {"username": username, "password": DEMO_PASSWORD})
        text = response.body.decode()
        assert response.status == 200 and 'data-testid="whoami"' in text, text[:2000]


def text_of(response) -> str:
    return response.body.decode("utf-8")


# --- the tests ------------------------------------------------------------------------------------------------


def test_pages_answer_in_production_mode_with_hashed_compressed_static_files(stack):
    dispatcher = Browser(stack.url)
    dispatcher.login("dispatcher")
    queue = dispatcher.get("/cases/street/")
    assert queue.status == 200
    html = text_of(queue)
    case_ids = re.findall(r'href="/cases/(\d+)/"', html)
    assert case_ids, "the demo street queue lists cases"
    case_page = dispatcher.get(f"/cases/{case_ids[0]}/")
    assert case_page.status == 200 and 'data-testid="case-number"' in text_of(case_page)

    worker = Browser(stack.url)
    worker.login("gridworker")
    report = worker.get("/cases/report/")
    assert report.status == 200 and 'id="report-form"' in text_of(report)

    # static files: the manifest's hashed names, served compressed and cacheable for a year
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', html)
    js = re.search(r'src="(/static/vendor/htmx/htmx\.min\.[0-9a-f]{12}\.js)"', html)
    assert css and js, "pages link the manifest's hashed static files"
    for path in (css.group(1), js.group(1)):
        response = worker.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status == 200
        assert response.headers["Content-Encoding"] in ("gzip", "br")
        assert "max-age=315360000" in response.headers.get("Cache-Control", "")
        assert gzip.decompress(response.body)

    # every page carries the security headers
    for response in (queue, case_page, report):
        csp = response.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'self'" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
        assert "frame-ancestors 'none'" in csp
        assert "geolocation=(self)" in response.headers["Permissions-Policy"]
        assert "camera=(self)" in response.headers["Permissions-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"

    # bad input and unknown pages get their own pages in production too, not a 500
    assert worker.get("/staff/?q=%00").status == 400
    assert worker.get("/cases/999999999/").status == 404
    assert worker.get("/no-such-page/").status == 404


def test_no_request_answered_500(stack):
    # runs after the pages above (same module, in order)
    log = stack.web_log.read_text()
    assert not re.search(r'" 5\d\d ', log), log[-4000:]
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-4000:]


def test_worker_and_beat_start_with_the_compose_commands_and_run_the_sweep(stack):
    worker, worker_log = stack.start("worker", compose_command("worker"))
    beat, beat_log = stack.start("beat", compose_command("beat"))
    try:
        wait_for(lambda: "ready." in worker_log.read_text(), timeout=120, what="celery worker ready", log=worker_log)
        wait_for(
            lambda: "Sending due task sweep-deadlines" in beat_log.read_text(),
            timeout=120,
            what="beat sending the deadline sweep",
            log=beat_log,
        )
        wait_for(
            lambda: re.search(r"Task cases\.tasks\.sweep_deadlines\[[^\]]+\] succeeded", worker_log.read_text()),
            timeout=120,
            what="the worker running the sweep",
            log=worker_log,
        )
        assert worker.poll() is None and beat.poll() is None
    finally:
        stack.stop(beat)
        stack.stop(worker)
    for log in (worker_log, beat_log):
        text = log.read_text()
        assert "Traceback" not in text and "ERROR" not in text, text[-4000:]


def test_check_deploy_is_clean_in_the_documented_production_environment(tmp_path):
    env = base_env(tmp_path) | documented_production_env() | secrets_env()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reported = set(re.findall(r"\(([a-z_]+\.[WE]\d{3})\)", result.stdout + result.stderr))
    unexplained = reported - documented_deploy_warnings()
    assert not unexplained, f"check --deploy warnings the docs do not name: {unexplained}\n{result.stderr}"
    assert not any(code.split(".")[1].startswith("E") for code in reported)


def test_production_without_a_mail_server_starts_and_says_mail_is_off(tmp_path):
    env = base_env(tmp_path) | documented_production_env() | secrets_env()
    env.pop("EMAIL_URL")
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "from notifications.channels import get; print(settings.MAILERS['default']['BACKEND'], get('email').is_available())"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "govgrid.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["govgrid.mail.MailOffBackend", "False"]
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0 and "govgrid.W001" in check.stderr + check.stdout


def test_the_dockerfile_runs_what_the_production_test_runs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (.*)$", dockerfile, re.M).group(1)
    import json

    assert json.loads(cmd) == compose_command("web")
    assert "collectstatic" in dockerfile_collectstatic() and "DEBUG=false" in dockerfile_collectstatic()
    assert "gunicorn.conf.py" in " ".join(compose_command("web"))


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(not CI and not os.environ.get("GOVGRID_TEST_DOCKER"), reason="builds the image only in CI")
def test_the_image_builds():
    if not _docker_engine():
        pytest.skip("no docker engine on this machine (the client alone cannot build)")
    tag = f"govgrid-test:{secrets.token_hex(4)}"
    try:
        result = subprocess.run(
            ["docker", "build", "-t", tag, "."], cwd=ROOT, capture_output=True, text=True, timeout=1800
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)
