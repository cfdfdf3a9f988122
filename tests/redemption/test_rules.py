"""The rules matrix: every reason a code is refused, and the cases that pass."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import CardCode, Sku
from redemption import rules
from redemption.models import CodeBalance, Redemption
from tests import factories
from tests.redemption.conftest import shop_make

pytestmark = pytest.mark.django_db


def reason_of(api, data) -> str:
    body = api.verify(data).json()
    return "" if body["valid"] else body["reason"]["code"]


# --- Through the API: one case per refusal ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (CardCode.Status.AVAILABLE, "not_active"),
        (CardCode.Status.RESERVED, "not_active"),
        (CardCode.Status.VOID, "void"),
        (CardCode.Status.EXPIRED, "expired"),
        (CardCode.Status.REDEEMED, "already_redeemed"),
        (CardCode.Status.SOLD, ""),
    ],
)
def test_only_sold_codes_can_be_redeemed(api_a, sku_a, status, reason):
    _code, plaintext = factories.card_code(sku=sku_a, status=status)
    assert reason_of(api_a, {"code": plaintext}) == reason
    response = api_a.redeem({"code": plaintext})
    assert (response.status_code == 201) == (reason == "")
    if reason:
        assert response.json()["error"]["code"] == reason


def test_expired_code_is_refused(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a, expires_in=timedelta(seconds=-1))
    assert reason_of(api_a, {"code": plaintext}) == "expired"
    assert api_a.redeem({"code": plaintext}).status_code == 422
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD


def test_fixed_window_not_started_and_ended(api_a, shop_a):
    later = factories.SkuFactory(
        validity_kind=Sku.ValidityKind.FIXED,
        valid_from=timezone.now() + timedelta(days=1),
        valid_until=timezone.now() + timedelta(days=10),
        valid_days=None,
        allowed_merchant_ids=[shop_a.merchant.pk],
    )
    _code, plaintext = factories.card_code(sku=later, expires_in=None)
    assert reason_of(api_a, {"code": plaintext}) == "not_yet_valid"
    ended = factories.SkuFactory(
        validity_kind=Sku.ValidityKind.FIXED,
        valid_from=timezone.now() - timedelta(days=10),
        valid_until=timezone.now() - timedelta(minutes=1),
        valid_days=None,
        allowed_merchant_ids=[shop_a.merchant.pk],
    )
    _code, plaintext = factories.card_code(sku=ended, expires_in=None)
    assert reason_of(api_a, {"code": plaintext}) == "expired"


def test_store_restriction_per_merchant(client, shop_a):
    from tests.redemption.conftest import TerminalClient

    other_store = factories.StoreFactory(merchant=shop_a.merchant, name="星巴克 北京国贸店")
    other_terminal, secret = factories.terminal_for(other_store)
    api_other = TerminalClient(client=client, terminal=other_terminal, secret=secret)
    api_here = TerminalClient(client=client, terminal=shop_a.terminal, secret=shop_a.secret)
    sku = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], allowed_store_ids=[shop_a.store.pk])
    _code, plaintext = factories.card_code(sku=sku)
    assert reason_of(api_other, {"code": plaintext}) == "store_not_allowed"
    assert reason_of(api_here, {"code": plaintext}) == ""


def test_a_listed_store_admits_its_merchant_even_when_the_merchant_is_not_listed(client, shop_a, shop_b):
    from tests.redemption.conftest import TerminalClient

    sku = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], allowed_store_ids=[shop_b.store.pk])
    _code, plaintext = factories.card_code(sku=sku)
    api_a = TerminalClient(client=client, terminal=shop_a.terminal, secret=shop_a.secret)
    api_b = TerminalClient(client=client, terminal=shop_b.terminal, secret=shop_b.secret)
    # merchant A lists none of its own stores: every A store may; B only at its listed store
    assert reason_of(api_a, {"code": plaintext}) == ""
    assert reason_of(api_b, {"code": plaintext}) == ""
    other_b_store = factories.StoreFactory(merchant=shop_b.merchant)
    terminal, secret = factories.terminal_for(other_b_store)
    assert reason_of(TerminalClient(client=client, terminal=terminal, secret=secret), {"code": plaintext}) == "not_valid_here"


def test_a_sku_without_merchants_is_redeemable_nowhere(api_a):
    sku = factories.SkuFactory(allowed_merchant_ids=[], allowed_store_ids=[])
    _code, plaintext = factories.card_code(sku=sku)
    assert reason_of(api_a, {"code": plaintext}) == "not_valid_here"


def test_weekday_rule(api_a, shop_a):
    today = timezone.localtime().isoweekday()
    other_days = [d for d in range(1, 8) if d != today]
    refused = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], allowed_weekdays=other_days)
    allowed = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], allowed_weekdays=[today])
    _c1, p1 = factories.card_code(sku=refused)
    _c2, p2 = factories.card_code(sku=allowed)
    assert reason_of(api_a, {"code": p1}) == "weekday_not_allowed"
    assert reason_of(api_a, {"code": p2}) == ""


def test_hours_rule(api_a, shop_a):
    now = timezone.localtime()
    past = (now - timedelta(hours=3)).time().replace(second=0, microsecond=0)
    before = (now - timedelta(hours=2)).time().replace(second=0, microsecond=0)
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    closed = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], usable_from_time=past, usable_until_time=before)
    open_ = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], usable_from_time=start, usable_until_time=end)
    _c1, p1 = factories.card_code(sku=closed)
    _c2, p2 = factories.card_code(sku=open_)
    assert reason_of(api_a, {"code": p1}) == "outside_hours"
    assert reason_of(api_a, {"code": p2}) == ""


def test_minimum_spend(api_a, shop_a):
    sku = factories.SkuFactory(allowed_merchant_ids=[shop_a.merchant.pk], min_spend=Decimal("100.00"))
    _code, plaintext = factories.card_code(sku=sku)
    response = api_a.redeem({"code": plaintext})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "below_min_spend"
    assert "100.00" in response.json()["error"]["message"]
    assert api_a.redeem({"code": plaintext, "spend": "99.99"}).json()["error"]["code"] == "below_min_spend"
    ok = api_a.redeem({"code": plaintext, "spend": "100.00"})
    assert ok.status_code == 201 and ok.json()["spend"] == "100.00"


# --- Stored value -----------------------------------------------------------------------------------


def test_stored_value_partial_redemptions_down_to_zero_and_refused_beyond(api_a, gift_card_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    assert api_a.verify({"code": plaintext}).json()["code"]["balance"] == "100.00"
    assert api_a.redeem({"code": plaintext}).json()["error"]["code"] == "amount_required"
    assert api_a.redeem({"code": plaintext, "amount": "0"}).json()["error"]["code"] == "amount_required"
    first = api_a.redeem({"code": plaintext, "amount": "30.50"})
    assert first.status_code == 201 and first.json()["balance_after"] == "69.50"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    too_much = api_a.redeem({"code": plaintext, "amount": "69.51"})
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "balance_insufficient"
    assert "69.50" in too_much.json()["error"]["message"]
    assert api_a.verify({"code": plaintext, "amount": "70"}).json()["reason"]["code"] == "balance_insufficient"
    last = api_a.redeem({"code": plaintext, "amount": "69.50"})
    assert last.json()["balance_after"] == "0.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert CodeBalance.objects.get(code=code).remaining == Decimal("0.00")
    beyond = api_a.redeem({"code": plaintext, "amount": "0.01"})
    assert beyond.status_code == 409 and beyond.json()["error"]["code"] == "already_redeemed"
    assert api_a.verify({"code": plaintext}).json()["code"]["balance"] == "0.00"
    assert sum(r.amount for r in Redemption.objects.filter(code=code)) == Decimal("100.00")


def test_single_use_code_ignores_an_amount_and_is_consumed_whole(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    body = api_a.redeem({"code": plaintext, "amount": "1.00"}).json()
    assert body["amount"] == "35.00" and body["balance_after"] is None


# --- The pure rules, at chosen moments ---------------------------------------------------------------


def at(hour: int, minute: int = 0, *, weekday: int = 3) -> datetime:
    """An aware local datetime on a given ISO weekday (2030-01-07 is a Monday)."""
    day = datetime(2030, 1, 6 + weekday, hour, minute)
    return timezone.make_aware(day, timezone.get_current_timezone())


@pytest.fixture
def scene(db):
    shop = shop_make("规则")
    sku = factories.SkuFactory(allowed_merchant_ids=[shop.merchant.pk], valid_days=3650)
    code, _plain = factories.card_code(sku=sku, expires_in=timedelta(days=3650))
    return shop, sku, code


def refusal_at(scene, when, **kwargs):
    shop, sku, code = scene
    refusal = rules.code_refusal(code=code, sku=sku, merchant=shop.merchant, store=shop.store, now=when, **kwargs)
    return refusal.reason if refusal else ""


def test_overnight_hours_window(scene):
    _shop, sku, _code = scene
    sku.usable_from_time, sku.usable_until_time = time(22, 0), time(2, 0)
    assert refusal_at(scene, at(23, 30)) == ""
    assert refusal_at(scene, at(1, 59)) == ""
    assert refusal_at(scene, at(2, 1)) == "outside_hours"
    assert refusal_at(scene, at(12, 0)) == "outside_hours"


def test_open_ended_hours(scene):
    _shop, sku, _code = scene
    sku.usable_from_time = time(10, 0)
    assert refusal_at(scene, at(9, 59)) == "outside_hours"
    assert refusal_at(scene, at(23, 59)) == ""
    sku.usable_from_time, sku.usable_until_time = None, time(14, 0)
    assert refusal_at(scene, at(14, 1)) == "outside_hours"
    assert refusal_at(scene, at(0, 0)) == ""


def test_weekdays_at_chosen_days(scene):
    _shop, sku, _code = scene
    sku.allowed_weekdays = [6, 7]
    assert refusal_at(scene, at(12, weekday=5)) == "weekday_not_allowed"
    assert refusal_at(scene, at(12, weekday=6)) == ""
    assert refusal_at(scene, at(12, weekday=7)) == ""


def test_rule_order_state_before_usage_rules(scene):
    _shop, sku, code = scene
    sku.allowed_weekdays = [1]
    code.status = CardCode.Status.VOID
    assert refusal_at(scene, at(12, weekday=3)) == "void"


def test_hidden_reasons_look_the_same_to_the_caller():
    for reason in rules.HIDDEN:
        refusal = rules.Refusal(reason)
        assert refusal.public_reason == "not_valid_here"
        assert refusal.message == rules.Refusal("not_valid_here").message
