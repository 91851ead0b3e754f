"""Headers on every response and pages without inline script (the Content-Security-Policy allows none)."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/no-such-page/"])
def test_every_response_carries_the_security_headers(db, path):
    response = Client().get(path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if " " in part.strip())
    assert "'self'" in directives["script-src"] and "unsafe" not in directives["script-src"]
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    policy = response.headers["Permissions-Policy"]
    assert "geolocation=(self)" in policy and "camera=(self)" in policy and "microphone=()" in policy
    allowed = re.findall(r"([a-z-]+)=\(self\)", policy)
    assert sorted(allowed) == ["camera", "geolocation"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_tile_server_joins_the_image_sources(tmp_path):
    import os
    import subprocess
    import sys

    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_CSP['img-src'])"
    env = {
        **os.environ,
        "GOVGRID_VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        "GOVGRID_TILE_URL": "https://{s}.tiles.example/{z}/{x}/{y}.png",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "https://*.tiles.example" in out.stdout, out.stderr


def test_templates_hold_no_inline_script_handler_or_style():
    problems = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attrs = match.group(1)
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                problems.append(f"{template}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text):
            problems.append(f"{template}: an on…= event attribute")
        if re.search(r"\sstyle\s*=", text):
            problems.append(f"{template}: a style= attribute")
        if "javascript:" in text:
            problems.append(f"{template}: a javascript: URL")
    assert not problems, problems


def test_the_nonce_is_available_to_templates(db):
    user = UserFactory(username="someone")
    client = Client()
    client.force_login(user)
    response = client.get(reverse("account"))
    assert response.status_code == 200
    assert "csp_nonce" in response.context
