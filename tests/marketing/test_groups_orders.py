"""Group buys end to end with settlement: real orders, the sandbox gateway, the ledger. A group that fills
delivers every member's codes (and not before); a group that runs out of time has every paid member refunded
through the ledger and the gateway; the share page's join button places the order through the checkout."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import CardCode
from marketing.errors import GroupFull
from marketing.models import CampaignUse, GroupBuy, GroupMember
from marketing.services.groups import groups_expire
from marketing.services.offers import OfferRequest
from settlement.models import Account, Order, OrderItem, Payment, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import platform_account
from settlement.services.orders import orders_expire
from tests.marketing.groups_support import consumer_make, group_campaign_make
from tests.settlement.conftest import tree_make
from tests.settlement.test_offer_orders import pay, place

pytestmark = pytest.mark.django_db
S = Order.Status


@pytest.fixture
def tree():
    return tree_make()


@pytest.fixture
def campaign(tree):
    """Groups of three at ¥19.90 (the shop sells at ¥29.90), the platform paying the ¥10.00 difference."""
    return group_campaign_make(sku=tree.sku, storefront=tree.storefront, size=3, hours=24)


def _order(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _join(tree, campaign, token=""):
    return place(tree, who=consumer_make(), request=OfferRequest(campaign_id=campaign.pk, group_token=token))


def test_a_group_that_fills_delivers_every_member_and_not_before(tree, campaign, django_capture_on_commit_callbacks):
    # given a leader who opened a group and paid
    lead = _join(tree, campaign)
    token = GroupMember.objects.get(order_ref=lead.number).group.token
    assert lead.total == Decimal("19.90") and lead.discount_platform == Decimal("10.00")
    with django_capture_on_commit_callbacks(execute=True):
        pay(lead)
    # then the order is paid and held for the group: no code is delivered yet
    assert _order(lead).status == S.PAID and _order(lead).hold == Order.Hold.GROUP
    # when a friend joins and pays: still held
    second = _join(tree, campaign, token)
    with django_capture_on_commit_callbacks(execute=True):
        pay(second)
    assert {_order(o).status for o in (lead, second)} == {S.PAID}
    assert not OrderItem.objects.filter(order__in=(lead, second), state=OrderItem.State.DELIVERED).exists()
    # and the third friend joins and pays: the group is complete and every member is delivered
    third = _join(tree, campaign, token)
    with pytest.raises(GroupFull):
        _join(tree, campaign, token)  # a fourth finds no seat
    with django_capture_on_commit_callbacks(execute=True):
        pay(third)
    group = GroupBuy.objects.get(token=token)
    assert group.status == GroupBuy.Status.COMPLETE and group.completion_sent_at is not None
    assert [_order(o).status for o in (lead, second, third)] == [S.DELIVERED] * 3
    assert OrderItem.objects.filter(order__in=(lead, second, third), state=OrderItem.State.DELIVERED).count() == 3
    assert {_order(o).hold for o in (lead, second, third)} == {Order.Hold.NONE}
    assert set(group.members.values_list("status", flat=True)) == {GroupMember.Status.DELIVERED}
    # the platform paid three ¥10.00 discounts, and the books balance
    assert platform_account(Account.Kind.MARKETING_EXPENSE).balance == Decimal("-30.00")
    assert ledger_check().ok


def test_a_group_that_runs_out_of_time_refunds_every_paid_member_through_the_ledger(tree, campaign, django_capture_on_commit_callbacks):
    # given a group of three with two paid members and one who never pays
    lead = _join(tree, campaign)
    token = GroupMember.objects.get(order_ref=lead.number).group.token
    second = _join(tree, campaign, token)
    unpaid = _join(tree, campaign, token)
    with django_capture_on_commit_callbacks(execute=True):
        payments = [pay(lead), pay(second, event="e2")]
    # when the unpaid order expires, the seat goes back; then the group's time runs out
    with django_capture_on_commit_callbacks(execute=True):
        orders_expire(now=timezone.now() + timedelta(hours=2))
    assert _order(unpaid).status == S.EXPIRED and GroupMember.objects.get(order_ref=unpaid.number).status == GroupMember.Status.LEFT
    with django_capture_on_commit_callbacks(execute=True):
        assert groups_expire(now=timezone.now() + timedelta(hours=25)) == 1
    # then both paid orders are refunded in full through the gateway and the ledger, nothing delivered
    for order, payment in zip((lead, second), payments, strict=True):
        order = _order(order)
        assert order.status == S.REFUNDED and order.refunded_amount == Decimal("19.90")
        assert Payment.objects.get(pk=payment.pk).status == Payment.Status.REFUNDED
        assert order.transfers.filter(kind=Transfer.Kind.REFUND_PAYOUT).exists()
    group = GroupBuy.objects.get(token=token)
    assert group.status == GroupBuy.Status.REFUNDED and group.refund_attempts == 1 and group.refund_error == ""
    assert set(group.members.exclude(status=GroupMember.Status.LEFT).values_list("status", flat=True)) == {GroupMember.Status.REFUNDED}
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
    assert set(CampaignUse.objects.filter(campaign=campaign).values_list("status", flat=True)) <= {
        CampaignUse.Status.REFUNDED,
        CampaignUse.Status.RELEASED,
    }
    # the marketing expense of the refunded discounts is reversed, and the books balance
    assert platform_account(Account.Kind.MARKETING_EXPENSE).balance == Decimal("0.00")
    assert ledger_check().ok
    # asking again (the retry job) changes nothing: settlement skips what it refunded
    with django_capture_on_commit_callbacks(execute=True):
        groups_expire(now=timezone.now() + timedelta(days=3))
    assert _order(lead).refunded_amount == Decimal("19.90") and ledger_check().ok


def test_the_share_pages_join_button_places_the_order_in_that_group(client, tree, campaign):
    lead = _join(tree, campaign)
    token = GroupMember.objects.get(order_ref=lead.number).group.token
    friend = consumer_make()
    session = client.session
    session["vh_consumer"] = friend.pk
    session.save()
    page = client.get(reverse("marketing:group", args=(token,)), HTTP_ACCEPT_LANGUAGE="en")
    join_url = page.context["join_url"]
    checkout = client.get(join_url, HTTP_ACCEPT_LANGUAGE="en")
    assert checkout.status_code == 200 and "19.90" in checkout.content.decode()
    response = client.post(
        urlsplit(join_url).path,
        {"quantity": 1, "contact": friend.phone, "pay_method": "sandbox", "campaign": campaign.pk, "group": token},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    order = Order.objects.get(consumer=friend)
    assert order.total == Decimal("19.90") and order.promotion == campaign
    member = GroupMember.objects.get(order_ref=order.number)
    assert member.group.token == token and member.group.members_count == 2
