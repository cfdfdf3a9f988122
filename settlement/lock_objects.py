"""Settlement's row locks, and the order every order transaction takes its locks in (one place, as Saleor
keeps its lock_objects.py). Two transactions that take locks in the same order never wait on each other
crosswise.

Placing an order (settlement.services.orders.order_place):
 1. the API's idempotency record (voucherhub.core.idempotency): a twin with the same key waits there;
 2. the buyer's distributor row, shared (channels.lock_objects.distributor_hold, taken by
    order_check_request): its status, level and place in the tree hold until the order commits;
 3. the distributor's quota row for the SKU, when it sells from a quota (channels.services.quota_draw);
 4. the codes: claimed with SKIP LOCKED (catalog.allocation.codes_claim, never waits), moved by catalog's
    code_status_change in primary-key order;
 5. the new order row, inserted once in its final status (the unique index on its idempotency key: a twin
    that got past 1 waits there, then fails and rolls back what it wrote);
 6. last, the ledger accounts in primary-key order (settlement.services.ledger.transfers_post), so the hot
    ones (the platform's revenue, a busy wallet) are held only for the transaction's last statements.

Changing an order (pay, deliver, refund, replace a code, expire, review): the order row first
(`order_lock`), then its items (`order_item_lock`), its codes, quota and accounts in the order above.
"""

from django.db.models import QuerySet

from settlement.models import Order, OrderItem


def order_lock(order: Order) -> Order:
    """The order re-read and locked (with its SKU and distributor) for a change."""
    return Order.objects.select_for_update().select_related("sku", "distributor").get(pk=order.pk)


def orders_lock(**filters) -> QuerySet:
    """Orders matching `filters`, locked as they are read (`.first()`, or in primary-key order)."""
    return Order.objects.select_for_update().filter(**filters).order_by("pk")


def orders_lock_free(**filters) -> QuerySet:
    """Orders matching `filters` that no other transaction holds (SKIP LOCKED): for sweeps run in parallel."""
    return Order.objects.select_for_update(skip_locked=True).filter(**filters).order_by("pk")


def order_item_lock(item: OrderItem) -> OrderItem:
    """An order's item re-read and locked, with its code, after its order (order_lock)."""
    return OrderItem.objects.select_for_update().select_related("code").get(pk=item.pk)
