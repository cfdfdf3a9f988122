"""Reads about campaign orders: whether a buyer is new (settlement's own orders)."""

from settlement.models import Order

S = Order.Status
PAID_OR_LATER = (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED)


def first_order(*, contact: str) -> bool:
    """ "New user" (issue 16): no order under this contact (a consumer's phone) was ever paid on the platform."""
    from settlement.services.orders import contact_key

    if not contact:
        return False
    return not Order.objects.filter(contact_key=contact_key(contact), status__in=PAID_OR_LATER).exists()
