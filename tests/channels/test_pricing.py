from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings

from channels import pricing, selectors, services
from channels.commission import check_commission_depth
from channels.errors import DistributorNotActive, InvalidQuantity, NoPrice, PriceBelowFloor, SkuNotAvailable
from channels.models import CommissionRule, Distributor, PriceViolation, ProductPool
from tests import factories

D = Decimal


def quote(distributor, sku, quantity=1):
    return services.price_quote(distributor=distributor, sku=sku, quantity=quantity)


# --- the matrix: levels × overrides × tiers ------------------------------------------------------


@pytest.mark.parametrize(
    "who, quantity, purchase, retail, floor, purchase_kind",
    [
        ("top", 1, "19.50", "25.00", "23.00", pricing.LEVEL_LIST),
        ("mid", 1, "21.00", "25.00", "23.00", pricing.LEVEL_LIST),
        ("leaf", 1, "22.50", "25.00", "23.00", pricing.LEVEL_LIST),
        # tiers: 总代 has a tier from 100 units
        ("top", 99, "19.50", "25.00", "23.00", pricing.LEVEL_LIST),
        ("top", 100, "19.00", "25.00", "23.00", pricing.LEVEL_LIST),
        ("top", 5000, "18.50", "25.00", "23.00", pricing.LEVEL_LIST),
        # override for mid: 20.00 from 1 unit (floor and retail left to the level), 19.80 from 50
        ("mid", 1, "20.00", "25.00", "23.00", pricing.OVERRIDE),
        ("mid", 49, "20.00", "25.00", "23.00", pricing.OVERRIDE),
        ("mid", 50, "19.80", "25.00", "23.00", pricing.OVERRIDE),
        # sibling (same level as mid, no override) keeps the level price
        ("sibling", 50, "21.00", "25.00", "23.00", pricing.LEVEL_LIST),
    ],
)
def test_price_matrix(tree, priced, who, quantity, purchase, retail, floor, purchase_kind):
    tier = {"suggested_retail": D("25.00"), "price_floor": D("23.00")}
    factories.PriceEntryFactory(level=tree.general, sku=priced, min_quantity=100, purchase_price=D("19.00"), **tier)
    factories.PriceEntryFactory(level=tree.general, sku=priced, min_quantity=1000, purchase_price=D("18.50"), **tier)
    if who == "mid" and purchase_kind == pricing.OVERRIDE:
        factories.PriceEntryFactory(distributor=tree.mid, sku=priced, purchase_price=D("20.00"), suggested_retail=None, price_floor=None)
        factories.PriceEntryFactory(
            distributor=tree.mid, sku=priced, min_quantity=50, purchase_price=D("19.80"), suggested_retail=None, price_floor=None
        )
    result = quote(getattr(tree, who), priced, quantity)
    assert (result.purchase_price, result.suggested_retail, result.price_floor) == (D(purchase), D(retail), D(floor))
    assert result.sources["purchase_price"].kind == purchase_kind
    assert result.sources["price_floor"].kind == pricing.LEVEL_LIST
    assert result.total == D(purchase) * quantity


def test_override_can_set_its_own_floor_and_retail_and_each_source_is_named(tree, priced):
    factories.PriceEntryFactory(
        distributor=tree.leaf, sku=priced, purchase_price=D("22.00"), suggested_retail=D("26.00"), price_floor=D("24.00")
    )
    result = quote(tree.leaf, priced)
    assert (result.purchase_price, result.suggested_retail, result.price_floor) == (D("22.00"), D("26.00"), D("24.00"))
    assert {s.kind for s in result.sources.values()} == {pricing.OVERRIDE}
    assert "1" in result.sources["purchase_price"].label


def test_fallbacks_face_value_and_purchase_price(tree, sku):
    factories.PriceEntryFactory(distributor=tree.top, sku=sku, purchase_price=D("20.00"), suggested_retail=None, price_floor=None)
    result = quote(tree.top, sku)
    assert result.suggested_retail == sku.face_value
    assert result.sources["suggested_retail"].kind == pricing.FACE_VALUE
    assert result.price_floor == D("20.00")
    assert result.sources["price_floor"].kind == pricing.PURCHASE_PRICE


def test_no_price_for_a_level_without_a_list(tree, sku):
    factories.PriceEntryFactory(level=tree.general, sku=sku)
    with pytest.raises(NoPrice):
        quote(tree.mid, sku)
    assert [row.sku for row in selectors.catalog_for(tree.mid)] == []
    assert [row.sku for row in selectors.catalog_for(tree.top)] == [sku]


def test_exclusive_pool_hides_a_sku_except_from_its_levels_and_distributors(tree, priced):
    pool = ProductPool.objects.create(name="企业福利专供")
    pool.skus.add(priced)
    pool.levels.add(tree.general)
    pool.distributors.add(tree.leaf)
    assert quote(tree.top, priced).purchase_price == D("19.50")  # by level
    assert quote(tree.neighbour, priced).purchase_price == D("19.50")  # same level, other tree
    assert quote(tree.leaf, priced).purchase_price == D("22.50")  # by name
    for outsider in (tree.mid, tree.sibling):
        with pytest.raises(SkuNotAvailable):
            quote(outsider, priced)
        assert selectors.catalog_for(outsider) == []
    pool.active = False
    pool.save()
    assert quote(tree.mid, priced).purchase_price == D("21.00")


def test_inactive_sku_inactive_distributor_and_bad_quantity(tree, priced):
    with pytest.raises(InvalidQuantity):
        quote(tree.top, priced, 0)
    with pytest.raises(InvalidQuantity):
        quote(tree.top, priced, "3")
    Distributor.objects.filter(pk=tree.mid.pk).update(status=Distributor.Status.SUSPENDED)
    tree.mid.refresh_from_db()
    with pytest.raises(DistributorNotActive):
        quote(tree.mid, priced)
    priced.active = False
    priced.save()
    with pytest.raises(SkuNotAvailable):
        quote(tree.top, priced)


def test_catalog_lists_tiers_that_change_the_price(tree, priced):
    factories.PriceEntryFactory(level=tree.general, sku=priced, min_quantity=100, purchase_price=D("19.00"))
    (row,) = selectors.catalog_for(tree.top)
    assert [(t.quantity, t.purchase_price) for t in row.tiers] == [(1, D("19.50")), (100, D("19.00"))]


# --- the floor -----------------------------------------------------------------------------------


def test_retail_price_below_the_floor_is_refused_and_reported(tree, priced):
    with pytest.raises(PriceBelowFloor) as info:
        services.retail_price_check(distributor=tree.mid, sku=priced, price=D("22.99"))
    assert info.value.field == "retail_price"
    assert "23.00" in str(info.value.message)
    violation = PriceViolation.objects.get()
    assert (violation.distributor, violation.attempted_price, violation.price_floor) == (tree.mid, D("22.99"), D("23.00"))
    # at or above the floor is fine, and nothing more is reported
    assert services.retail_price_check(distributor=tree.mid, sku=priced, price=D("23.00")).price_floor == D("23.00")
    assert PriceViolation.objects.count() == 1
    (row,) = selectors.violations_report(days=1)
    assert (row["distributor__name"], row["attempts"], row["lowest"]) == ("浙江省代", 1, D("22.99"))


# --- commission ----------------------------------------------------------------------------------


def rule(depth, *, percent=None, amount=None, **scope):
    kind = CommissionRule.Kind.PERCENT if percent is not None else CommissionRule.Kind.FIXED
    return CommissionRule.objects.create(
        depth=depth, kind=kind, percent=D(percent) if percent else None, amount=D(amount) if amount else None, **scope
    )


def test_commission_plan_goes_up_the_chain_with_the_most_specific_rule(tree, sku):
    rule(1, percent="5")
    rule(2, percent="2")
    rule(1, amount="0.80", product=sku.product)  # product beats default at depth 1
    rule(2, amount="0.30", sku=sku)  # SKU beats default at depth 2
    plan = services.commission_plan(seller=tree.leaf, sku=sku, sale_amount=D("50.00"), quantity=2)
    assert [(line.beneficiary, line.depth, line.amount) for line in plan] == [(tree.mid, 1, D("1.60")), (tree.top, 2, D("0.60"))]
    other_sku = factories.SkuFactory()
    plan = services.commission_plan(seller=tree.leaf, sku=other_sku, sale_amount=D("50.00"), quantity=2)
    assert [(line.depth, line.amount) for line in plan] == [(1, D("2.50")), (2, D("1.00"))]


def test_commission_never_goes_deeper_than_three_levels(tree, sku):
    # a chain of six below top
    chain = [tree.leaf]
    for n in range(4):
        chain.append(factories.DistributorFactory(name=f"下级 {n}", level=tree.promoter, parent=chain[-1]))
    for depth in (1, 2, 3):
        rule(depth, amount="1.00")
    plan = services.commission_plan(seller=chain[-1], sku=sku, sale_amount=D("100.00"))
    assert [line.depth for line in plan] == [1, 2, 3]
    assert [line.beneficiary for line in plan] == [chain[-2], chain[-3], chain[-4]]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses a depth-4 rule outright
        rule(4, amount="1.00")


@override_settings(CHANNELS_COMMISSION_MAX_DEPTH=1)
def test_commission_depth_can_be_lowered(tree, sku):
    rule(1, amount="1.00")
    rule(2, amount="1.00")
    assert [line.depth for line in services.commission_plan(seller=tree.leaf, sku=sku, sale_amount=D("10"))] == [1]


@override_settings(CHANNELS_COMMISSION_MAX_DEPTH=5)
def test_commission_depth_cannot_be_raised():
    from channels.commission import commission_max_depth

    assert commission_max_depth() == 3
    assert [e.id for e in check_commission_depth()] == ["channels.E001"]


def test_an_inactive_upline_earns_nothing_and_nothing_is_passed_up(tree, sku):
    rule(1, amount="1.00")
    rule(2, amount="1.00")
    services.distributor_suspend(distributor=tree.mid, actor=None)
    plan = services.commission_plan(seller=tree.leaf, sku=sku, sale_amount=D("10"))
    assert [(line.beneficiary, line.depth) for line in plan] == [(tree.top, 2)]


def test_upline_chain(tree):
    assert services.upline_chain(tree.leaf, 5) == [tree.mid, tree.top]
    assert services.upline_chain(tree.leaf, 1) == [tree.mid]
    assert services.upline_chain(tree.top, 3) == []
