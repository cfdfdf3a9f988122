"""Settlement fixtures: a three-level distributor tree with prices, commission rules, stock and wallets."""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from catalog.services import codes_generate
from channels.models import CommissionRule, Distributor, DistributorLevel, PriceEntry, Storefront, StorefrontItem
from channels.services import distributor_create, staff_add
from settlement.services.wallets import wallet_credit_limit_set, wallet_for, wallet_topup_record
from tests import factories
from voucherhub.core import roles


@dataclass
class Tree:
    top: Distributor
    mid: Distributor
    seller: Distributor
    other: Distributor  # a neighbour outside the seller's chain
    sku: object
    seller_user: object
    other_user: object
    storefront: Storefront


def make_distributor(name, level, parent=None, *, user=None):
    distributor = distributor_create(name=name, level=level, parent=parent, email=f"{name}@example.test")
    if user is not None:
        staff_add(distributor=distributor, user=user, is_owner=True)
    return distributor


def fund(distributor, amount, *, actor, credit_limit=None):
    wallet = wallet_for(distributor)
    if credit_limit is not None:
        wallet_credit_limit_set(wallet=wallet, credit_limit=credit_limit, actor=actor)
    if Decimal(amount) > 0:
        wallet_topup_record(wallet=wallet, amount=amount, actor=actor, reference=f"BANK-{distributor.pk}-{amount}")
    return wallet


@pytest.fixture
def tree(db, finance_user):
    return tree_make()


@pytest.fixture
def funded_seller_client(client, tree, finance_user):
    """The tree's seller logged in to the portal in English, with ¥500.00 in its wallet."""
    fund(tree.seller, "500.00", actor=finance_user)
    client.force_login(tree.seller_user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def tree_make() -> Tree:
    """Levels, prices, commission rules, a four-distributor tree, a storefront, 30 codes and empty wallets."""
    level1 = DistributorLevel.objects.create(name="总代", position=1)
    level2 = DistributorLevel.objects.create(name="省代", position=2)
    level3 = DistributorLevel.objects.create(name="推广员", position=3)
    sku = factories.SkuFactory(face_value=Decimal("30.00"), cost_price=Decimal("20.00"))
    for level, purchase in ((level1, "24.00"), (level2, "25.00"), (level3, "26.00")):
        PriceEntry.objects.create(
            level=level, sku=sku, purchase_price=Decimal(purchase), suggested_retail=Decimal("29.90"), price_floor=Decimal("27.00")
        )
    CommissionRule.objects.create(depth=1, kind=CommissionRule.Kind.FIXED, amount=Decimal("1.00"))
    CommissionRule.objects.create(depth=2, kind=CommissionRule.Kind.PERCENT, percent=Decimal("2.0000"))
    seller_user = factories.UserFactory(username="seller", role=roles.DISTRIBUTOR)
    other_user = factories.UserFactory(username="neighbour", role=roles.DISTRIBUTOR)
    top = make_distributor("top", level1)
    mid = make_distributor("mid", level2, top)
    seller = make_distributor("seller", level3, mid, user=seller_user)
    other = make_distributor("other", level3, top, user=other_user)
    storefront = Storefront.objects.create(distributor=seller, slug="seller-shop", title="小店")
    StorefrontItem.objects.create(storefront=storefront, sku=sku, retail_price=Decimal("29.90"))
    codes_generate(sku=sku, count=30)
    for d in (top, mid, seller, other):
        wallet_for(d)
    return Tree(
        top=top, mid=mid, seller=seller, other=other, sku=sku, seller_user=seller_user, other_user=other_user, storefront=storefront
    )
