"""Referral: a friend's first paid order through a share link rewards both sides after the refund window;
self-referral, loops, shared addresses and devices are refused with their reason; refunds cancel."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketing.models import Campaign, CampaignUse, Coupon, Referral
from marketing.services.offers import OfferRequest, offer_paid, offer_refunded, offer_released, offer_take
from marketing.services.referral import referral_link_for, referral_reason_text, referrals_reward_due
from tests.marketing.factories import CampaignFactory, ConsumerFactory, coupon_campaign, shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

D = Decimal


@pytest.fixture
def setup():
    _distributor, storefront, sku = shop()
    reward = coupon_campaign(discount_amount=D("5.00"), kind=Campaign.Kind.TARGETED)
    campaign = CampaignFactory(kind=Campaign.Kind.REFERRAL, reward_campaign=reward, refund_window_days=7)
    owner = ConsumerFactory()
    link = referral_link_for(campaign=campaign, consumer=owner, ip="10.0.0.1", device="owner-phone")
    return storefront, sku, campaign, reward, owner, link


def order(storefront, sku, friend, token, *, first_order=True, ip="10.9.9.9", device="friend-phone"):
    return offer_take(
        request=OfferRequest(referral_token=token), order_ref=uuid.uuid4().hex[:16], consumer=friend, channel="storefront",
        distributor=storefront.distributor, storefront=storefront, sku=sku, quantity=1, list_unit_price=D("30.00"),
        floor_unit_price=D("25.00"), first_order=first_order, ip=ip, device=device,
    )  # fmt: skip


def test_the_link_is_one_per_consumer(setup):
    _storefront, _sku, campaign, _reward, owner, link = setup
    assert referral_link_for(campaign=campaign, consumer=owner).token == link.token
    assert referral_link_for(campaign=campaign, consumer=ConsumerFactory()).token != link.token


def test_both_sides_get_a_coupon_after_the_refund_window(setup):
    storefront, sku, campaign, reward, owner, link = setup
    friend = ConsumerFactory()
    offer = order(storefront, sku, friend, link.token)
    assert offer.total == D("30.00") and offer.campaign_ids == ()  # a referral does not price the order
    referral = Referral.objects.get(friend=friend)
    assert (referral.status, referral.reward_due_at) == (Referral.Status.PENDING, None)
    offer_paid(order_ref=offer.order_ref)
    referral.refresh_from_db()
    assert referral.reward_due_at > timezone.now() + timedelta(days=6)
    assert referrals_reward_due() == 0  # not yet
    later = timezone.now() + timedelta(days=8)
    assert referrals_reward_due(now=later) == 1
    assert referrals_reward_due(now=later) == 0
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REWARDED
    rewards = Coupon.objects.filter(referral=referral, campaign=reward)
    assert sorted(rewards.values_list("consumer_id", flat=True)) == sorted([owner.pk, friend.pk])
    assert set(rewards.values_list("status", flat=True)) == {Coupon.Status.CLAIMED}
    assert CampaignUse.objects.get(campaign=campaign).new_customer


def test_a_repeat_buyer_is_not_a_referral(setup):
    storefront, sku, _campaign, _reward, _owner, link = setup
    order(storefront, sku, ConsumerFactory(), link.token, first_order=False)
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("who", "ip", "device", "reason"),
    [
        ("owner", "10.9.9.9", "friend-phone", "self"),
        ("friend", "10.0.0.1", "friend-phone", "owner_address"),
        ("friend", "10.9.9.9", "owner-phone", "owner_device"),
    ],
)
def test_self_referral_and_the_owners_address_or_device_are_refused(setup, who, ip, device, reason):
    storefront, sku, campaign, _reward, owner, link = setup
    friend = owner if who == "owner" else ConsumerFactory()
    order(storefront, sku, friend, link.token, ip=ip, device=device)
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.Status.REFUSED, reason)
    assert referral_reason_text(referral)
    assert not CampaignUse.objects.filter(campaign=campaign).exists()


def test_two_friends_from_one_device_and_a_loop_are_refused(setup):
    storefront, sku, campaign, _reward, owner, link = setup
    first, second = ConsumerFactory(), ConsumerFactory()
    order(storefront, sku, first, link.token, device="shared")
    order(storefront, sku, second, link.token, ip="10.7.7.7", device="shared")
    assert Referral.objects.get(friend=second).reason == "friend_twin"
    # the first friend's own link, used by the owner: a loop
    back = referral_link_for(campaign=campaign, consumer=first)
    order(storefront, sku, owner, back.token, ip="10.5.5.5", device="other")
    assert Referral.objects.get(link=back).reason == "loop"


def test_a_refund_before_the_reward_cancels_it_and_an_unpaid_order_drops_it(setup):
    storefront, sku, _campaign, _reward, _owner, link = setup
    friend, lazy = ConsumerFactory(), ConsumerFactory()
    offer = order(storefront, sku, friend, link.token)
    offer_paid(order_ref=offer.order_ref)
    offer_refunded(order_ref=offer.order_ref, amount=D("30.00"))
    assert Referral.objects.get(friend=friend).status == Referral.Status.CANCELLED
    assert referrals_reward_due(now=timezone.now() + timedelta(days=30)) == 0
    unpaid = order(storefront, sku, lazy, link.token, ip="10.3.3.3", device="lazy-phone")
    offer_released(order_ref=unpaid.order_ref)
    assert not Referral.objects.filter(friend=lazy).exists()
    assert not Coupon.objects.exists()
