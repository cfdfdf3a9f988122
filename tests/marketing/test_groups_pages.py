"""The group-buy pages a consumer sees: a campaign's page and a group's share page."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.models import Campaign, CampaignUse, GroupBuy
from marketing.services.groups import group_paid, group_take
from tests.marketing.groups_support import consumer_make, group_campaign_make
from tests.settlement.conftest import tree_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    return tree_make()


@pytest.fixture
def en(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def sign_in(client, consumer):
    session = client.session
    session["vh_consumer"] = consumer.pk
    session.save()


def _open(campaign, consumer=None, ref="P-LEAD"):
    return group_take(campaign=campaign, consumer=consumer or consumer_make(), group_token="", order_ref=ref)


def _query(url):
    parts = urlsplit(url)
    return parts.path, {key: values[0] for key, values in parse_qs(parts.query).items()}


def test_the_campaign_page_opens_a_group_at_the_checkout_and_lists_groups_to_join(en, tree):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront, size=3)
    member = _open(campaign)
    full = _open(campaign, ref="P-FULL-1")
    for n in (2, 3):
        group_take(campaign=campaign, consumer=consumer_make(), group_token=full.group.token, order_ref=f"P-FULL-{n}")
    response = en.get(reverse("marketing:group-campaign", args=(campaign.pk,)))
    assert response.status_code == 200
    page = response.content.decode()
    assert "¥19.90" in page and "¥29.90" in page and "Group of 3" in page
    path, query = _query(response.context["open_url"])
    assert path == reverse("settlement:checkout", args=(tree.storefront.slug, tree.sku.code)) and query == {"campaign": str(campaign.pk)}
    rows = response.context["open_groups"]
    assert [view.token for view, _ in rows] == [member.group.token]  # the full group is not offered
    assert rows[0][1] == reverse("marketing:group", args=(member.group.token,))
    assert "2 seats left" in page and member.consumer.phone not in page and member.consumer.phone_masked in page


def test_a_platform_wide_campaign_is_bought_at_the_shop_the_link_names(en, tree):
    campaign = group_campaign_make(sku=tree.sku)
    url = reverse("marketing:group-campaign", args=(campaign.pk,))
    page = en.get(url)
    assert page.context["open_url"] == "" and "from a shop" in page.content.decode()
    assert en.get(url, {"s": "no-such-shop"}).context["open_url"] == ""
    other_sku = group_campaign_make()  # a SKU the shop does not sell
    assert en.get(reverse("marketing:group-campaign", args=(other_sku.pk,)), {"s": tree.storefront.slug}).context["open_url"] == ""
    at_shop = en.get(url, {"s": tree.storefront.slug})
    path, query = _query(at_shop.context["open_url"])
    assert path.startswith(f"/s/{tree.storefront.slug}/") and query == {"campaign": str(campaign.pk)}
    member = _open(campaign)
    [(_view, group_url)] = at_shop.context["open_groups"] or en.get(url, {"s": tree.storefront.slug}).context["open_groups"]
    assert group_url == reverse("marketing:group", args=(member.group.token,)) + f"?s={tree.storefront.slug}"


def test_a_campaign_that_is_no_group_buy_or_a_draft_has_no_page(en, tree):
    flash = group_campaign_make(kind=Campaign.Kind.FLASH_SALE)
    draft = group_campaign_make(status=Campaign.Status.DRAFT)
    for campaign in (flash, draft):
        assert en.get(reverse("marketing:group-campaign", args=(campaign.pk,))).status_code == 404
    assert en.get(reverse("marketing:group-campaign", args=(999_999,))).status_code == 404


def test_a_campaign_not_running_says_so_and_offers_nothing(en, tree):
    later = group_campaign_make(sku=tree.sku, storefront=tree.storefront, starts_at=timezone.now() + timedelta(days=1))
    page = en.get(reverse("marketing:group-campaign", args=(later.pk,)))
    assert page.status_code == 200 and "The campaign starts at" in page.content.decode()
    assert b'data-testid="group-open"' not in page.content
    paused = group_campaign_make(sku=tree.sku, storefront=tree.storefront, status=Campaign.Status.PAUSED)
    page = en.get(reverse("marketing:group-campaign", args=(paused.pk,)))
    assert "not running now" in page.content.decode() and b'data-testid="group-open"' not in page.content


def test_the_share_page_shows_masked_members_seats_time_link_and_qr_code(en, tree):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront, size=3)
    leader = _open(campaign)
    group_paid(order_ref=leader.order_ref)
    friend = group_take(campaign=campaign, consumer=consumer_make(), group_token=leader.group.token, order_ref="P-FRIEND")
    token = leader.group.token
    response = en.get(reverse("marketing:group", args=(token,)))
    assert response.status_code == 200
    page = response.content.decode()
    for member in (leader, friend):
        assert member.consumer.phone not in page and member.consumer.phone_masked in page
    assert page.count('data-testid="group-member"') == 2 and page.count('data-testid="group-free-seat"') == 1
    assert "1 more to go" in page and "Leader" in page and "Paid" in page and "Waiting for payment" in page
    assert "data-group-countdown" in page and "<svg" in page
    assert response.context["share_url"] == f"http://testserver/g/{token}/"
    path, query = _query(response.context["join_url"])
    assert path == reverse("settlement:checkout", args=(tree.storefront.slug, tree.sku.code))
    assert query == {"campaign": str(campaign.pk), "group": token}
    assert "You sign in with your mobile number" in page


def test_a_member_sees_their_seat_and_no_join_button_and_a_stranger_sees_the_join_button(client, tree):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront)
    leader = _open(campaign)
    url = reverse("marketing:group", args=(leader.group.token,))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, leader.consumer)
    page = client.get(url)
    assert page.context["join_url"] == "" and "You are in this group" in page.content.decode() and "(me)" in page.content.decode()
    stranger = consumer_make()
    sign_in(client, stranger)
    page = client.get(url)
    assert page.context["join_url"] and "You are in this group" not in page.content.decode() and "(me)" not in page.content.decode()


def test_a_full_complete_or_failed_group_offers_no_join_and_no_share(en, tree, django_capture_on_commit_callbacks):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront, size=2)
    leader = _open(campaign)
    friend = group_take(campaign=campaign, consumer=consumer_make(), group_token=leader.group.token, order_ref="P-2")
    url = reverse("marketing:group", args=(leader.group.token,))
    page = en.get(url)
    assert page.context["join_url"] == "" and "Every seat is taken" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        group_paid(order_ref=leader.order_ref)
        group_paid(order_ref=friend.order_ref)
    page = en.get(url)
    assert "The group is complete" in page.content.decode() and b'data-testid="group-share"' not in page.content
    other = _open(campaign, ref="P-OTHER")
    GroupBuy.objects.filter(pk=other.group_id).update(status=GroupBuy.Status.FAILED)
    page = en.get(reverse("marketing:group", args=(other.group.token,)))
    assert "refunded automatically" in page.content.decode() and page.context["join_url"] == ""


def test_an_unknown_token_is_not_found(en):
    assert en.get(reverse("marketing:group", args=("no-such-token",))).status_code == 404


def test_a_share_link_without_a_shop_buys_where_the_leader_bought(en, tree):
    campaign = group_campaign_make(sku=tree.sku)  # every storefront
    leader = _open(campaign)
    CampaignUse.objects.create(
        campaign=campaign, order_ref=leader.order_ref, consumer=leader.consumer, channel="storefront", distributor=tree.seller,
        list_amount=Decimal("29.90"), discount=Decimal("10.00"), paid_amount=Decimal("19.90"),
    )  # fmt: skip
    response = en.get(reverse("marketing:group", args=(leader.group.token,)))
    path, query = _query(response.context["join_url"])
    assert path.startswith(f"/s/{tree.storefront.slug}/") and query["group"] == leader.group.token
    assert response.context["share_url"].endswith(f"?s={tree.storefront.slug}")


def test_my_groups_on_the_campaign_page_are_mine_only(client, tree):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront)
    me, neighbour = consumer_make(), consumer_make()
    mine = _open(campaign, me, ref="P-MINE")
    theirs = _open(campaign, neighbour, ref="P-THEIRS")
    sign_in(client, me)
    response = client.get(reverse("marketing:group-campaign", args=(campaign.pk,)))
    assert [view.token for view, _ in response.context["my_groups"]] == [mine.group.token]
    # the neighbour's group is offered to join, never listed as mine
    assert theirs.group.token in [view.token for view, _ in response.context["open_groups"]]
    joinable = {view.token: view.joinable for view, _ in response.context["open_groups"]}
    assert joinable == {mine.group.token: False, theirs.group.token: True}


def test_the_pages_read_in_chinese(client, tree):
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront)
    leader = _open(campaign)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    campaign_page = client.get(reverse("marketing:group-campaign", args=(campaign.pk,))).content.decode()
    group_page = client.get(reverse("marketing:group", args=(leader.group.token,))).content.decode()
    assert "开团" in campaign_page and "可参加的团" in campaign_page
    assert "邀请好友" in group_page and "团长" in group_page
    for english in ("Open a group", "Groups you can join", "Invite friends", "Leader", "Free seat", "more to go"):
        assert english not in campaign_page + group_page
