"""Demo data of risk control: the 20-rule starting set, a day of evaluations, a review queue and alerts."""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from riskcontrol.alerts import alert_raise, spikes_detect
from riskcontrol.decision import RiskContext
from riskcontrol.models import RiskAlert, RiskEvent, RiskSettings
from riskcontrol.ruleset import ruleset_install
from riskcontrol.services import risk_evaluate


def _sku_ids() -> list[int]:
    from catalog.models import Sku

    return list(Sku.objects.order_by("id").values_list("id", flat=True)[:6]) or [None]


def seed(out) -> None:
    RiskSettings.objects.get_or_create(pk=1)
    new_lists, new_rules = ruleset_install()
    if RiskEvent.objects.exists():
        out.write(f"demo risk control: {new_rules} new rules, {new_lists} new lists (events kept)")
        return
    rng = random.Random(20261124)
    skus = _sku_ids()
    now = timezone.now()
    made = 0

    def evaluate(**fields):
        nonlocal made
        defaults = {"action": "purchase", "sku_id": rng.choice(skus), "quantity": 1, "amount": Decimal("30.00")}
        risk_evaluate(ctx=RiskContext(**{**defaults, **fields}))
        made += 1

    # Ordinary shoppers.
    for i in range(40):
        evaluate(
            ip=f"39.156.{rng.randint(1, 250)}.{rng.randint(1, 250)}",
            device=f"dev-{i:04d}",
            account_id=f"c{1000 + i}",
            phone=f"138{rng.randint(10000000, 99999999)}",
            quantity=rng.choice([1, 1, 1, 2, 3]),
            amount=Decimal(rng.choice(["19.90", "30.00", "45.00", "88.00"])),
            distributor_id=rng.choice([1, 2, 3]),
            reference=f"DEMO-{i:04d}",
        )
    # A scalper script on one device: the hourly device limit challenges it, the daily one blocks it.
    for i in range(12):
        evaluate(ip="117.136.8.21", device="script-phone-77", account_id=f"s{i % 3}", quantity=3, reference=f"DEMO-S{i:03d}")
    # Known bad sources.
    evaluate(ip="203.0.113.45", device="dev-x1", account_id="c9001", reference="DEMO-B001")
    evaluate(ip="120.0.0.8", device="emu-bluestacks-5", account_id="c9002", reference="DEMO-B002")
    evaluate(
        ip="120.0.0.9",
        email="buyer@mailinator.com",
        account_id="c9003",
        account_created_at=now - timedelta(hours=2),
        amount=Decimal("600.00"),
        reference="DEMO-B003",
    )
    # A burst from the blocklisted source: enough blocks within the spike window for the block-spike alert.
    for i in range(60):
        evaluate(ip="203.0.113.45", device=f"burst-{i:03d}", account_id=f"b{i:03d}", reference=f"DEMO-X{i:03d}")
    # Big orders waiting for review.
    evaluate(ip="36.112.4.9", device="dev-big-1", account_id="c2001", amount=Decimal("6800.00"), quantity=20, reference="DEMO-R001")
    evaluate(ip="36.112.4.10", device="dev-big-2", account_id="c2002", amount=Decimal("12000.00"), quantity=40, reference="DEMO-R002")
    if not RiskAlert.objects.exists():
        alert_raise(
            kind=RiskAlert.Kind.LOCKOUT,
            severity=RiskAlert.Severity.CRITICAL,
            source="terminal:POS-DEMO-03",
            params={"source_kind": "terminal", "source_value": "POS-DEMO-03", "failures": 5, "period": 900},
        )
        spikes_detect()  # counted from the blocked events above, like every real block-spike alert
    out.write(
        f"demo risk control: {new_rules} rules, {new_lists} lists, {made} evaluations, "
        f"{RiskEvent.objects.pending_review().count()} waiting for review"
    )
