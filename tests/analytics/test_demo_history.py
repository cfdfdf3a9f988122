"""analytics/demo.py: `seed_demo` leaves 90 days of history in every rollup, shaped like a real shop, and the
rollups agree with the source tables."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from analytics import demo
from analytics.models import (
    CampaignDay,
    CommissionDay,
    RedemptionDay,
    RedemptionHeat,
    ReminderDay,
    RiskDay,
    SalesDay,
    SkuSalesDay,
    StorefrontVisit,
    SupplierDay,
    VisitDay,
)
from analytics.rollups.base import local_day_bounds
from marketing.models import Campaign
from redemption.models import Redemption
from settlement.models import Order

PAID = [Order.Status.PAID, Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED]


def _days(model, since, **filters) -> set:
    return set(model.objects.filter(day__gte=since, **filters).values_list("day", flat=True))


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):
    """seed_demo once for the module, with its history (the suite sets DEMO_HISTORY_DAYS to 0)."""
    from django.conf import settings

    with django_db_blocker.unblock():
        settings.DEMO_HISTORY_DAYS = demo.HISTORY_DAYS
        try:
            out = io.StringIO()
            call_command("seed_demo", stdout=out)
            yield out.getvalue()
            call_command("flush", interactive=False, verbosity=0)
        finally:
            settings.DEMO_HISTORY_DAYS = 0


@pytest.mark.django_db
def test_every_rollup_holds_most_of_the_last_90_days(history):
    since = timezone.localdate() - timedelta(days=90)
    assert "demo history:" in history
    for model in (SalesDay, SkuSalesDay, CommissionDay, RedemptionDay, RiskDay, VisitDay, SupplierDay):
        assert len(_days(model, since)) >= 60, model.__name__
    # every way in, every level of the tree sells
    channels = set(SalesDay.objects.filter(day__gte=since).values_list("channel", flat=True))
    assert {"portal", "api", "storefront"} <= channels
    sellers = set(SalesDay.objects.filter(day__gte=since).values_list("distributor_id", flat=True))
    assert len(sellers) >= 4
    assert CommissionDay.objects.filter(released__gt=0).exists()
    campaign = Campaign.objects.get(name=demo.CAMPAIGN)
    assert len(_days(CampaignDay, since, campaign_id=campaign.pk)) >= 60
    assert CampaignDay.objects.filter(campaign_id=campaign.pk, used__gt=0, orders__gt=0).count() >= 10
    assert SkuSalesDay.objects.filter(refunded__gt=0).exists()
    assert ReminderDay.objects.filter(sent__gt=0).exists()
    assert SupplierDay.objects.filter(day__gte=since).aggregate(n=Sum("succeeded"))["n"] >= 60
    assert SupplierDay.objects.filter(day__gte=since, partial__gt=0).exists()


@pytest.mark.django_db
def test_redemptions_peak_at_lunch_and_in_the_evening_on_every_weekday(history):
    heat = RedemptionHeat.objects.filter(redemptions__gt=0)
    assert set(heat.values_list("weekday", flat=True)) == set(range(7))
    by_hour = dict(heat.values_list("local_hour").annotate(n=Sum("redemptions")).values_list("local_hour", "n"))
    assert len(by_hour) >= 8
    assert by_hour.get(12, 0) + by_hour.get(19, 0) > by_hour.get(9, 0) + by_hour.get(15, 0)


@pytest.mark.django_db
def test_sales_rise_over_the_quarter_and_the_shop_is_busier_at_weekends(history):
    today = timezone.localdate()
    first_month = SkuSalesDay.objects.filter(day__gte=today - timedelta(days=90), day__lt=today - timedelta(days=60))
    last_month = SkuSalesDay.objects.filter(day__gte=today - timedelta(days=30), day__lt=today)
    assert last_month.aggregate(n=Sum("orders"))["n"] > first_month.aggregate(n=Sum("orders"))["n"]
    shop = SkuSalesDay.objects.filter(channel="storefront", day__gte=today - timedelta(days=90), day__lt=today)
    per_day = {}
    for day, orders in shop.values_list("day").annotate(n=Sum("orders")).values_list("day", "n"):
        per_day.setdefault(day.weekday() >= 5, []).append(orders)
    assert sum(per_day[True]) / len(per_day[True]) > sum(per_day[False]) / len(per_day[False])


@pytest.mark.django_db
def test_the_rollups_add_up_with_the_source_tables_for_a_day(history):
    day = timezone.localdate() - timedelta(days=30)
    start, end = local_day_bounds(day, day)
    paid = Order.objects.filter(status__in=PAID, paid_at__gte=start, paid_at__lt=end)
    assert paid.exists()
    rolled = SkuSalesDay.objects.filter(day=day).aggregate(orders=Sum("orders"), revenue=Sum("revenue"))
    assert rolled["orders"] == paid.count()
    assert rolled["revenue"] == paid.aggregate(total=Sum("total"))["total"]
    assert SalesDay.objects.filter(day=day).aggregate(revenue=Sum("revenue"))["revenue"] == rolled["revenue"]
    redeemed = Redemption.objects.filter(created_at__gte=start, created_at__lt=end, status=Redemption.Status.COMPLETED)
    assert (RedemptionDay.objects.filter(day=day).aggregate(n=Sum("redemptions"))["n"] or 0) == redeemed.count()
    visits = StorefrontVisit.objects.filter(day=day)
    assert VisitDay.objects.filter(day=day).aggregate(n=Sum("visitors"))["n"] == visits.count() > 0
    assert VisitDay.objects.filter(day=day).aggregate(n=Sum("views"))["n"] == visits.aggregate(n=Sum("views"))["n"]
    assert Decimal(rolled["revenue"]) > 0


@pytest.mark.django_db
def test_a_second_seed_adds_no_history(history):
    orders = Order.objects.count()
    out = io.StringIO()
    demo.seed(out)
    assert "already there" in out.getvalue()
    assert Order.objects.count() == orders
