"""A signed-in consumer's orders (/me/ and the receipt): the storefront orders whose contact is their
verified mobile number (matched by the keyed contact hash, so +86 / spaces / dashes make no difference).
Only their own rows: every read here starts from the consumer."""

from django.db.models import QuerySet

from settlement.models import Order
from settlement.services.orders import contact_key


def consumer_orders(*, consumer) -> QuerySet[Order]:
    """The consumer's storefront orders, newest first."""
    return (
        Order.objects.filter(channel=Order.Channel.STOREFRONT, contact_key=contact_key(consumer.phone))
        .select_related("sku__product", "storefront")
        .order_by("-created_at", "-pk")
    )


def consumer_owns_order(*, consumer, number: str) -> bool:
    """True when order `number` is one of the consumer's (the receipt opens without the lookup password)."""
    return consumer is not None and consumer_orders(consumer=consumer).filter(number=number).exists()
