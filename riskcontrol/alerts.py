"""Alerts for ops: raised on a brute-force lockout at once, and by the watch job on spikes of
blocks, failed verifications or failed logins. Shown on the ops home, mailed to OPS_ALERT_EMAILS."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from riskcontrol import engine
from riskcontrol.models import Outcome, RiskAlert, RiskEvent, VerificationFailure
from voucherhub.core.audit import audit_record

logger = logging.getLogger(__name__)
DISPATCH_TASK = "riskcontrol.tasks.risk_alerts_dispatch"


def alert_raise(
    *,
    kind: str,
    source: str = "",
    params: dict | None = None,
    severity: str = RiskAlert.Severity.WARNING,
    cooldown_minutes: int | None = None,
) -> RiskAlert | None:
    """Create an alert unless the same one (kind and source) is still open and recent. Mail goes out after commit."""
    if cooldown_minutes is None:
        cooldown_minutes = engine.rules_snapshot().settings.alert_cooldown_minutes
    since = timezone.now() - timedelta(minutes=cooldown_minutes)
    if RiskAlert.objects.filter(kind=kind, source=source, created_at__gte=since, acknowledged_at__isnull=True).exists():
        return None
    alert = RiskAlert.objects.create(kind=kind, source=source, params=params or {}, severity=severity)
    transaction.on_commit(_dispatch_soon)
    return alert


def _dispatch_soon() -> None:
    """Queue the mail task (the cluster sends it within seconds); the watch job sends anything left."""
    try:
        from django_q.tasks import async_task

        async_task(DISPATCH_TASK, task_name="risk alerts mail")
    except Exception:  # noqa: BLE001 - the minute job sends it anyway
        logger.warning("could not queue the risk alert mail", exc_info=True)


def alerts_dispatch(*, limit: int = 50) -> int:
    """Mail every alert not mailed yet to settings.OPS_ALERT_EMAILS (one mail per alert). Returns how many."""
    recipients = list(getattr(settings, "OPS_ALERT_EMAILS", []) or [])
    pending = list(RiskAlert.objects.filter(emailed_at__isnull=True).order_by("id")[:limit])
    sent = 0
    for alert in pending:
        claimed = RiskAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
        if not claimed:
            continue  # another worker took it
        if not recipients:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            subject = f"[VoucherHub] {alert.get_severity_display()}: {alert.get_kind_display()}"
            body = "\n".join(
                [
                    alert.message,
                    "",
                    gettext("Time: %(time)s") % {"time": timezone.localtime(alert.created_at).strftime("%Y-%m-%d %H:%M:%S")},
                    gettext("See the ops home or /risk/alerts/ to acknowledge it."),
                ]
            )
        try:
            send_mail(subject, body, None, recipients)
            sent += 1
        except Exception:  # noqa: BLE001 - put it back for the next run
            logger.exception("sending risk alert %s failed", alert.pk)
            RiskAlert.objects.filter(pk=alert.pk).update(emailed_at=None)
    return sent


def spikes_detect() -> list[RiskAlert]:
    """Raise an alert for each kind of trouble over its threshold within the spike window."""
    config = engine.rules_snapshot().settings
    window = max(1, config.spike_window_minutes)
    since = timezone.now() - timedelta(minutes=window)
    raised = []
    checks = [
        (
            RiskAlert.Kind.BLOCK_SPIKE,
            config.block_spike_threshold,
            lambda: RiskEvent.objects.filter(outcome=Outcome.BLOCK, created_at__gte=since).count(),
        ),
        (
            RiskAlert.Kind.FAILURE_SPIKE,
            config.failure_spike_threshold,
            lambda: VerificationFailure.objects.filter(created_at__gte=since).count(),
        ),
        (RiskAlert.Kind.LOGIN_FAILURE_SPIKE, config.login_failure_spike_threshold, lambda: _login_failures(since)),
    ]
    for kind, threshold, count_of in checks:
        if not threshold:
            continue
        count = count_of()
        if count >= threshold:
            alert = alert_raise(
                kind=kind,
                severity=RiskAlert.Severity.CRITICAL if count >= 2 * threshold else RiskAlert.Severity.WARNING,
                params={"count": count, "threshold": threshold, "window": window * 60},
            )
            if alert is not None:
                raised.append(alert)
    return raised


def _login_failures(since) -> int:
    from axes.models import AccessFailureLog

    return AccessFailureLog.objects.filter(attempt_time__gte=since).count()


@transaction.atomic
def alert_acknowledge(*, alert_id: int, actor, note: str = "") -> RiskAlert:
    alert = RiskAlert.objects.select_for_update().get(pk=alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor if getattr(actor, "is_authenticated", False) else None
        alert.note = (note or "")[:500]
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
        audit_record(actor=actor, action="risk.alert.acknowledge", obj=alert, reason=note or "")
    return alert
