"""What the portal's order form shows before an order is placed: the SKUs a distributor may buy with their
price and how many it can have now, and the quote of one order (unit price, total, wallet after)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import CardCode, Sku
from channels.models import Quota
from settlement.selectors import wallets as wallet_selectors
from voucherhub.core.money import money

TOPUP_AVAILABLE = 1  # a top-up SKU holds no stock: one top-up per order


@dataclass(frozen=True)
class BuyOption:
    sku: Sku
    unit_price: Decimal  # for one unit; a quantity tier may lower it (the quote says)
    available: int  # codes it can have now: the pool's unexpired codes, capped by its quota when it has one

    @property
    def sold_out(self) -> bool:
        return self.available <= 0

    @property
    def is_topup(self) -> bool:
        """A direct top-up: no stock, one top-up per order (supply's suppliers fulfil it)."""
        return self.sku.fulfilment == Sku.Fulfilment.TOPUP


@dataclass(frozen=True)
class BuyQuote:
    sku: Sku
    quantity: int
    unit_price: Decimal
    total: Decimal
    balance: Decimal
    credit_limit: Decimal
    available: int

    @property
    def balance_after(self) -> Decimal:
        return money(self.balance - self.total)

    @property
    def affordable(self) -> bool:
        return self.balance_after >= -self.credit_limit

    @property
    def in_stock(self) -> bool:
        return self.quantity <= self.available


def _available(distributor, skus: list[Sku]) -> dict[int, int]:
    now = timezone.now()
    pool = dict(
        CardCode.objects.filter(sku__in=skus, status=CardCode.Status.AVAILABLE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values("sku")
        .annotate(n=Count("id"))
        .values_list("sku", "n")
    )
    quotas = dict(Quota.objects.filter(distributor=distributor, sku__in=skus).values_list("sku", "balance"))
    out = {sku.pk: min(pool.get(sku.pk, 0), quotas[sku.pk]) if sku.pk in quotas else pool.get(sku.pk, 0) for sku in skus}
    out.update({sku.pk: TOPUP_AVAILABLE for sku in skus if sku.fulfilment == Sku.Fulfilment.TOPUP})  # never stocked
    return out


def buy_options(distributor) -> list[BuyOption]:
    """The SKUs `distributor` may buy (visible to it and priced), each with its unit price and stock."""
    from channels.errors import NoPrice, SkuNotAvailable
    from channels.pricing import price_quote

    priced = []
    for sku in Sku.objects.active().select_related("product").order_by("product__name", "code"):
        try:
            priced.append((sku, price_quote(distributor=distributor, sku=sku, quantity=1).purchase_price))
        except (NoPrice, SkuNotAvailable):
            continue
    available = _available(distributor, [sku for sku, _price in priced])
    return [BuyOption(sku=sku, unit_price=money(price), available=available[sku.pk]) for sku, price in priced]


def buy_quote(*, distributor, wallet, sku: Sku, quantity: int) -> BuyQuote:
    """The order `distributor` would place: the price order_place charges, and its wallet after paying."""
    from channels.pricing import price_quote

    unit_price = money(price_quote(distributor=distributor, sku=sku, quantity=quantity).purchase_price)
    summary = wallet_selectors.wallet_summary(wallet)
    return BuyQuote(
        sku=sku,
        quantity=quantity,
        unit_price=unit_price,
        total=money(unit_price * quantity),
        balance=summary.balance,
        credit_limit=summary.credit_limit,
        available=_available(distributor, [sku])[sku.pk],
    )
