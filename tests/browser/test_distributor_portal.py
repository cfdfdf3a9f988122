from decimal import Decimal

import pytest

from channels import services
from channels.models import Distributor, Quota
from tests import factories
from tests.browser.conftest import PHONE, follow, login, portal_menu_follow
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_distributor_invites_passes_quota_and_opens_its_storefront_on_a_phone(new_page):
    # given a top distributor with a price list and quota
    general = factories.DistributorLevelFactory(name="总代", position=1)
    promoter = factories.DistributorLevelFactory(name="推广员", position=3, auto_approve_signups=True)
    user = factories.UserFactory(username="dist-browser", role=roles.DISTRIBUTOR)
    top = factories.DistributorFactory(name="华东优选总代理", level=general, user=user)
    sku = factories.SkuFactory(code="IQIYI-VIP-M1", name="爱奇艺黄金会员月卡", face_value=Decimal("25.00"))
    for level, price in ((general, "19.50"), (promoter, "22.50")):
        factories.PriceEntryFactory(
            level=level, sku=sku, purchase_price=Decimal(price), suggested_retail=Decimal("25.00"), price_floor=Decimal("23.00")
        )
    ops = factories.UserFactory(username="ops-b", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=top, sku=sku, quantity=100, actor=ops)

    # when the distributor logs in on a phone
    page = new_page(device=PHONE)
    login(page, "dist-browser", PASSWORD)
    assert page.url.endswith("/portal/")
    assert page.get_by_test_id("distributor-level").inner_text() == "总代"
    assert no_sideways_scroll(page)

    # it invites a sub-distributor
    portal_menu_follow(page, "邀请")
    page.get_by_label("新成员级别").select_option(label="推广员")
    follow(page, page.get_by_test_id("invitation-form").get_by_role("button"))
    link = page.get_by_test_id("invitation-link").first.input_value()
    assert "/join/" in link

    # the newcomer signs up through the link on its own phone (this level is approved automatically)
    newcomer = new_page(device=PHONE)
    newcomer.goto(link)
    form = newcomer.get_by_test_id("signup-form")
    form.get_by_label("店铺或公司名称").fill("西湖团长小林")
    form.get_by_label("联系人").fill("林小姐")
    form.get_by_label("手机号").fill("13800000000")
    form.get_by_label("地区").fill("浙江 / 杭州")
    form.get_by_label("用户名").fill("xihu-lin")
    form.get_by_label("密码", exact=True).fill("Qiantang-River-88")
    form.get_by_label("再次输入密码").fill("Qiantang-River-88")
    form.get_by_role("button").click()
    newcomer.wait_for_url("**/portal/")
    child = Distributor.objects.get(name="西湖团长小林")
    assert (child.parent_id, child.status) == (top.pk, Distributor.Status.ACTIVE)

    # it sees the newcomer in its team and passes it quota
    portal_menu_follow(page, "我的团队")
    assert page.get_by_test_id("downline-tree").get_by_text("西湖团长小林").is_visible()
    portal_menu_follow(page, "配额")
    transfer = page.get_by_test_id("quota-transfer-form")
    transfer.get_by_label("转给").select_option(label="西湖团长小林")
    transfer.get_by_label("SKU").select_option(value="IQIYI-VIP-M1")
    transfer.get_by_label("数量").fill("15")
    follow(page, transfer.get_by_role("button"))
    assert page.get_by_test_id("quota-IQIYI-VIP-M1").inner_text() == "85"
    assert Quota.objects.get(distributor=child, sku=sku).balance == 15

    # it opens its storefront, lists the SKU at its own price (the floor holds), and opens it
    portal_menu_follow(page, "店铺")
    shop = page.get_by_test_id("storefront-form")
    shop.get_by_label("店铺名称").fill("华东好券")
    shop.get_by_label("店铺地址").fill("huadong")
    follow(page, shop.get_by_role("button", name="保存店铺"))
    item = page.get_by_test_id("storefront-item-form")
    item.get_by_label("SKU").select_option(value="IQIYI-VIP-M1")
    item.get_by_label("零售价").fill("22.00")
    follow(page, item.get_by_role("button", name="保存商品"))
    assert page.get_by_text("最低零售价").first.is_visible()  # refused below the floor of 23.00
    item = page.get_by_test_id("storefront-item-form")
    item.get_by_label("零售价").fill("23.80")
    follow(page, item.get_by_role("button", name="保存商品"))
    assert page.get_by_test_id("storefront-items").get_by_text("爱奇艺黄金会员月卡").is_visible()

    with page.context.expect_page() as opened:
        page.get_by_test_id("open-storefront").click()
    storefront = opened.value
    storefront.wait_for_load_state()
    assert storefront.url.endswith("/s/huadong/")
    assert storefront.get_by_test_id("shop-title").inner_text() == "华东好券"
    follow(storefront, storefront.get_by_test_id("shop-item").first)
    assert storefront.get_by_test_id("product-price").inner_text() == "¥23.80"
    assert no_sideways_scroll(storefront)
