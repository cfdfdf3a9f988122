"""What settlement does when marketing's group buy ends (marketing.signals, heard in settlement/apps.py).

* completed: each member's paid order, held for the group (Order.Hold.GROUP), is delivered.
* failed: each member's paid order is refunded in full through the ledger and the payment gateway; an order
  still waiting for its payment is cancelled (its codes and campaign place go back). Idempotent: an order
  already refunded or cancelled is only confirmed. Each order is its own transaction; one that fails is
  logged and left for marketing's retry job (it sends group_failed again until every member is confirmed).
"""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from settlement import lock_objects
from settlement.models import Order
from settlement.services.orders import order_cancel, order_deliver, order_refund

logger = logging.getLogger(__name__)
S = Order.Status


def group_orders_deliver(*, order_refs) -> int:
    """The group filled: deliver its members' paid orders held for it. Returns how many were delivered."""
    done = 0
    for ref in order_refs:
        try:
            with transaction.atomic():
                order = lock_objects.orders_lock(number=ref).first()
                if order is None or order.status != S.PAID or order.hold != Order.Hold.GROUP:
                    continue  # not paid (it may still be), or delivered already
                Order.objects.filter(pk=order.pk).update(hold=Order.Hold.NONE)
                order_deliver(order=order)
                done += 1
        except Exception:
            logger.exception("group order %s could not be delivered", ref)
    return done


def _group_order_refund(ref: str) -> bool:
    """One member's order of a failed group refunded in full (or cancelled when unpaid). True once nothing
    more is owed on it (refunded now or before, cancelled, expired)."""
    with transaction.atomic():
        order = lock_objects.orders_lock(number=ref).first()
        if order is None:
            return True
        if order.status == S.PENDING:
            order_cancel(order=order, reason="group failed", note=_("The group did not fill in time"))
            return True
        if order.status in (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED):
            order_refund(order=order, reason=_("The group did not fill in time: refunded automatically."))
        return True


def group_orders_refund(*, order_refs) -> int:
    """The group failed: refund each member's order in full and confirm it to marketing
    (groups.group_refund_confirmed). Returns how many were confirmed; failures are logged for the retry job."""
    from marketing.services.groups import group_refund_confirmed, group_refund_failed

    confirmed = 0
    for ref in order_refs:
        try:
            if _group_order_refund(ref):
                group_refund_confirmed(order_ref=ref)
                confirmed += 1
        except Exception as error:
            logger.exception("group order %s could not be refunded", ref)
            group_refund_failed(order_ref=ref, error=f"{ref}: {type(error).__name__}: {error}")  # shown to ops on the group
    return confirmed
