"""A storefront's deals page: every campaign a shopper can take part in there now, each linking to its page;
nothing of another shop, nothing ended, nothing for a SKU the shop does not list."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketing.models import Campaign
from tests import factories
from tests.marketing.factories import CampaignFactory, coupon_campaign, new_user_campaign
from tests.marketing.flash_fixtures import flash_campaign, shop

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def deals():
    storefront, sku = shop("deals-shop", codes=2)
    theirs, their_sku = shop("their-shop", codes=2)
    made = {
        "flash": flash_campaign(storefront=storefront, sku=sku, name="限时秒杀 A"),
        "group": CampaignFactory(
            name="三人团 B",
            kind=Campaign.Kind.GROUP_BUY,
            sku=sku,
            price=Decimal("19.90"),
            group_size=3,
            group_hours=24,
            storefront=storefront,
            distributor=storefront.distributor,
        ),
        "bundle": CampaignFactory(name="权益礼包 C", kind=Campaign.Kind.BUNDLE, price=Decimal("39.90")),
        "new_user": new_user_campaign(sku=sku, name="新人价 D"),
        "coupon": coupon_campaign(name="满减券 E"),
        "theirs": flash_campaign(storefront=theirs, sku=their_sku, name="邻店秒杀"),
        "unlisted": new_user_campaign(sku=factories.SkuFactory(), name="别家新人价"),
        "ended": coupon_campaign(
            name="已结束的券", starts_at=timezone.now() - timedelta(days=9), ends_at=timezone.now() - timedelta(days=1)
        ),
        "paused": coupon_campaign(name="暂停的券", status=Campaign.Status.PAUSED),
    }
    return storefront, made


def test_the_page_lists_each_running_campaign_with_its_link(client, deals):
    storefront, made = deals
    page = client.get(f"/deals/s/{storefront.slug}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for key in ("flash", "group", "bundle", "new_user", "coupon"):
        assert made[key].name in page
    assert f"/flash/{made['flash'].pk}/?s={storefront.slug}" in page
    assert f"/g/c/{made['group'].pk}/" in page
    assert f"/s/{storefront.slug}/bundle/{made['bundle'].pk}/" in page
    assert f"/c/{made['coupon'].pk}/" in page
    for key in ("theirs", "unlisted", "ended", "paused"):
        assert made[key].name not in page
    assert "本店活动" in page and "Deals in this shop" not in page


def test_every_shop_page_links_to_its_deals_and_an_empty_shop_says_so(client):
    storefront, _ = shop("quiet-shop")
    home = client.get(f"/s/{storefront.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'href="/deals/s/{storefront.slug}/"' in home
    page = client.get(f"/deals/s/{storefront.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No deal is running in this shop now." in page
    assert client.get("/deals/s/no-such-shop/").status_code == 404
