"""Upstreams: alerts, demotion by success rate, restore, balance reads."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from supply import conf
from supply.adapters.base import SupplierUnavailable, adapter_for
from supply.errors import TopupStateConflict
from supply.models import SupplyAlert, TopupAttempt, Upstream
from voucherhub.core.audit import audit_record
from voucherhub.core.money import money


def alert_raise(*, upstream: Upstream, kind: str, message: str) -> SupplyAlert | None:
    """Raise an alert unless the same kind is already open for this upstream (within the quiet time)."""
    since = timezone.now() - conf.alert_quiet()
    if SupplyAlert.objects.filter(upstream=upstream, kind=kind, acknowledged_at__isnull=True, created_at__gte=since).exists():
        return None
    return SupplyAlert.objects.create(upstream=upstream, kind=kind, message=message[:300])


def _status_set(upstream: Upstream, status: str, reason: str) -> None:
    upstream.status, upstream.status_reason, upstream.status_changed_at = status, reason[:300], timezone.now()
    upstream.save(update_fields=["status", "status_reason", "status_changed_at"])


@transaction.atomic
def upstream_demote(*, upstream: Upstream, reason: str, actor=None) -> Upstream:
    """Take an upstream out of every chain (DEMOTED) and raise an alert. Idempotent."""
    locked = Upstream.objects.select_for_update().get(pk=upstream.pk)
    if locked.status == Upstream.Status.DEMOTED:
        return locked
    _status_set(locked, Upstream.Status.DEMOTED, reason)
    alert_raise(upstream=locked, kind=SupplyAlert.Kind.DEMOTED, message=reason)
    audit_record(actor=actor, action="supply.upstream.demote", obj=locked, reason=reason)
    return locked


@transaction.atomic
def upstream_pause(*, upstream: Upstream, actor, reason: str) -> Upstream:
    """Operations take an upstream out of every chain by hand."""
    locked = Upstream.objects.select_for_update().get(pk=upstream.pk)
    if locked.status != Upstream.Status.PAUSED:
        _status_set(locked, Upstream.Status.PAUSED, reason)
        audit_record(actor=actor, action="supply.upstream.pause", obj=locked, reason=reason)
    return locked


@transaction.atomic
def upstream_restore(*, upstream: Upstream, actor, reason: str) -> Upstream:
    """Put a demoted or paused upstream back into its chains. Its success rate counts afresh from now."""
    locked = Upstream.objects.select_for_update().get(pk=upstream.pk)
    if locked.status == Upstream.Status.ACTIVE:
        raise TopupStateConflict(_("This supplier is already active."))
    _status_set(locked, Upstream.Status.ACTIVE, reason)
    audit_record(actor=actor, action="supply.upstream.restore", obj=locked, reason=reason)
    return locked


def upstream_success_rate(*, upstream: Upstream, since: datetime) -> tuple[int, int]:
    """(final attempts, successful ones) of an upstream finished since `since`."""
    finished = TopupAttempt.objects.filter(upstream=upstream, finished_at__gte=since, status__in=TopupAttempt.FINAL)
    return finished.count(), finished.filter(status=TopupAttempt.Status.SUCCESS).count()


def upstream_rate_check(*, upstream_id: int, now: datetime | None = None) -> bool:
    """After a final attempt: demote the upstream when its success rate over its window fell under its floor
    (only once it has enough attempts, counted since it was last restored). True when it was demoted now."""
    now = now or timezone.now()
    upstream = Upstream.objects.get(pk=upstream_id)
    if upstream.status != Upstream.Status.ACTIVE:
        return False
    since = now - timedelta(minutes=upstream.rate_window_minutes)
    if upstream.status_changed_at and upstream.status_changed_at > since:
        since = upstream.status_changed_at
    attempts, successes = upstream_success_rate(upstream=upstream, since=since)
    if attempts < max(upstream.rate_min_attempts, 1) or Decimal(successes) / attempts >= upstream.success_rate_floor:
        return False
    reason = _("Success rate %(rate)s%% over the last %(attempts)s attempts is under the floor of %(floor)s%%.") % {
        "rate": (Decimal(100 * successes) / attempts).quantize(Decimal("0.1")),
        "attempts": attempts,
        "floor": (upstream.success_rate_floor * 100).quantize(Decimal("0.1")),
    }
    upstream_demote(upstream=upstream, reason=reason)
    return True


def upstream_balance_refresh(*, upstream: Upstream) -> Decimal:
    """Read our balance at the supplier (outside any transaction), store it, alert when it runs low.
    Raises SupplierUnavailable."""
    balance = money(adapter_for(upstream.protocol).balance(upstream.connection()))
    Upstream.objects.filter(pk=upstream.pk).update(balance=balance, balance_checked_at=timezone.now())
    if balance < upstream.low_balance_threshold:
        message = _("Balance %(balance)s is under the threshold of %(threshold)s.") % {
            "balance": balance,
            "threshold": upstream.low_balance_threshold,
        }
        alert_raise(upstream=upstream, kind=SupplyAlert.Kind.LOW_BALANCE, message=message)
    return balance


def upstream_balances_refresh() -> int:
    """Refresh every upstream's balance (the task); an upstream that does not answer is skipped."""
    done = 0
    for upstream in Upstream.objects.exclude(status=Upstream.Status.PAUSED):
        try:
            upstream_balance_refresh(upstream=upstream)
        except SupplierUnavailable:
            continue
        done += 1
    return done
