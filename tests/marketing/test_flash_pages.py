"""The consumers' flash-sale pages: a storefront's list and a sale's page, each only in its own storefront."""

import pytest
from django.utils import timezone

from marketing.models import Campaign, FlashReservation, FlashSlot
from tests.marketing.flash_fixtures import FLASH_PRICE, LIST_PRICE, consumers, flash_campaign, shop

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the site's default is zh-hans; test_chinese_page asks for it


@pytest.fixture
def two_shops():
    mine, sku = shop("mine", codes=3)
    theirs, their_sku = shop("theirs", codes=3)
    return (
        mine,
        flash_campaign(storefront=mine, sku=sku, stock=3, limit=2, name="我的秒杀"),
        theirs,
        flash_campaign(storefront=theirs, sku=their_sku, stock=3, name="邻居秒杀"),
    )


def sign_in(client, consumer):
    session = client.session
    session["vh_consumer"] = consumer.pk
    session.save()


def test_the_list_shows_only_this_storefronts_sales(client, two_shops):
    mine, campaign, theirs, their_campaign = two_shops
    flash_campaign(storefront=mine, sku=campaign.sku, live=False, name="下一场")
    response = client.get(f"/flash/s/{mine.slug}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "我的秒杀" in page and "下一场" in page and "邻居秒杀" not in page
    assert page.index("我的秒杀") < page.index("下一场")  # running first
    assert "marketing/flash.js" in page and "<script>" not in page  # no inline script (CSP)
    assert client.get("/flash/s/nobody/").status_code == 404


def test_the_page_shows_price_list_price_places_and_the_buy_form(client, two_shops):
    mine, campaign, theirs, their_campaign = two_shops
    (me,) = consumers(1)
    sign_in(client, me)
    response = client.get(f"/flash/{campaign.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "9.90" in page and "29.90" in page and str(FLASH_PRICE) != str(LIST_PRICE)
    assert "3 places left" in page
    assert f'action="/s/{mine.slug}/flash/{campaign.pk}/buy/"' in page
    assert "csrfmiddlewaretoken" in page and 'max="2"' in page
    assert timezone.localtime(campaign.slots.get().ends_at).isoformat() not in page.split("data-countdown")[0]


def test_a_neighbours_sale_is_not_on_my_storefront(client, two_shops):
    mine, campaign, theirs, their_campaign = two_shops
    assert client.get(f"/flash/{their_campaign.pk}/?s={mine.slug}").status_code == 404
    assert client.get(f"/flash/s/{mine.slug}/{their_campaign.pk}/", follow=True).status_code == 404
    assert client.get(f"/flash/{their_campaign.pk}/").status_code == 200  # on its own storefront


def test_signed_out_sees_the_sign_in_link(client, two_shops):
    mine, campaign, *_ = two_shops
    page = client.get(f"/flash/{campaign.pk}/").content.decode()
    assert "/me/login/?next=" in page and "data-flash-buy" not in page


def test_a_session_whose_consumer_is_gone_sees_the_sign_in_link_not_a_buy_button(client, two_shops):
    # the page asks marketing.consumer_session who is signed in, so a stale session key is nobody (the buy
    # endpoint would answer 401 to it anyway)
    mine, campaign, *_ = two_shops
    (gone,) = consumers(1)
    sign_in(client, gone)
    gone.delete()
    page = client.get(f"/flash/{campaign.pk}/").content.decode()
    assert "/me/login/?next=" in page and "data-flash-buy" not in page


def test_sold_out_and_limit_reached_disable_the_button(client, two_shops):
    mine, campaign, *_ = two_shops
    me, other = consumers(2)
    slot = FlashSlot.objects.get(campaign=campaign)
    FlashReservation.objects.create(slot=slot, consumer=me, order_ref="R1", quantity=2, expires_at=timezone.now())
    FlashSlot.objects.filter(pk=slot.pk).update(taken=2)
    sign_in(client, me)
    page = client.get(f"/flash/{campaign.pk}/").content.decode()
    assert "You have reached the limit" in page and "You hold 2 already." in page
    FlashSlot.objects.filter(pk=slot.pk).update(taken=3)
    from marketing.gate import gate_reset

    gate_reset(campaign=campaign)
    sign_in(client, other)
    page = client.get(f"/flash/{campaign.pk}/").content.decode()
    assert "Sold out" in page and "data-flash-buy" not in page


def test_a_platform_sale_shows_on_every_storefront_listing_its_sku(client, two_shops):
    mine, campaign, theirs, _ = two_shops
    campaign.storefront, campaign.distributor = None, None
    campaign.save()
    assert client.get(f"/flash/s/{mine.slug}/").content.decode().count("我的秒杀") == 1
    assert "我的秒杀" not in client.get(f"/flash/s/{theirs.slug}/").content.decode()  # their shop does not list the SKU
    assert client.get(f"/flash/{campaign.pk}/").status_code == 404  # which shop? needs ?s=
    assert client.get(f"/flash/{campaign.pk}/?s={mine.slug}").status_code == 200


def test_a_paused_sale_is_not_shown(client, two_shops):
    mine, campaign, *_ = two_shops
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    assert "我的秒杀" not in client.get(f"/flash/s/{mine.slug}/").content.decode()
    assert client.get(f"/flash/{campaign.pk}/").status_code == 404


def test_chinese_page(client, two_shops):
    mine, campaign, *_ = two_shops
    (me,) = consumers(1)
    sign_in(client, me)
    page = client.get(f"/flash/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "限时秒杀" in page and "剩余 3 个名额" in page and "立即抢购" in page and "每人限购 2 件" in page
    for english in ("places left", "Buy now", "Limit", "Pay within", "Flash sale", "Ends", "Starts"):
        assert english not in page, english
    listing = client.get(f"/flash/s/{mine.slug}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "抢购中" in listing and "On now" not in listing
    # the countdown's day unit is translated too (flash.js writes "2天 03:04:05", never an English "d")
    assert 'data-label-days="天"' in page and 'data-label-days="天"' in listing
