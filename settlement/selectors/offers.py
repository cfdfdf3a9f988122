"""Reads about campaign orders: whether a buyer is new, the new-user price a SKU has now."""

from django.db.models import Q
from django.utils import timezone

from settlement.models import Order

S = Order.Status
PAID_OR_LATER = (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED)


def first_order(*, contact: str) -> bool:
    """ "New user" (issue 16): no order under this contact (a consumer's phone) was ever paid on the platform."""
    from settlement.services.orders import contact_key

    if not contact:
        return False
    return not Order.objects.filter(contact_key=contact_key(contact), status__in=PAID_OR_LATER).exists()


def new_user_campaign(*, sku, storefront):
    """The live new-user price campaign for `sku` in `storefront` (a platform-wide one, or the storefront's
    own), the lowest price first; None when there is none."""
    from marketing.models import Campaign

    now = timezone.now()
    mine = Q(storefront__isnull=True, distributor__isnull=True)
    if storefront is not None:
        mine |= Q(storefront=storefront) | Q(storefront__isnull=True, distributor_id=storefront.distributor_id)
    return (
        Campaign.objects.filter(kind=Campaign.Kind.NEW_USER, status=Campaign.Status.ACTIVE, sku=sku, starts_at__lte=now, ends_at__gt=now)
        .filter(mine)
        .order_by("price", "pk")
        .first()
    )
