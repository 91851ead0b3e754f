"""API tokens: made from a password (through the sign-in lockout), on the account page, from the shell and for
integrations; stored hashed; revoked and expired tokens refused; throttled per token."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from grids import tokens
from grids.models import ApiToken, AuditLog, User
from tests.cases.test_views import client_for

pytestmark = pytest.mark.postgres


def test_password_gives_a_token_that_works_and_is_stored_hashed(api, cast):
    r = api().post(
        "/api/v1/auth/token/", {"username": "dispatcher", "password": "pass-12345", "name": "脚本"}, format="json"
    )
    assert r.status_code == 201, r.content
    secret = r.json()["token"]
    assert secret.startswith("gg_") and not ApiToken.objects.filter(key_hash=secret).exists()
    assert ApiToken.objects.get(user=cast.dispatcher).key_hash == tokens.hash_secret(secret)
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/cases/").status_code == 200
    assert AuditLog.objects.filter(action="token.create", actor=cast.dispatcher).exists()


def test_wrong_passwords_lock_out_with_a_json_429(api, cast, settings):
    settings.AXES_FAILURE_LIMIT = 3
    codes = [
        api().post("/api/v1/auth/token/", {"username": "dispatcher", "password": "wrong"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes[:2] == [401, 401]
    locked = api().post("/api/v1/auth/token/", {"username": "dispatcher", "password": "pass-12345"}, format="json")
    assert locked.status_code == 429 and locked.json()["code"] == "locked_out"
    assert not ApiToken.objects.filter(user=cast.dispatcher).exists()


def test_revoked_and_expired_tokens_are_refused(api, cast):
    made = tokens.token_create(actor=cast.worker, user=cast.worker, name="phone")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.secret}")
    assert client.get("/api/v1/tokens/").json()[0]["name"] == "phone"
    assert client.delete(f"/api/v1/tokens/{made.token.pk}/").status_code == 204
    assert client.get("/api/v1/cases/").status_code == 401
    old = tokens.token_create(
        actor=cast.worker, user=cast.worker, name="old", expires_at=timezone.now() + timedelta(days=1)
    )
    ApiToken.objects.filter(pk=old.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {old.secret}")
    assert client.get("/api/v1/cases/").status_code == 401
    # someone else's token id: 404
    other = tokens.token_create(actor=cast.cg, user=cast.cg, name="cg")
    assert api(cast.worker).delete(f"/api/v1/tokens/{other.token.pk}/").status_code == 404


def test_account_page_shows_the_secret_once_and_revokes(cast):
    c = client_for(cast.worker)
    r = c.post("/account/tokens/", {"name": "我的脚本", "expires_in_days": "30"})
    assert r.status_code == 201
    token = ApiToken.objects.get(user=cast.worker)
    secret = r.context["secret"]
    assert secret in r.text and token.prefix in r.text
    again = c.get("/account/tokens/")
    assert secret not in again.text and "我的脚本" in again.text
    assert c.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client_for(cast.cg).post(f"/account/tokens/{token.pk}/revoke/").status_code == 404


def test_api_token_command(cast):
    out = StringIO()
    call_command("api_token", "hotline", "12345对接", stdout=out)
    secret = out.getvalue().strip()
    assert tokens.token_authenticate(secret).user == cast.hotline


def test_an_integration_sees_what_its_grant_allows_and_its_token_expires(api, cast, category):
    from grids.models import Role

    admin = cast.city.actor
    c = client_for(admin)
    r = c.post(
        "/integrations/",
        {
            "name": "12345热线",
            "region": cast.city.d1.pk,
            "role": Role.objects.get(code="hotline_operator").pk,
            "expires_in_days": 30,
        },
    )
    assert r.status_code == 201, r.content.decode()[:2000]
    service = User.objects.get(is_service=True)
    assert not service.has_usable_password()
    secret = r.context["secret"]
    token = ApiToken.objects.get(user=service)
    assert token.expires_at is not None
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    from tests.cases.test_views import report

    mine = report(cast, category, title="区1")
    theirs = report(cast, category, title="区2", grid=cast.city.g2111, reporter=cast.outsider)
    numbers = {row["number"] for row in client.get("/api/v1/cases/").json()["results"]}
    assert mine.number in numbers and theirs.number not in numbers
    assert client_for(cast.dispatcher).get("/integrations/").status_code == 403
    with pytest.raises(Exception):
        tokens.token_create(actor=admin, user=service, name="forever", expires_at=None)


def test_throttled_per_token(api, cast, settings):
    from django.core.cache import cache

    cache.clear()
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], token="3/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        client = api(cast.worker)
        codes = [client.get("/api/v1/categories/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.get("/api/v1/categories/").json()["code"] == "throttled"
        assert api(cast.worker).get("/api/v1/categories/").status_code == 200  # another token, its own budget
    finally:
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        cache.clear()
