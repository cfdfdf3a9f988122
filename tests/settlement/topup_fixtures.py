"""Fixtures of the top-up order tests: a TOPUP SKU (face value ¥50) with a phone top-up profile, priced for the
tree's levels and listed in the tree's storefront."""

from dataclasses import dataclass
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Sku
from channels.models import DistributorLevel, PriceEntry, StorefrontItem
from settlement.models import Account, Entry, Order, Transfer
from settlement.selectors.wallets import wallet_summary
from settlement.services.ledger import platform_account
from settlement.services.wallets import wallet_for
from supply.models import Topup, TopupProfile
from supply.signals import topup_finished
from tests import factories
from tests.settlement.conftest import fund

FACE = Decimal("50.00")
SELLER_PRICE = Decimal("49.00")  # the tree's seller (level 3) buys at this
RETAIL = Decimal("49.90")  # the storefront sells at this


@dataclass
class TopupWorld:
    sku: Sku
    profile: TopupProfile


@pytest.fixture(name="topup_world")
def topup_world_fixture(tree, finance_user) -> TopupWorld:
    return topup_world_make(tree, finance_user)


def topup_world_make(tree, finance_user) -> TopupWorld:
    """The top-up SKU for `tree` (tests/settlement/conftest.py), and ¥500.00 in the seller's wallet."""
    sku = factories.SkuFactory(code="CM-50", name="中国移动话费 50 元", face_value=FACE, cost_price=Decimal("48.00"))
    sku.fulfilment = Sku.Fulfilment.TOPUP
    sku.save(update_fields=["fulfilment"])
    profile = TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.PHONE)
    for level, purchase in zip(DistributorLevel.objects.order_by("position"), ("48.50", "48.80", "49.00"), strict=True):
        PriceEntry.objects.create(
            level=level, sku=sku, purchase_price=Decimal(purchase), suggested_retail=Decimal("49.90"), price_floor=Decimal("49.00")
        )
    StorefrontItem.objects.create(storefront=tree.storefront, sku=sku, retail_price=RETAIL)
    fund(tree.seller, "500.00", actor=finance_user)
    return TopupWorld(sku=sku, profile=profile)


def finish(order: Order, status: str, *, delivered=None, cost: str | None = "47.50") -> None:
    """Supply's final word on the order's top-up, as supply sends it (its topup_finished signal)."""
    topup_finished.send(
        sender=Topup,
        reference=order.number,
        status=status,
        delivered_value=Decimal(delivered) if delivered is not None else None,
        face_value=FACE,
        cost=Decimal(cost) if cost is not None else None,
        upstream_id=None,
    )


def ledger_ok() -> str:
    """The ledger_check command's report (it raises CommandError when the ledger does not hold)."""
    out = StringIO()
    call_command("ledger_check", stdout=out)
    assert "ledger check OK" in out.getvalue()
    return out.getvalue()


def held_balance() -> Decimal:
    return platform_account(Account.Kind.TOPUPS_HELD).balance


def balance(kind: str) -> Decimal:
    return platform_account(kind).balance


def wallet_balance(distributor) -> Decimal:
    return wallet_summary(wallet_for(distributor)).balance


def ledger_size() -> tuple[int, int]:
    return Transfer.objects.count(), Entry.objects.count()
