"""Signing in: lockout per account and per address, the audit of every sign-in, forced password change, idle and
remembered sessions, sign out everywhere."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from govgrid.net import client_ip, tile_origin
from grids.models import AuditLog
from tests.factories import grant_role

PASSWORD = "pass-12345"


@pytest.fixture
def people(city, make_user):
    admin = make_user("admin", region=city.city)
    grant_role(admin, "region_admin", city.city, actor=city.actor)
    alice = make_user("alice", region=city.g1111, email="alice@example.org")
    grant_role(alice, "grid_worker", city.g1111, actor=city.actor)
    bob = make_user("bob", region=city.g1111)
    grant_role(bob, "grid_worker", city.g1111, actor=city.actor)
    return {"admin": admin, "alice": alice, "bob": bob}


def login(username: str, password: str, *, address: str = "10.1.1.1", client: Client | None = None, **extra):
    client = client or Client(headers={"accept-language": "en"})
    response = client.post(reverse("login"), {"username": username, "password": password, **extra}, REMOTE_ADDR=address)
    return client, response


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def actions(**filters) -> list[str]:
    return list(AuditLog.objects.filter(**filters).order_by("id").values_list("action", flat=True))


# --- lockout --------------------------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_account_and_the_right_one_is_refused_during_the_lockout(people, settings):
    for n in range(30):
        _client, response = login("alice", f"wrong-{n}", address=f"10.0.0.{n + 1}")  # a new address each time
        if n < settings.AXES_FAILURE_LIMIT - 1:
            assert response.status_code == 200 and "Wrong username or password" in response.text
    client, response = login("alice", PASSWORD, address="10.9.9.9")
    assert response.status_code == 429 and not signed_in(client)
    assert "Too many failed logins" in response.text and "Try again after" in response.text
    # someone else on another address is not affected
    other, ok = login("bob", PASSWORD, address="10.9.9.10")
    assert ok.status_code == 302 and signed_in(other)

    audited = actions(target_id=str(people["alice"].pk))
    assert audited.count("auth.login_failed") == settings.AXES_FAILURE_LIMIT
    assert audited.count("auth.locked_out") == 1
    assert audited.count("auth.login_refused") == 30 - settings.AXES_FAILURE_LIMIT + 1
    assert "auth.login" not in audited
    row = AuditLog.objects.filter(action="auth.locked_out").get()
    assert row.data["ip"] and row.data["until"] and row.region == people["alice"].region
    assert not AuditLog.objects.filter(data__icontains="wrong-").exists()  # passwords are never stored


def test_a_valid_login_from_the_same_address_does_not_forget_the_failures(people, settings):
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        login("alice", f"wrong-{n}", address="10.4.4.4")
    assert login("bob", PASSWORD, address="10.4.4.4")[1].status_code == 302  # the attacker's own account
    login("alice", "one-more-wrong", address="10.4.4.4")
    assert login("alice", PASSWORD, address="10.4.4.4")[1].status_code == 429


def test_the_lockout_ends_by_itself_after_the_cool_off(people, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", f"wrong-{n}")
    assert login("alice", PASSWORD)[1].status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=5))
    client, response = login("alice", PASSWORD)
    assert response.status_code == 302 and signed_in(client)


def test_an_admin_unlocks_the_account_from_its_staff_page(people, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", f"wrong-{n}")
    admin = Client(headers={"accept-language": "en"})
    admin.force_login(people["admin"])
    page = admin.get(reverse("staff_edit", args=[people["alice"].pk]))
    assert "Locked out after too many failed logins" in page.text
    assert admin.post(reverse("staff_unlock", args=[people["alice"].pk])).status_code == 302
    assert "Not locked out" in admin.get(reverse("staff_edit", args=[people["alice"].pk])).text
    client, response = login("alice", PASSWORD)
    assert response.status_code == 302 and signed_in(client)
    assert AuditLog.objects.filter(action="auth.unlock", actor=people["admin"]).count() == 1
    # a grid worker may not unlock anyone (the account is not theirs to see: 404)
    bob = Client()
    bob.force_login(people["bob"])
    assert bob.post(reverse("staff_unlock", args=[people["alice"].pk])).status_code == 404


def test_one_address_is_locked_after_more_failures_than_one_account(people, settings):
    settings.GOVGRID_LOGIN_ADDRESS_FAILURE_LIMIT = 12
    for n in range(12):  # twelve names, one failure each, from one address: no account reaches its limit
        login(f"nobody-{n}", "wrong", address="10.5.5.5")
    _client, response = login("bob", PASSWORD, address="10.5.5.5")
    assert response.status_code == 429
    client, response = login("bob", PASSWORD, address="10.5.5.6")
    assert response.status_code == 302 and signed_in(client)
    assert AuditLog.objects.filter(action="auth.login_failed", data__username="nobody-3").exists()


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(settings):
    factory = RequestFactory()
    spoofed = factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(spoofed) == "203.0.113.9"
    settings.GOVGRID_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(spoofed) == "203.0.113.9"  # not from a trusted proxy: the header is not believed
    proxied = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7, 10.0.0.3")
    assert client_ip(proxied) == "198.51.100.7"  # the right-most address that is not a proxy of ours
    garbled = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(garbled) == "10.0.0.2"


def test_logins_and_logouts_are_audited_with_the_address(people):
    client, response = login("bob", PASSWORD, address="10.7.7.7")
    assert response.status_code == 302
    client.post(reverse("logout"), REMOTE_ADDR="10.7.7.7")
    rows = AuditLog.objects.filter(actor=people["bob"], action__in=["auth.login", "auth.logout"]).order_by("id")
    assert [(r.action, r.data["ip"]) for r in rows] == [("auth.login", "10.7.7.7"), ("auth.logout", "10.7.7.7")]


# --- passwords ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, problem",
    [
        ("Sh0rt-pw", "at least 10 characters"),
        ("password123", "too common"),
        ("newcomer-2026", "too similar"),
    ],
)
def test_password_rules_for_new_accounts(people, city, password, problem):
    admin = Client(headers={"accept-language": "en"})
    admin.force_login(people["admin"])
    response = admin.post(
        reverse("staff_create"),
        {
            "username": "newcomer",
            "display_name": "新人",
            "region": city.g1111.code,
            "is_active": "on",
            "password": password,
        },
    )
    assert response.status_code == 200 and problem in response.text
    assert not people["admin"].__class__.objects.filter(username="newcomer").exists()


def test_an_account_made_by_an_admin_must_choose_its_own_password_first(people, city):
    admin = Client(headers={"accept-language": "en"})
    admin.force_login(people["admin"])
    created = admin.post(
        reverse("staff_create"),
        {
            "username": "newcomer",
            "display_name": "新人",
            "region": city.g1111.code,
            "is_active": "on",
            "password": "Chosen-by-admin-77",
            "must_change_password": "on",
        },
    )
    assert created.status_code == 302
    client, response = login("newcomer", "Chosen-by-admin-77")
    assert response.status_code == 302
    blocked = client.get(reverse("case_list"))
    assert blocked.status_code == 302 and blocked.url.startswith(reverse("password_change"))
    assert "choose your own" in client.get(blocked.url).text
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": "Chosen-by-admin-77",
            "new_password1": "Mine-and-only-mine-9",
            "new_password2": "Mine-and-only-mine-9",
        },
    )
    assert changed.status_code == 302
    assert client.get(reverse("case_list")).status_code == 200
    user = people["admin"].__class__.objects.get(username="newcomer")
    assert not user.must_change_password
    assert AuditLog.objects.filter(action="auth.password_change", actor=user).count() == 1


# --- sessions -------------------------------------------------------------------------------------------------


def test_sessions_end_after_the_idle_time_unless_kept_on_a_phone(people, settings):
    client, _response = login("bob", PASSWORD)
    assert client.session.get_expiry_age() == settings.GOVGRID_SESSION_IDLE_MINUTES * 60
    phone, _response = login("bob", PASSWORD, remember="on")
    assert phone.session.get_expiry_age() == settings.GOVGRID_SESSION_REMEMBER_DAYS * 24 * 3600
    assert "Kept signed in on this device" in phone.get(reverse("account")).text


def test_an_idle_session_is_signed_out(people, settings):
    from importlib import import_module

    client, _response = login("bob", PASSWORD)
    store = import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
    store.load()
    store.set_expiry(timezone.now() - timedelta(seconds=1))  # as if the idle time had run out
    store.save()
    response = client.get(reverse("case_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_sign_out_everywhere_ends_every_session_of_the_account(people):
    laptop, _r = login("bob", PASSWORD)
    phone, _r = login("bob", PASSWORD, address="10.2.2.2")
    assert phone.get(reverse("case_list")).status_code == 200
    response = laptop.post(reverse("sign_out_everywhere"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert phone.get(reverse("case_list")).status_code == 302
    assert laptop.get(reverse("case_list")).status_code == 302
    again, ok = login("bob", PASSWORD)
    assert ok.status_code == 302 and again.get(reverse("case_list")).status_code == 200
    assert AuditLog.objects.filter(action="auth.sign_out_everywhere", target_id=str(people["bob"].pk)).count() == 1


def test_an_admin_signs_a_staff_account_out_everywhere(people):
    phone, _r = login("bob", PASSWORD)
    admin = Client()
    admin.force_login(people["admin"])
    assert admin.post(reverse("staff_sign_out", args=[people["bob"].pk])).status_code == 302
    assert phone.get(reverse("case_list")).status_code == 302
    assert admin.get(reverse("case_list")).status_code == 200  # the admin's own session stays


# --- small helpers --------------------------------------------------------------------------------------------


def test_tile_origin_for_the_content_security_policy():
    assert tile_origin("https://tiles.example.gov.cn/{z}/{x}/{y}.png") == "https://tiles.example.gov.cn"
    assert tile_origin("https://{s}.tiles.example:8443/{z}/{x}/{y}.png") == "https://*.tiles.example:8443"
    assert tile_origin("") == "" and tile_origin("javascript:alert(1)") == ""
