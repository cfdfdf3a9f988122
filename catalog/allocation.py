"""Allocation: which available codes of a SKU an order gets. `catalog` alone allocates codes.

`codes_claim` locks the codes in the caller's transaction and leaves their status alone: the caller moves
them through `code_status_change` (reserved for an order, or sold).
"""

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import CardCode, Sku
from voucherhub.core.errors import Conflict

S = CardCode.Status

# What a buyer is shown of a code (opened from the vault for the API response and the portal).
CODE_FIELDS = ("id", "sku_id", "batch_id", "ciphertext", "key_id", "blind_index", "hint", "serial", "expires_at", "status")


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = _("Not enough codes are left for this SKU.")


def codes_claim(*, sku: Sku, quantity: int, exclude_ids=()) -> list[CardCode]:
    """Lock `quantity` available, unexpired codes of `sku` in the caller's transaction, or raise OutOfStock.
    Their status is not changed. Returns the rows with CODE_FIELDS loaded."""
    now = timezone.now()
    # SKIP LOCKED: concurrent buyers take different rows instead of queueing on one.
    qs = CardCode.objects.select_for_update(skip_locked=True, of=("self",)).filter(sku=sku, status=S.AVAILABLE)
    qs = qs.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if exclude_ids:
        qs = qs.exclude(pk__in=list(exclude_ids))
    codes = list(qs.order_by("pk").only(*CODE_FIELDS)[:quantity])
    if len(codes) < quantity:
        raise OutOfStock(sku=sku.code, wanted=quantity, found=len(codes))
    return codes
