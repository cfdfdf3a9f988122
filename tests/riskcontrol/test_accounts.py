"""Accounts and the app: login lockout (axes), TOTP for ops and finance, CSP (`check --deploy`: tests/core/test_deploy_checks.py)."""

from pathlib import Path

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories
from tests.factories import PASSWORD
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_login_is_locked_after_repeated_failures_with_a_clear_message(client, settings):
    factories.UserFactory(username="victim", role=roles.OPS)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, "victim", "guess")
        assert response.status_code == 200
    response = login(client, "victim", "guess")
    assert response.status_code == 429
    body = response.content.decode()
    assert 'data-testid="lockout-message"' in body
    assert "30" in body  # the cool-off, in minutes
    # even the right password is refused now
    response = login(client, "victim", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_message_in_english(client, settings):
    factories.UserFactory(username="victim")
    client.cookies["django_language"] = "en"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = login(client, "victim", "guess", HTTP_ACCEPT_LANGUAGE="en")
    assert "Logins are blocked for 30 minutes after 5 wrong passwords." in response.content.decode()


def test_one_address_guessing_many_users_is_locked(client, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"user{i}", "guess")
    factories.UserFactory(username="innocent")
    assert login(client, "innocent", PASSWORD).status_code == 429


def test_a_success_resets_the_count(client, settings):
    factories.UserFactory(username="forgetful")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "forgetful", "guess")
    assert login(client, "forgetful", PASSWORD).status_code == 302
    client.logout()
    assert login(client, "forgetful", "guess").status_code == 200


def test_a_success_on_ones_own_account_keeps_the_address_count(client, settings):
    # given an address that failed on other user names, one short of the limit
    factories.UserFactory(username="prober")
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, f"someone{i}", "guess").status_code == 200
    # when it logs in to its own account and out again
    assert login(client, "prober", PASSWORD).status_code == 302
    client.logout()
    # then one more failure on another name locks the address
    assert login(client, "someone-else", "guess").status_code == 429
    factories.UserFactory(username="innocent")
    assert login(client, "innocent", PASSWORD).status_code == 429


def test_own_typos_forgiven_by_a_success_do_not_lock_the_address(client, settings):
    factories.UserFactory(username="typist")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "typist", "guess")
    assert login(client, "typist", PASSWORD).status_code == 302
    client.logout()
    # the address kept no failure of the user who proved the password: another name may still fail
    assert login(client, "colleague", "guess").status_code == 200


@pytest.fixture
def otp_for_ops(settings):
    settings.OTP_REQUIRED_FOR_ROLES = [roles.OPS, roles.FINANCE]


def current_code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def test_ops_must_enroll_and_then_enter_a_totp_code(client, otp_for_ops):
    factories.UserFactory(username="opsy", role=roles.OPS, is_staff=True)
    # after the password, ops is sent to enroll an authenticator
    response = login(client, "opsy", PASSWORD, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("riskcontrol:otp-setup"))
    assert 'data-testid="otp-qr"' in response.content.decode()
    assert "<svg" in response.content.decode()
    # nothing else opens until then
    assert client.get(reverse("dashboards:ops-home")).status_code == 302
    assert client.get("/admin/").status_code == 302
    # a wrong code is refused, the right one turns it on
    device = TOTPDevice.objects.get(user__username="opsy", confirmed=False)
    response = client.post(reverse("riskcontrol:otp-setup"), {"token": "000000" if current_code(device) != "000000" else "111111"})
    assert response.status_code == 200
    assert response.context["form"].errors
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code makes the next try wait a second
    response = client.post(reverse("riskcontrol:otp-setup"), {"token": current_code(device), "next": reverse("dashboards:ops-home")})
    assert response.status_code == 302
    assert client.get(reverse("dashboards:ops-home")).status_code == 200
    assert AuditLog.objects.filter(action="auth.otp.enroll", actor_repr="opsy").exists()
    # the next login asks for a code
    client.logout()
    response = login(client, "opsy", PASSWORD, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("riskcontrol:otp-verify"))
    device.refresh_from_db()
    assert device.confirmed
    response = client.post(reverse("riskcontrol:otp-verify"), {"token": "123", "next": "/"})
    assert response.context["form"].errors
    device.refresh_from_db()
    device.throttle_reset()
    # TOTP codes are single use: step past the code used at enrollment
    device.last_t = -1
    device.save()
    response = client.post(reverse("riskcontrol:otp-verify"), {"token": current_code(device), "next": reverse("dashboards:ops-home")})
    assert response.status_code == 302
    assert client.get(reverse("dashboards:ops-home")).status_code == 200


def test_finance_needs_totp_too_and_others_do_not(client, otp_for_ops):
    factories.UserFactory(username="money", role=roles.FINANCE)
    login(client, "money", PASSWORD)
    assert client.get(reverse("dashboards:finance-home")).status_code == 302
    client.logout()
    factories.UserFactory(username="merchant-1", role=roles.MERCHANT)
    login(client, "merchant-1", PASSWORD)
    assert client.get(reverse("account")).status_code == 200


def test_totp_is_not_required_when_not_enabled(client, settings):
    settings.OTP_REQUIRED_FOR_ROLES = []
    factories.UserFactory(username="opsy", role=roles.OPS)
    login(client, "opsy", PASSWORD)
    assert client.get(reverse("dashboards:ops-home")).status_code == 200


def test_otp_pages_only_redirect_to_this_site(client, otp_for_ops):
    user = factories.UserFactory(username="opsy", role=roles.OPS)
    device = TOTPDevice.objects.create(user=user, name="x", confirmed=False)
    login(client, "opsy", PASSWORD)
    response = client.post(reverse("riskcontrol:otp-setup"), {"token": current_code(device), "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_pages_carry_a_strict_csp_and_the_admin_a_scoped_one(ops_client):
    page = ops_client.get(reverse("dashboards:ops-home"))
    policy = page["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy or policy.endswith("script-src 'self'")
    assert "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    admin = ops_client.get("/admin/")
    assert "'unsafe-eval'" in admin["Content-Security-Policy"]
