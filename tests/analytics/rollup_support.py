"""What the rollup tests share: local times, a clock to move (django.utils.timezone.now patched, as every service
reads it), the shop's orders placed through settlement's services, a paid storefront order, a shop that accepts
the tree's SKU, redeeming one code of an order through the redemption service.

(Merged from wt-rsales and wt-rredeem: `local` takes either form the two sets of tests use.)"""

import uuid
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from unittest import mock

from django.utils import timezone

from catalog import vault
from catalog.models import CardCode
from redemption.services import Caller, CodeEntry, redemption_redeem
from settlement.models import Order, OrderItem
from settlement.services.orders import order_pay, order_place
from settlement.services.payments import payment_for_order
from tests import factories


def local(*when, hour: int | None = None, minute: int = 0) -> datetime:
    """A moment in the dashboards' time zone (settings.TIME_ZONE): local(day, hour, minute) or
    local(year, month, day, hour=12, minute=0)."""
    tz = timezone.get_current_timezone()
    if isinstance(when[0], date):
        day, rest = when[0], list(when[1:])
        return datetime.combine(day, time(rest[0] if rest else hour, rest[1] if len(rest) > 1 else minute), tzinfo=tz)
    year, month, day, *rest = when
    hour = rest[0] if rest else (12 if hour is None else hour)
    minute = rest[1] if len(rest) > 1 else minute
    return datetime(year, month, day, hour, minute, tzinfo=tz)


@contextmanager
def at(moment: datetime):
    """Every `timezone.now()` (services, auto_now_add, the rollup job) answers `moment` inside the block."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield moment


def portal_buy(tree, quantity: int, moment: datetime) -> Order:
    """The seller buys codes in the portal, paid from its wallet at `moment`."""
    with at(moment):
        return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=quantity)


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def shop_order(tree, *, contact: str, quantity: int = 1) -> Order:
    """A storefront order to `contact`, paid through the payment flow (delivered to the contact's private link)."""
    order = order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=quantity,
        contact=contact,
        lookup_password="secret-123",
        pay_method="sandbox",
    )
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    return order


def order_codes(order: Order) -> list[CardCode]:
    return [item.code for item in OrderItem.objects.filter(order=order).select_related("code").order_by("pk")]


def plaintext(code: CardCode) -> str:
    return vault.keyring().open(ciphertext=bytes(code.ciphertext), key_id=code.key_id, blind_index=code.blind_index)


def shop_for(sku, *, name: str = "咖啡店", window_hours: int = 24 * 7):
    """A merchant honouring `sku` with one store and a terminal caller."""
    merchant = factories.MerchantFactory(name=name, code=f"m-{uuid.uuid4().hex[:8]}", reversal_window_hours=window_hours)
    store = factories.StoreFactory(merchant=merchant)
    terminal, _secret = factories.terminal_for(store)
    type(sku).objects.filter(pk=sku.pk).update(allowed_merchant_ids=[*(sku.allowed_merchant_ids or []), merchant.pk])
    return Caller.for_terminal(terminal)


def redeem(caller: Caller, code: CardCode):
    outcome = redemption_redeem(caller=caller, entry=CodeEntry(code=plaintext(code)), idempotency_key=uuid.uuid4().hex)
    assert outcome.redemption is not None, outcome.body
    return outcome.redemption
