"""Reads of top-up orders (orders of a TOPUP SKU) with their top-up at supply, scoped to the distributor."""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from catalog.models import Sku
from settlement import integrations
from settlement.errors import OrderNotFound
from settlement.models import Order

ORDER_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only ("³".isdigit() is true), within a bigint


@dataclass(frozen=True)
class TopupView:
    """A top-up order as the API and the pages show it: the order, and supply's top-up when there is one (none
    yet while the order waits for its payment or a risk review)."""

    order: Order
    topup: object | None

    @property
    def topup_status(self) -> str | None:
        return self.topup.status if self.topup is not None else None

    @property
    def topup_status_label(self) -> str:
        return self.topup.get_status_display() if self.topup is not None else ""

    @property
    def face_value(self) -> Decimal:
        return self.topup.face_value if self.topup is not None else self.order.sku.face_value

    @property
    def delivered_value(self) -> Decimal | None:
        return self.topup.delivered_value if self.topup is not None else None

    @property
    def finished_at(self) -> datetime | None:
        return self.topup.finished_at if self.topup is not None else None

    @property
    def held_for_review(self) -> bool:
        return self.order.hold == Order.Hold.REVIEW


def topup_view(order: Order) -> TopupView:
    return TopupView(order=order, topup=integrations.topup_of(order.number))


def topup_views(orders) -> dict[int, TopupView]:
    """The top-up orders among `orders` with their top-ups (one query): {order id: TopupView}."""
    orders = [o for o in orders if o.sku.fulfilment == Sku.Fulfilment.TOPUP]
    topups = integrations.topups_of(o.number for o in orders) if orders else {}
    return {o.pk: TopupView(order=o, topup=topups.get(o.number)) for o in orders}


def topup_order_get(distributor, ref: str) -> Order:
    """The distributor's own top-up order by id, number or, failing those, its own `customer_ref` (the latest: a
    VoucherHub buying from this one asks by its own number), or OrderNotFound (a neighbour's too: no hint it
    exists)."""
    qs = Order.objects.select_related("sku", "distributor").filter(distributor=distributor, sku__fulfilment=Sku.Fulfilment.TOPUP)
    order = qs.filter(pk=int(ref)).first() if ORDER_ID.fullmatch(ref) else qs.filter(number=ref).first()
    if order is None and ref:
        order = qs.filter(customer_ref=ref).order_by("-pk").first()
    if order is None:
        raise OrderNotFound()
    return order
