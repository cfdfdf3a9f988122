"""Code protection: brute-force lockout and its expiry, reveal limit, second verification."""

import pytest
from django.core import mail
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from riskcontrol import protection
from riskcontrol.errors import LockedOut, RevealLimitExceeded
from riskcontrol.models import RiskAlert, RiskEvent, VerificationFailure
from riskcontrol.services import failure_record, lockout_check, register_reveal_guard, reveal_guard, second_factor_verify, success_record
from riskcontrol.tasks import risk_watch
from tests import factories
from tests.factories import PASSWORD
from tests.riskcontrol.conftest import settings_set

pytestmark = pytest.mark.django_db


def test_terminal_is_locked_after_its_threshold_and_freed_after_the_period(clock, settings):
    settings.OPS_ALERT_EMAILS = ["ops@example.test"]
    settings_set(bf_terminal_failures=3, bf_ip_failures=100, bf_store_failures=100, bf_lockout_minutes=15)
    # two failures: still allowed
    for _ in range(2):
        lockout_check(terminal="T1", ip="198.51.100.1", store="S1")
        assert failure_record(terminal="T1", ip="198.51.100.1", store="S1") == []
    # the third one locks the terminal
    assert failure_record(terminal="T1", ip="198.51.100.1", store="S1") == ["terminal"]
    with pytest.raises(LockedOut) as caught:
        lockout_check(terminal="T1", ip="198.51.100.99", store="S2")
    assert caught.value.status == 429
    assert caught.value.retry_after == 15 * 60
    # other terminals of the same store are not locked
    lockout_check(terminal="T2", store="S1")
    # an alert is raised at once, and mailed by the watch job
    alert = RiskAlert.objects.get(kind=RiskAlert.Kind.LOCKOUT)
    assert alert.source == "terminal:T1"
    risk_watch()
    assert len(mail.outbox) == 1
    assert "T1" in mail.outbox[0].body
    # after the period the terminal may try again
    clock.advance(15 * 60 - 10)
    with pytest.raises(LockedOut) as caught:
        lockout_check(terminal="T1")
    assert caught.value.retry_after == 10
    clock.advance(11)
    lockout_check(terminal="T1")
    assert VerificationFailure.objects.count() == 3


def test_ip_and_store_thresholds(clock):
    settings_set(bf_terminal_failures=100, bf_ip_failures=4, bf_store_failures=6)
    for i in range(3):
        failure_record(terminal=f"T{i}", ip="203.0.113.1", store="S9")
    assert failure_record(terminal="T3", ip="203.0.113.1", store="S9") == ["ip"]
    with pytest.raises(LockedOut):
        lockout_check(ip="203.0.113.1")
    failure_record(terminal="T4", ip="203.0.113.2", store="S9")
    assert failure_record(terminal="T5", ip="203.0.113.3", store="S9") == ["store"]
    with pytest.raises(LockedOut):
        lockout_check(terminal="T-new", ip="203.0.113.200", store="S9")


def test_a_known_good_code_between_guesses_forgets_no_failure(clock):
    # given the default thresholds: 5 per terminal, 10 per address, 30 per store in 10 minutes
    settings_set(bf_terminal_failures=5, bf_ip_failures=10, bf_store_failures=30, bf_window_minutes=10)
    sources = {"terminal": "T1", "ip": "198.51.100.7", "store": "S1"}
    # when 4 wrong guesses are followed by a success
    for _ in range(4):
        assert failure_record(**sources) == []
    success_record(**sources)
    lockout_check(**sources)
    # then the next wrong guess still locks the terminal (a reset gave a script 31 guesses before any lock)
    assert failure_record(**sources) == ["terminal"]
    with pytest.raises(LockedOut):
        lockout_check(**sources)


def test_one_terminal_never_locks_its_address_or_store(clock):
    # given shared thresholds at or below the terminal's own
    settings_set(bf_terminal_failures=5, bf_ip_failures=3, bf_store_failures=4)
    # when one terminal fails until it is locked
    for _ in range(4):
        assert failure_record(terminal="T1", ip="198.51.100.8", store="S1") == []
    assert failure_record(terminal="T1", ip="198.51.100.8", store="S1") == ["terminal"]
    # then the store's other terminals, behind the same address, go on
    lockout_check(terminal="T2", ip="198.51.100.8", store="S1")


def test_the_store_lock_needs_two_terminals_each_counted_up_to_its_threshold(clock):
    settings_set(bf_terminal_failures=3, bf_ip_failures=100, bf_store_failures=5)
    for _ in range(6):  # one terminal's 6 failures weigh 3 for the store
        failure_record(terminal="T1", store="S1")
    assert failure_record(terminal="T2", store="S1") == []  # 3 + 1
    lockout_check(terminal="T3", store="S1")
    assert failure_record(terminal="T2", store="S1") == ["store"]  # 3 + 2, from two terminals
    with pytest.raises(LockedOut):
        lockout_check(terminal="T3", store="S1")
    # ops are told which terminals failed
    alert = RiskAlert.objects.get(source="store:S1")
    assert alert.params["terminals"] == [["T1", 6], ["T2", 2]]
    assert "T1 (6)" in alert.message and "T2 (2)" in alert.message


def test_failures_spread_over_time_do_not_lock(clock):
    settings_set(bf_terminal_failures=3, bf_window_minutes=10)
    failure_record(terminal="T1")
    failure_record(terminal="T1")
    clock.advance(25 * 60)
    assert failure_record(terminal="T1") == []
    lockout_check(terminal="T1")


def test_reveal_limit_per_user_per_hour(clock):
    settings_set(reveal_limit_per_hour=10)
    clerk, other = factories.UserFactory(username="clerk"), factories.UserFactory(username="other")
    reveal_guard(actor=clerk, count=6, ip="198.51.100.4")
    reveal_guard(actor=clerk, count=4, ip="198.51.100.4")
    with pytest.raises(RevealLimitExceeded) as caught:
        reveal_guard(actor=clerk, count=1, ip="198.51.100.4")
    assert caught.value.status == 429
    # the refused reveal is recorded and alerted; another user is not affected
    assert RiskEvent.objects.filter(action="reveal", outcome="block", account_id=str(clerk.pk)).count() == 1
    assert RiskAlert.objects.filter(kind=RiskAlert.Kind.REVEAL_LIMIT, source=f"user:{clerk.pk}").exists()
    reveal_guard(actor=other, count=10)
    # an hour later (the sliding window has emptied) the clerk may reveal again
    clock.advance(2 * 3600)
    reveal_guard(actor=clerk, count=10)


def test_a_refused_bulk_reveal_does_not_use_the_allowance(clock):
    settings_set(reveal_limit_per_hour=10)
    clerk = factories.UserFactory(username="clerk")
    with pytest.raises(RevealLimitExceeded):
        reveal_guard(actor=clerk, count=11)
    reveal_guard(actor=clerk, count=10)


def test_the_reveal_guard_is_in_catalogs_registry_once():
    from catalog import services as catalog_services

    # given the apps are ready (riskcontrol registered its guard), when it registers again
    register_reveal_guard()
    # then catalog runs it once per reveal
    assert catalog_services.REVEAL_GUARDS.count(reveal_guard) == 1


def test_second_verification_by_password():
    user = factories.UserFactory(username="finance-x")
    assert second_factor_verify(user=user, password=PASSWORD) is True
    assert second_factor_verify(user=user, password="wrong") is False
    assert second_factor_verify(user=user) is False


def test_second_verification_by_totp_when_enrolled():
    user = factories.UserFactory(username="ops-x")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    token = f"{totp(device.bin_key):06d}"
    # with a device, the password is not enough
    assert second_factor_verify(user=user, password=PASSWORD) is False
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    assert second_factor_verify(user=user, otp_token=token) is True


def test_second_verification_locks_after_repeated_failures(clock):
    settings_set(second_factor_failures=3, bf_lockout_minutes=5)
    user = factories.UserFactory(username="guesser")
    for _ in range(3):
        assert second_factor_verify(user=user, password="nope") is False
    with pytest.raises(LockedOut):
        second_factor_verify(user=user, password=PASSWORD)
    clock.advance(5 * 60 + 1)
    assert second_factor_verify(user=user, password=PASSWORD) is True


def test_lockout_clear_lifts_it(clock):
    settings_set(bf_terminal_failures=1)
    failure_record(terminal="T7")
    with pytest.raises(LockedOut):
        lockout_check(terminal="T7")
    protection.lockout_clear(terminal="T7")
    lockout_check(terminal="T7")


def test_ops_see_lockouts_in_the_admin_and_lift_one(clock, ops_client):
    from django.urls import reverse

    from riskcontrol.models import SourceLock
    from voucherhub.core.models import AuditLog

    # given a terminal locked out
    settings_set(bf_terminal_failures=1)
    failure_record(terminal="T8")
    lock = SourceLock.objects.get(kind="terminal", source="T8")
    changelist = reverse("admin:riskcontrol_sourcelock_changelist")
    assert "T8" in ops_client.get(changelist).content.decode()
    # when ops lift it
    response = ops_client.post(changelist, {"action": "lift", "_selected_action": [lock.pk]})
    assert response.status_code == 302
    # then the terminal may try again, and the lift is audited
    lockout_check(terminal="T8")
    assert AuditLog.objects.filter(action="risk.lockout.lift", object_id=str(lock.pk)).exists()
