"""Gaps of issue 16's first wave, each with the test that failed before its fix: coupons on a bundle, an order
both under risk review and waiting for its group, a campaign order under review, a targeted issuance's one SMS."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import CardCode
from marketing.errors import CouponInvalid
from marketing.models import CampaignUse, Coupon, GroupBuy, Issuance
from marketing.services import issuance as issuance_service
from marketing.services.offers import OfferRequest
from redemption.models import HolderLink
from redemption.notify import ConsoleSmsBackend
from riskcontrol.models import Action, Dimension, RiskEvent, RiskRule
from riskcontrol.services import review_decide
from settlement.models import Account, Order
from settlement.selectors.ledger import ledger_check
from settlement.services.bundles import basket_refund, bundle_place
from settlement.services.orders import order_hold_decide
from tests.riskcontrol.conftest import make_list, make_rule
from tests.settlement.test_offer_orders import balance, bundle, consumer, coupon_campaign, coupon_for, group_campaign, pay, place

pytestmark = pytest.mark.django_db
K = Account.Kind
S = Order.Status


def bundle_buy(tree, camp, who, code):
    return bundle_place(storefront=tree.storefront, campaign=camp, consumer=who, pay_method="sandbox",
                        offer_request=OfferRequest(coupon_codes=(code,)))  # fmt: skip


# --- 1. Coupons on a bundle ----------------------------------------------------------------------------------


def test_a_coupon_discounts_a_bundle_split_over_its_components_by_revenue_share(tree):
    # given the ¥39.90 bundle (¥27.00 + 2 × ¥6.45) and a ¥6 platform coupon without SKU or category rules
    camp, other = bundle(tree)
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree, amount="6.00"))
    # when the consumer buys the bundle with it
    lead = bundle_buy(tree, camp, who, code)
    basket = list(Order.objects.filter(basket=lead.number).order_by("pk"))
    # then the discount is spread in proportion to the revenue shares (27.00 : 12.90) and adds up to ¥6
    assert [(o.list_total, o.discount, o.discount_platform, o.total) for o in basket] == [
        (Decimal("27.00"), Decimal("4.06"), Decimal("4.06"), Decimal("22.94")),
        (Decimal("12.90"), Decimal("1.94"), Decimal("1.94"), Decimal("10.96")),
    ]
    assert Coupon.objects.get(code=code).status == Coupon.Status.USED
    payment = pay(lead)
    assert payment.amount == Decimal("33.90")
    assert balance(K.MARKETING_EXPENSE) == Decimal("-6.00") and balance(K.REVENUE) == Decimal("39.90")
    assert set(Order.objects.filter(basket=lead.number).values_list("status", flat=True)) == {S.DELIVERED}
    assert ledger_check().ok
    # and a refund of the basket reverses the expense in full
    basket_refund(lead=Order.objects.get(pk=lead.pk), reason="changed my mind")
    assert balance(K.MARKETING_EXPENSE) == Decimal("0.00") and balance(K.REVENUE) == Decimal("0.00")
    assert CampaignUse.objects.get(order_ref=lead.number, coupon__isnull=False).status == CampaignUse.Status.REFUNDED
    assert ledger_check().ok


def test_a_coupon_restricted_to_skus_applies_to_a_bundle_only_when_every_component_matches(tree):
    camp, other = bundle(tree)
    who = consumer()
    partial = coupon_for(who, coupon_campaign(tree, amount="6.00", sku_ids=[tree.sku.pk]))
    with pytest.raises(CouponInvalid) as refused:
        bundle_buy(tree, camp, who, partial)
    assert refused.value.field == "coupon"
    assert not Order.objects.exists() and Coupon.objects.get(code=partial).status == Coupon.Status.CLAIMED
    assert CardCode.objects.filter(sku=other, status=CardCode.Status.AVAILABLE).count() == 5
    both = coupon_for(who, coupon_campaign(tree, amount="6.00", sku_ids=[tree.sku.pk, other.pk]))
    lead = bundle_buy(tree, camp, who, both)
    assert sum(o.discount for o in Order.objects.filter(basket=lead.number)) == Decimal("6.00")


# --- 2. Under review and waiting for its group ------------------------------------------------------------


def test_an_approved_review_keeps_a_group_order_held_until_the_group_fills(tree, django_capture_on_commit_callbacks):
    camp = group_campaign(tree)
    leader, friend = consumer("13800001111"), consumer("13800002222")
    rule = make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1"), action=RiskRule.RuleAction.REVIEW)
    first = place(tree, who=leader, request=OfferRequest(campaign_id=camp.pk))
    pay(first)
    first.refresh_from_db()
    assert (first.status, first.hold) == (S.PAID, Order.Hold.REVIEW)
    # when review approves while the group still waits for its second member
    order_hold_decide(reference=first.number, approved=True)
    first.refresh_from_db()
    # then the order stays paid and held for the group: no code handed over
    assert (first.status, first.hold) == (S.PAID, Order.Hold.GROUP)
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
    # and the friend's payment that fills the group delivers both
    rule.delete()
    from riskcontrol import engine

    engine.rules_changed()
    token = GroupBuy.objects.get(campaign=camp).token
    second = place(tree, who=friend, request=OfferRequest(campaign_id=camp.pk, group_token=token))
    with django_capture_on_commit_callbacks(execute=True):
        pay(second)
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, order.hold) == (S.DELIVERED, Order.Hold.NONE)
    assert ledger_check().ok


# --- 3. A campaign order under review ---------------------------------------------------------------------


def test_a_campaign_order_under_review_is_held_and_delivered_once_approved(tree, ops_user):
    # given a rule that sends coupon orders from one device to review
    risk_list = make_list(dimension=Dimension.DEVICE, values=["farm-phone"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.CAMPAIGN_ORDER, risk_list=risk_list, score=10,
              action=RiskRule.RuleAction.REVIEW, name="coupon farm review")  # fmt: skip
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree))
    from settlement.services.orders import order_place

    order = order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                        quantity=1, pay_method="sandbox", consumer=who, device="farm-phone",
                        offer_request=OfferRequest(coupon_codes=(code,)))  # fmt: skip
    assert order.hold == Order.Hold.REVIEW
    pay(order)
    order.refresh_from_db()
    assert (order.status, order.hold) == (S.PAID, Order.Hold.REVIEW)
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
    # when ops approve the campaign-order event
    event = RiskEvent.objects.get(action=Action.CAMPAIGN_ORDER, reference=order.number)
    review_decide(event_id=event.pk, approve=True, actor=ops_user)
    order.refresh_from_db()
    assert order.status == S.DELIVERED
    assert ledger_check().ok


# --- 5. A targeted issuance's free code: one SMS ----------------------------------------------------------


def test_a_free_code_recipient_gets_one_sms_and_the_order_names_the_campaign(tree, ops_user, django_capture_on_commit_callbacks):
    ConsoleSmsBackend.outbox.clear()
    from tests.marketing.test_issuance_free_codes import free_campaign

    campaign = free_campaign(tree)
    file = SimpleUploadedFile("p.csv", b"phone\n13800138000\n")
    issuance = issuance_service.issuance_prepare(campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.FREE_CODE,
                                                 file=file, actor=ops_user)  # fmt: skip
    issuance_service.issuance_confirm(issuance=issuance, actor=ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        issuance_service.issuance_run(issuance_id=issuance.pk)
    texts = [m.text for m in ConsoleSmsBackend.outbox if m.to == "13800138000"]
    assert len(texts) == 1 and "/me/" in texts[0]
    order = Order.objects.get(promotion=campaign)
    assert order.status == S.DELIVERED
    notes = list(order.events.values_list("note", flat=True))
    assert "wallet" not in notes and any(campaign.name in note for note in notes)
    # the private code page still exists: /me/ lists the order and links to it
    assert HolderLink.objects.filter(order_ref=order.number).exists()
    ConsoleSmsBackend.outbox.clear()


def test_a_group_join_under_review_holds_the_order(tree):
    risk_list = make_list(dimension=Dimension.DEVICE, values=["farm-phone"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.GROUP_JOIN, risk_list=risk_list, score=10,
              action=RiskRule.RuleAction.REVIEW, name="group farm review")  # fmt: skip
    camp = group_campaign(tree)
    from settlement.services.orders import order_place

    order = order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                        quantity=1, pay_method="sandbox", consumer=consumer(), device="farm-phone",
                        offer_request=OfferRequest(campaign_id=camp.pk))  # fmt: skip
    assert order.hold == Order.Hold.REVIEW
    assert RiskEvent.objects.get(action=Action.GROUP_JOIN, reference=order.number).outcome == "review"
    pay(order)
    order.refresh_from_db()
    assert (order.status, order.hold) == (S.PAID, Order.Hold.REVIEW)
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
