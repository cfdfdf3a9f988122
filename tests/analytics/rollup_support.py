"""What the rollup tests share: a clock to move (django.utils.timezone.now patched, as every service reads it)
and the shop's orders placed through settlement's services."""

from contextlib import contextmanager
from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

from settlement.models import Order
from settlement.services.orders import order_place

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment in the dashboards' time zone (settings.TIME_ZONE, Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@contextmanager
def at(moment: datetime):
    """Every `timezone.now()` (services, auto_now_add, the rollup job) answers `moment` inside the block."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield moment


def portal_buy(tree, quantity: int, moment: datetime) -> Order:
    """The seller buys codes in the portal, paid from its wallet at `moment`."""
    with at(moment):
        return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=quantity)
