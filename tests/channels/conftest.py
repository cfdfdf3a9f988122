"""A small distributor tree for the channels tests:

    top (总代) ─┬─ mid (省代) ── leaf (推广员)
                └─ sibling (省代)
    neighbour (总代, another tree) ── neighbour_child

Each of top, mid and neighbour has a user (password factories.PASSWORD).
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from channels.models import Distributor, DistributorLevel, ProductPool
from tests import factories
from voucherhub.core import roles


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Real hashing is tested elsewhere; here it would only make every tree fixture slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Tree:
    general: DistributorLevel
    province: DistributorLevel
    promoter: DistributorLevel
    top: Distributor
    mid: Distributor
    leaf: Distributor
    sibling: Distributor
    neighbour: Distributor
    neighbour_child: Distributor
    top_user: object
    mid_user: object
    neighbour_user: object


@pytest.fixture
def tree(db):
    general = factories.DistributorLevelFactory(name="总代", position=1)
    province = factories.DistributorLevelFactory(name="省代", position=2)
    promoter = factories.DistributorLevelFactory(name="推广员", position=3)
    users = {name: factories.UserFactory(username=f"{name}-user", role=roles.DISTRIBUTOR) for name in ("top", "mid", "neighbour")}
    top = factories.DistributorFactory(name="华东总代", level=general, user=users["top"])
    mid = factories.DistributorFactory(name="浙江省代", level=province, parent=top, user=users["mid"])
    leaf = factories.DistributorFactory(name="杭州推广员", level=promoter, parent=mid)
    sibling = factories.DistributorFactory(name="江苏省代", level=province, parent=top)
    neighbour = factories.DistributorFactory(name="华南总代", level=general, user=users["neighbour"])
    neighbour_child = factories.DistributorFactory(name="广东省代", level=province, parent=neighbour)
    return Tree(
        general, province, promoter, top, mid, leaf, sibling, neighbour, neighbour_child, users["top"], users["mid"], users["neighbour"]
    )


@pytest.fixture
def sku(db):
    return factories.SkuFactory(code="IQIYI-VIP-M1", name="爱奇艺黄金会员月卡", face_value=Decimal("25.00"), cost_price=Decimal("17.50"))


@pytest.fixture
def priced(tree, sku):
    """Level prices for `sku`: 总代 19.50, 省代 21.00, 推广员 22.50; floor 23.00; retail 25.00."""
    for level, price in ((tree.general, "19.50"), (tree.province, "21.00"), (tree.promoter, "22.50")):
        factories.PriceEntryFactory(
            level=level, sku=sku, purchase_price=Decimal(price), suggested_retail=Decimal("25.00"), price_floor=Decimal("23.00")
        )
    return sku


@pytest.fixture
def neighbours_exclusive(tree):
    """A SKU priced for 总代 and 省代 alike, but in an exclusive pool of the neighbour's alone."""
    exclusive = factories.SkuFactory(code="EXCL-NEIGHBOUR", name="华南独家券")
    for level in (tree.general, tree.province):
        factories.PriceEntryFactory(
            level=level, sku=exclusive, purchase_price=Decimal("19.50"), suggested_retail=Decimal("25.00"), price_floor=Decimal("23.00")
        )
    pool = ProductPool.objects.create(name="华南独家")
    pool.skus.add(exclusive)
    pool.distributors.add(tree.neighbour)
    return exclusive
