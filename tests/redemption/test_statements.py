"""What the platform owes merchants: settlement prices, pro rata for balances, selectors for statements."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from redemption import selectors, services
from redemption.models import Redemption
from tests import factories

pytestmark = pytest.mark.django_db


def test_amount_owed_uses_the_settlement_price(api_a, sku_a, gift_card_a, shop_a):
    services.sku_price_set(merchant=shop_a.merchant, sku=sku_a, settlement_price=Decimal("28.00"))
    services.sku_price_set(merchant=shop_a.merchant, sku=gift_card_a, settlement_price=Decimal("97.00"))
    _c, coffee = factories.card_code(sku=sku_a)
    _g, card = factories.card_code(sku=gift_card_a)
    assert api_a.redeem({"code": coffee}).json()["amount_owed"] == "28.00"
    assert api_a.redeem({"code": card, "amount": "33.33"}).json()["amount_owed"] == "32.33"  # 33.33 × 0.97 = 32.3301


def test_without_a_price_the_value_used_is_owed(api_a, sku_a):
    _c, coffee = factories.card_code(sku=sku_a)
    assert api_a.redeem({"code": coffee}).json()["amount_owed"] == "35.00"


def test_prices_are_per_merchant(api_a, api_b, shop_a, shop_b):
    sku = factories.SkuFactory(face_value=Decimal("50.00"), allowed_merchant_ids=[shop_a.merchant.pk, shop_b.merchant.pk])
    services.sku_price_set(merchant=shop_a.merchant, sku=sku, settlement_price=Decimal("40.00"))
    services.sku_price_set(merchant=shop_b.merchant, sku=sku, settlement_price=Decimal("45.00"))
    _c1, p1 = factories.card_code(sku=sku)
    _c2, p2 = factories.card_code(sku=sku)
    assert api_a.redeem({"code": p1}).json()["amount_owed"] == "40.00"
    assert api_b.redeem({"code": p2}).json()["amount_owed"] == "45.00"


def test_monthly_selectors_exclude_reversals_and_other_months(api_a, api_b, sku_a, sku_b, shop_a, shop_b):
    services.sku_price_set(merchant=shop_a.merchant, sku=sku_a, settlement_price=Decimal("30.00"))
    ids = [api_a.redeem({"code": factories.card_code(sku=sku_a)[1]}).json()["id"] for _ in range(4)]
    api_a.reverse(ids[0])
    last_month = timezone.now().replace(day=1) - timedelta(days=2)
    Redemption.objects.filter(pk=ids[1]).update(created_at=last_month)
    api_b.redeem({"code": factories.card_code(sku=sku_b)[1]})

    today = timezone.localdate()
    month = selectors.Period.month(today.year, today.month)
    lines = list(selectors.merchant_redemptions(merchant=shop_a.merchant, period=month))
    assert [r.pk for r in lines] == ids[2:]
    assert len(selectors.merchant_redemptions(merchant=shop_a.merchant, period=month, include_reversed=True)) == 3

    summary = selectors.merchant_payable_summary(period=month)
    by_merchant = {row.merchant_id: row for row in summary}
    assert by_merchant[shop_a.merchant.pk].count == 2
    assert by_merchant[shop_a.merchant.pk].owed == Decimal("60.00")
    assert by_merchant[shop_a.merchant.pk].amount == Decimal("70.00")
    assert by_merchant[shop_b.merchant.pk].owed == Decimal("50.00")
    assert len(selectors.merchant_payable_summary(period=month, merchant=shop_b.merchant)) == 1


def test_period_bounds_are_local_days():
    start, end = selectors.Period(date(2030, 3, 1), date(2030, 3, 31)).bounds()
    assert timezone.localtime(start).hour == 0 and (end - start).days == 31
    assert selectors.Period.month(2030, 2).end == date(2030, 2, 28)
    assert selectors.Period.of((date(2030, 1, 1), date(2030, 1, 2))).end == date(2030, 1, 2)


def test_store_daily_summary(api_a, sku_a, shop_a):
    for _ in range(2):
        api_a.redeem({"code": factories.card_code(sku=sku_a)[1]})
    rows = selectors.store_daily_summary(merchant=shop_a.merchant, period=selectors.Period.day(timezone.localdate()))
    assert len(rows) == 1
    assert rows[0].count == 2 and rows[0].amount == Decimal("70.00") and rows[0].store_name == shop_a.store.name
