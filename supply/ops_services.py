"""Ops' writes on the supply pages that are not the top-up engine's: alerts acknowledged, and the hold queue's
one entry point (which calls the engine's hold services)."""

from django.db import transaction
from django.utils import timezone

from supply.models import SupplyAlert, Topup, Upstream
from voucherhub.core.audit import audit_record_many


@transaction.atomic
def supply_alerts_acknowledge(*, alerts, actor) -> int:
    """Acknowledge the open ones of `alerts` (a queryset or instances). Returns how many; audited."""
    ids = [a.pk for a in alerts] if not hasattr(alerts, "values_list") else list(alerts.values_list("pk", flat=True))
    open_alerts = list(SupplyAlert.objects.select_for_update().filter(pk__in=ids, acknowledged_at__isnull=True).order_by("pk"))
    if not open_alerts:
        return 0
    now = timezone.now()
    SupplyAlert.objects.filter(pk__in=[a.pk for a in open_alerts]).update(acknowledged_at=now, acknowledged_by=actor)
    audit_record_many(
        actor=actor, action="supply.alert.acknowledge", objects=open_alerts, data_for=lambda a: {"kind": a.kind, "upstream": a.upstream_id}
    )
    return len(open_alerts)


def hold_decide(*, topup: Topup, actor, decision: str, reason: str, upstream: Upstream | None = None) -> Topup:
    """A held top-up (压单): "resubmit" to `upstream`, or "refund" the buyer. The engine's services lock the top-up,
    check it is still held, write the event and the audit row; a domain error says why not."""
    from supply.services.topups import topup_hold_refund, topup_hold_resubmit

    if decision == "resubmit":
        return topup_hold_resubmit(topup=topup, upstream=upstream, actor=actor, reason=reason)
    return topup_hold_refund(topup=topup, actor=actor, reason=reason)
