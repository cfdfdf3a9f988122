"""Alerts: spikes of blocks, failures and failed logins; shown on the ops home, mailed, acknowledged."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from riskcontrol.alerts import alert_raise, alerts_dispatch, spikes_detect
from riskcontrol.models import RiskAlert, RiskRule, VerificationFailure
from riskcontrol.services import risk_evaluate
from riskcontrol.tasks import risk_purge, risk_watch
from tests.riskcontrol.conftest import make_rule, purchase, settings_set

pytestmark = pytest.mark.django_db


def test_a_spike_of_blocks_raises_one_alert_and_mails_it(settings):
    settings.OPS_ALERT_EMAILS = ["ops@example.test", "sec@example.test"]
    settings_set(block_spike_threshold=5, spike_window_minutes=10)
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1"))
    for _ in range(4):
        risk_evaluate(ctx=purchase())
    assert spikes_detect() == []
    risk_evaluate(ctx=purchase())
    [alert] = spikes_detect()
    assert alert.kind == RiskAlert.Kind.BLOCK_SPIKE
    assert alert.params["count"] == 5
    # not raised again while it is open
    risk_evaluate(ctx=purchase())
    assert spikes_detect() == []
    assert alerts_dispatch() == 1
    assert mail.outbox[0].to == ["ops@example.test", "sec@example.test"]
    with translation.override("zh-hans"):
        assert "拦截" in mail.outbox[0].subject
    assert alerts_dispatch() == 0  # each alert is mailed once


def test_failed_verifications_and_logins_raise_their_alerts(client):
    settings_set(failure_spike_threshold=3, login_failure_spike_threshold=2)
    for _ in range(3):
        VerificationFailure.objects.create(terminal="T1")
    for i in range(2):
        client.post(reverse("login"), {"username": f"nobody{i}", "password": "x"})
    kinds = {alert.kind for alert in spikes_detect()}
    assert kinds == {RiskAlert.Kind.FAILURE_SPIKE, RiskAlert.Kind.LOGIN_FAILURE_SPIKE}


def test_old_activity_does_not_count():
    settings_set(failure_spike_threshold=2, spike_window_minutes=10)
    for _ in range(3):
        VerificationFailure.objects.create(terminal="T1", created_at=timezone.now() - timedelta(minutes=30))
    assert spikes_detect() == []


def test_alerts_show_on_the_ops_home_and_can_be_acknowledged(ops_client):
    alert = alert_raise(
        kind=RiskAlert.Kind.LOCKOUT,
        source="terminal:T9",
        params={"source_kind": "terminal", "source_value": "T9", "failures": 5, "period": 900},
    )
    body = ops_client.get(reverse("dashboards:ops-home")).content.decode()
    assert 'data-testid="risk-alert"' in body
    assert "T9" in body
    response = ops_client.post(
        reverse("riskcontrol:alert-acknowledge", args=[alert.pk]), {"note": "checked the shop", "next": reverse("dashboards:ops-home")}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboards:ops-home")
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.note == "checked the shop"
    assert 'data-testid="risk-alert"' not in ops_client.get(reverse("dashboards:ops-home")).content.decode()
    assert ops_client.get(reverse("riskcontrol:alert-list")).status_code == 200


def test_alert_messages_in_both_languages():
    alert = alert_raise(
        kind=RiskAlert.Kind.LOCKOUT,
        source="ip:1",
        params={"source_kind": "ip", "source_value": "203.0.113.1", "failures": 10, "period": 1800},
    )
    with translation.override("en"):
        assert alert.message == "IP address 203.0.113.1 was locked out for 30 minutes after 10 failed code verifications."
    with translation.override("zh-hans"):
        assert alert.message == "IP 地址 203.0.113.1 卡密验证失败 10 次，已锁定 30 分钟。"


def test_finance_cannot_acknowledge(finance_client):
    alert = alert_raise(kind=RiskAlert.Kind.BLOCK_SPIKE, params={"count": 1, "threshold": 1, "window": 600})
    assert finance_client.post(reverse("riskcontrol:alert-acknowledge", args=[alert.pk])).status_code == 403


def test_watch_and_purge_jobs_run():
    assert risk_watch().startswith("alerts raised=")
    assert risk_purge().startswith("events=")


def test_purge_drops_old_failure_rows_of_both_kinds():
    from riskcontrol.models import FailedCheck

    old = timezone.now() - timedelta(days=400)
    VerificationFailure.objects.create(terminal="T1", created_at=old)
    FailedCheck.objects.create(kind="2fa", source="2fa:user:1", created_at=old)
    FailedCheck.objects.create(kind="2fa", source="2fa:user:1")
    assert "failures=2" in risk_purge()
    assert FailedCheck.objects.count() == 1


def test_schedules_exist():
    from django_q.models import Schedule

    assert set(Schedule.objects.values_list("name", flat=True)) >= {"risk watch", "risk purge", "audit chain seal"}
