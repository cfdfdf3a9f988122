"""Orders priced by marketing's campaigns (issue 16): the money of a discount, its refund, the new-user price,
a flash sale's payment time, bundles. The real marketing services, the real ledger, the sandbox gateway."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import CardCode
from catalog.services import codes_generate
from channels.models import PriceEntry, StorefrontItem
from marketing.errors import CampaignError, SignInRequired
from marketing.models import BundleItem, Campaign, CampaignUse, Consumer, Coupon, FlashReservation, FlashSlot, GroupBuy
from marketing.services.coupons import coupons_issue
from marketing.services.groups import groups_expire
from marketing.services.offers import OfferRequest
from settlement.adapters import SandboxAdapter
from settlement.errors import OutOfStock
from settlement.models import Account, Order, Payment, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.services.bundles import basket_refund, bundle_place
from settlement.services.group_orders import group_orders_refund
from settlement.services.ledger import platform_account
from settlement.services.orders import order_place, order_refund, orders_expire
from settlement.services.payments import payment_callback_receive, payment_for_order
from tests import factories

pytestmark = pytest.mark.django_db
K = Account.Kind
S = Order.Status


def consumer(phone="13800001111") -> Consumer:
    return Consumer.objects.create(phone=phone)


def campaign(tree, kind, **fields) -> Campaign:
    now = timezone.now()
    values = {
        "name": f"{kind} campaign",
        "kind": kind,
        "status": Campaign.Status.ACTIVE,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=3),
        **fields,
    }
    return Campaign.objects.create(**values)


def coupon_campaign(tree, *, amount="5.00", funding=Campaign.Funding.PLATFORM, **fields) -> Campaign:
    owner = {"distributor": tree.seller, "storefront": tree.storefront} if funding == Campaign.Funding.DISTRIBUTOR else {}
    return campaign(
        tree,
        Campaign.Kind.COUPON,
        funding=funding,
        discount_kind=Campaign.DiscountKind.FIXED,
        discount_amount=Decimal(amount),
        coupon_valid_days=30,
        **owner,
        **fields,
    )


def place(tree, *, who=None, quantity=1, request=None, pay_method="sandbox", storefront=None, sku=None) -> Order:
    return order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=storefront or tree.storefront,
        sku=sku or tree.sku,
        quantity=quantity,
        contact="" if who else "buyer@example.test",
        lookup_password="" if who else "secret-123",
        pay_method=pay_method,
        consumer=who,
        offer_request=request,
    )


def pay(order: Order, *, event="e1") -> Payment:
    payment = payment_for_order(order=order)
    adapter = SandboxAdapter()
    body = adapter.callback_body(event_id=f"{payment.number}-{event}", event_type="payment.succeeded", payment_number=payment.number,
                                 amount=payment.amount)  # fmt: skip
    payment_callback_receive(adapter_name="sandbox", body=body, headers={adapter.SIGNATURE_HEADER: adapter.sign(body)})
    payment.refresh_from_db()
    return payment


def balance(kind) -> Decimal:
    return platform_account(kind).balance


def coupon_for(who, camp) -> str:
    return coupons_issue(campaign=camp, count=1, consumer=who)[0].code


# --- Coupons: the discount's money ----------------------------------------------------------------------


def test_a_platform_coupon_is_booked_to_marketing_expense_and_the_ledger_balances(tree):
    # given a ¥5 platform-funded coupon of a signed-in consumer
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree))
    # when they buy a ¥29.90 code with it and pay
    order = place(tree, who=who, request=OfferRequest(coupon_codes=(code,)))
    assert (order.total, order.list_total, order.discount, order.discount_platform) == (
        Decimal("24.90"), Decimal("29.90"), Decimal("5.00"), Decimal("5.00"),
    )  # fmt: skip
    assert order.consumer == who and order.promotion.kind == Campaign.Kind.COUPON and order.lookup_password == ""
    payment = pay(order)
    order.refresh_from_db()
    # then the buyer paid ¥24.90, revenue is the list price, the ¥5 is marketing expense
    assert payment.amount == Decimal("24.90") and order.status == S.DELIVERED
    assert balance(K.MARKETING_EXPENSE) == Decimal("-5.00")
    assert balance(K.REVENUE) == Decimal("29.90")
    assert balance(K.PAYMENT_CLEARING) == Decimal("-24.90")
    # and the seller keeps its full margin (29.90 - 26.00): the platform paid the discount
    assert order.commissions.get(depth=0).amount == Decimal("3.90")
    assert CampaignUse.objects.get(order_ref=order.number).status == CampaignUse.Status.PAID
    assert ledger_check().ok


def test_a_refund_reverses_the_marketing_expense_in_proportion(tree):
    # given two codes bought with a ¥5 platform coupon
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree))
    order = place(tree, who=who, quantity=2, request=OfferRequest(coupon_codes=(code,)))
    pay(order)
    assert balance(K.MARKETING_EXPENSE) == Decimal("-5.00")
    # when one of the two is refunded: half the paid total, half the discount
    order = order_refund(order=Order.objects.get(pk=order.pk), reason="one unused", quantity=1)
    assert order.refunded_amount == Decimal("27.40")  # (59.80 - 5.00) / 2
    assert balance(K.MARKETING_EXPENSE) == Decimal("-2.50")
    # then the rest: everything is back
    order = order_refund(order=order, reason="the other", quantity=1)
    assert order.status == S.REFUNDED and order.refunded_amount == Decimal("54.80")
    assert balance(K.MARKETING_EXPENSE) == Decimal("0.00")
    assert balance(K.REVENUE) == Decimal("0.00")
    assert CampaignUse.objects.get(order_ref=order.number).status == CampaignUse.Status.REFUNDED
    assert ledger_check().ok


def test_a_distributor_coupon_comes_off_the_sellers_margin_not_marketing_expense(tree):
    # given the seller's own ¥2 coupon on its shop (its price floor is ¥27.00)
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree, amount="2.00", funding=Campaign.Funding.DISTRIBUTOR))
    order = place(tree, who=who, request=OfferRequest(coupon_codes=(code,)))
    pay(order)
    order.refresh_from_db()
    # then revenue is what the buyer paid, the margin is 27.90 - 26.00, and no marketing expense is booked
    assert (order.total, order.discount_distributor, order.discount_platform) == (Decimal("27.90"), Decimal("2.00"), Decimal("0.00"))
    assert balance(K.REVENUE) == Decimal("27.90")
    assert balance(K.MARKETING_EXPENSE) == Decimal("0.00")
    assert order.commissions.get(depth=0).amount == Decimal("1.90")
    assert ledger_check().ok


def test_a_distributor_coupon_never_takes_the_order_below_the_price_floor(tree):
    # given the seller's ¥10 coupon: 29.90 - 10 would be below the ¥27.00 floor
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree, amount="10.00", funding=Campaign.Funding.DISTRIBUTOR))
    order = place(tree, who=who, request=OfferRequest(coupon_codes=(code,)))
    # then the coupon gives only what is above the floor
    assert order.total == Decimal("27.00") and order.discount_distributor == Decimal("2.90")


def test_a_bad_coupon_names_its_field_and_writes_nothing(tree):
    who = consumer()
    with pytest.raises(CampaignError) as error:
        place(tree, who=who, request=OfferRequest(coupon_codes=("NOSUCHCODE",)))
    assert error.value.field == "coupon"
    assert not Order.objects.exists()
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == 30


def test_a_coupon_needs_a_signed_in_consumer(tree):
    code = coupons_issue(campaign=coupon_campaign(tree), count=1)[0].code
    with pytest.raises(SignInRequired):
        place(tree, request=OfferRequest(coupon_codes=(code,)))
    assert not Order.objects.exists() and Coupon.objects.get(code=code).status == Coupon.Status.ISSUED


def test_an_expired_coupon_order_gives_the_coupon_and_codes_back(tree):
    who = consumer()
    code = coupon_for(who, coupon_campaign(tree))
    order = place(tree, who=who, request=OfferRequest(coupon_codes=(code,)))
    assert Coupon.objects.get(code=code).status == Coupon.Status.USED
    # when nobody pays in time
    assert orders_expire(now=timezone.now() + timedelta(days=1)) == 1
    # then the order expired, its codes are back, the coupon is the consumer's again
    assert Order.objects.get(pk=order.pk).status == S.EXPIRED
    assert Coupon.objects.get(code=code).status == Coupon.Status.CLAIMED
    assert CampaignUse.objects.get(order_ref=order.number).status == CampaignUse.Status.RELEASED


# --- New-user price ----------------------------------------------------------------------------------------


def test_the_new_user_price_applies_by_itself_to_a_first_order_only(tree):
    # given a live new-user price of ¥19.90 (platform-funded) on the SKU
    camp = campaign(tree, Campaign.Kind.NEW_USER, sku=tree.sku, price=Decimal("19.90"))
    who = consumer()
    # when a signed-in consumer orders without choosing anything: the new-user price
    first = place(tree, who=who)
    assert (first.promotion, first.total, first.discount_platform) == (camp, Decimal("19.90"), Decimal("10.00"))
    pay(first)
    assert balance(K.MARKETING_EXPENSE) == Decimal("-10.00")
    # then their second order is at the list price, and asking for the campaign again is refused
    second = place(tree, who=who)
    assert (second.promotion, second.total) == (None, Decimal("29.90"))
    with pytest.raises(CampaignError) as error:
        place(tree, who=who, request=OfferRequest(campaign_id=camp.pk))
    assert error.value.field == "campaign"
    # and an anonymous buyer pays the list price
    assert place(tree).total == Decimal("29.90")
    assert ledger_check().ok


def test_a_phone_with_an_earlier_paid_order_is_not_a_new_user(tree):
    campaign(tree, Campaign.Kind.NEW_USER, sku=tree.sku, price=Decimal("19.90"))
    # given the phone bought before, without signing in
    earlier = order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                          quantity=1, contact="13800001111", lookup_password="secret-123", pay_method="sandbox")  # fmt: skip
    pay(earlier)
    # then the signed-in consumer with that phone gets the list price
    assert place(tree, who=consumer("13800001111")).total == Decimal("29.90")


# --- Flash sale: its own payment time, late payments -----------------------------------------------------


def flash(tree, *, stock=10) -> Campaign:
    camp = campaign(tree, Campaign.Kind.FLASH_SALE, sku=tree.sku, price=Decimal("9.90"), storefront=tree.storefront,
                    distributor=tree.seller, payment_minutes=5, funding=Campaign.Funding.PLATFORM)  # fmt: skip
    now = timezone.now()
    FlashSlot.objects.create(campaign=camp, starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=1), stock=stock)
    return camp


def test_a_flash_order_has_the_sales_payment_time_and_expiry_releases_its_place(tree):
    camp = flash(tree)
    who = consumer()
    order = place(tree, who=who, request=OfferRequest(campaign_id=camp.pk))
    assert order.total == Decimal("9.90") and order.expires_at <= timezone.now() + timedelta(minutes=5)
    assert FlashSlot.objects.get(campaign=camp).taken == 1
    # when the five minutes pass unpaid
    assert orders_expire(now=timezone.now() + timedelta(minutes=6)) == 1
    # then the place is back in the slot and the codes in stock
    assert FlashSlot.objects.get(campaign=camp).taken == 0
    assert FlashReservation.objects.get(order_ref=order.number).status == FlashReservation.Status.RELEASED
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == 30


def test_a_payment_after_the_flash_order_expired_is_refunded_through_the_gateway(tree):
    camp = flash(tree)
    order = place(tree, who=consumer(), request=OfferRequest(campaign_id=camp.pk))
    payment = payment_for_order(order=order)
    orders_expire(now=timezone.now() + timedelta(minutes=6))
    # when the money arrives late
    payment = pay(order)
    order.refresh_from_db()
    # then the order is refunded in full through the sandbox gateway, no code sold, no place taken
    assert order.status == S.REFUNDED and order.refunded_amount == Decimal("9.90")
    assert payment.status == Payment.Status.REFUNDED
    assert order.transfers.filter(kind=Transfer.Kind.REFUND_PAYOUT).exists()
    assert FlashSlot.objects.get(campaign=camp).taken == 0
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
    assert balance(K.MARKETING_EXPENSE) == Decimal("0.00")
    assert ledger_check().ok


def test_a_paid_flash_order_is_delivered_at_the_flash_price(tree):
    camp = flash(tree)
    order = place(tree, who=consumer(), request=OfferRequest(campaign_id=camp.pk))
    pay(order)
    order.refresh_from_db()
    assert order.status == S.DELIVERED and order.discount_platform == Decimal("20.00")
    assert FlashReservation.objects.get(order_ref=order.number).status == FlashReservation.Status.PAID
    assert ledger_check().ok


# --- Bundles ------------------------------------------------------------------------------------------------


def bundle(tree, *, extra_codes=5):
    """A ¥39.90 bundle: one unit of the tree's SKU (¥27.00 of the price) and two of a second SKU (¥6.45 each)."""
    other = factories.SkuFactory(face_value=Decimal("10.00"), cost_price=Decimal("4.00"))
    for entry in PriceEntry.objects.filter(sku=tree.sku):
        PriceEntry.objects.create(level=entry.level, sku=other, purchase_price=Decimal("5.00"), suggested_retail=Decimal("9.90"),
                                  price_floor=Decimal("6.00"))  # fmt: skip
    StorefrontItem.objects.create(storefront=tree.storefront, sku=other, retail_price=Decimal("9.90"))
    if extra_codes:
        codes_generate(sku=other, count=extra_codes)
    camp = campaign(tree, Campaign.Kind.BUNDLE, price=Decimal("39.90"))
    BundleItem.objects.create(campaign=camp, sku=tree.sku, quantity=1, revenue_share=Decimal("27.00"))
    BundleItem.objects.create(campaign=camp, sku=other, quantity=2, revenue_share=Decimal("6.45"))
    return camp, other


def test_a_bundle_is_one_payment_and_one_order_per_component(tree, mailoutbox, django_capture_on_commit_callbacks):
    camp, other = bundle(tree)
    lead = bundle_place(storefront=tree.storefront, campaign=camp, contact="buyer@example.test", lookup_password="secret-123",
                        pay_method="sandbox")  # fmt: skip
    basket = list(Order.objects.filter(basket=lead.number).order_by("pk"))
    assert [o.sku for o in basket] == [tree.sku, other] and basket[0] == lead
    assert [(o.quantity, o.unit_price, o.total) for o in basket] == [
        (1, Decimal("27.00"), Decimal("27.00")),
        (2, Decimal("6.45"), Decimal("12.90")),
    ]
    # when the one payment (the basket's total) arrives
    with django_capture_on_commit_callbacks(execute=True):
        payment = pay(lead)
    assert payment.amount == Decimal("39.90") and payment.order == lead
    # then the buyer gets one private link for the three codes
    assert len(mailoutbox) == 1 and lead.number in mailoutbox[0].body
    # then every component is delivered, each with its own sale and the seller's margin on it
    for order in Order.objects.filter(basket=lead.number):
        assert order.status == S.DELIVERED
        assert order.transfers.filter(kind=Transfer.Kind.SALE, key=f"sale:{order.pk}").exists()
    margins = {o.sku_id: o.commissions.get(depth=0).amount for o in Order.objects.filter(basket=lead.number)}
    assert margins == {tree.sku.pk: Decimal("1.00"), other.pk: Decimal("2.90")}  # share less the seller's price, per component
    assert balance(K.REVENUE) == Decimal("39.90")
    assert ledger_check().ok


def test_a_bundle_with_a_component_out_of_stock_reserves_nothing(tree):
    camp, other = bundle(tree, extra_codes=1)  # two units wanted, one code
    with pytest.raises(OutOfStock):
        bundle_place(storefront=tree.storefront, campaign=camp, contact="buyer@example.test", lookup_password="secret-123",
                     pay_method="sandbox")  # fmt: skip
    assert not Order.objects.exists()
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == 30
    assert CardCode.objects.filter(sku=other, status=CardCode.Status.AVAILABLE).count() == 1
    assert not CampaignUse.objects.exists()


def test_a_bundle_refund_refunds_every_component(tree):
    camp, _other = bundle(tree)
    lead = bundle_place(storefront=tree.storefront, campaign=camp, contact="buyer@example.test", lookup_password="secret-123",
                        pay_method="sandbox")  # fmt: skip
    pay(lead)
    basket_refund(lead=Order.objects.get(pk=lead.pk), reason="changed my mind")
    assert set(Order.objects.filter(basket=lead.number).values_list("status", flat=True)) == {S.REFUNDED}
    assert Payment.objects.get(order=lead).status == Payment.Status.REFUNDED
    assert balance(K.REVENUE) == Decimal("0.00")
    assert ledger_check().ok


# --- Group buys: delivered when full, refunded when they fail ---------------------------------------------


def group_campaign(tree, *, size=2) -> Campaign:
    return campaign(tree, Campaign.Kind.GROUP_BUY, sku=tree.sku, price=Decimal("19.90"), group_size=size, group_hours=24)


def test_a_paid_group_order_waits_and_is_delivered_when_the_group_completes(tree, django_capture_on_commit_callbacks):
    camp = group_campaign(tree)
    leader, friend = consumer("13800001111"), consumer("13800002222")
    first = place(tree, who=leader, request=OfferRequest(campaign_id=camp.pk))
    pay(first)
    first.refresh_from_db()
    # the leader paid: held for the group, codes reserved, not delivered
    assert (first.status, first.hold) == (S.PAID, Order.Hold.GROUP)
    token = GroupBuy.objects.get(campaign=camp).token
    second = place(tree, who=friend, request=OfferRequest(campaign_id=camp.pk, group_token=token))
    # when the friend's payment fills the group
    with django_capture_on_commit_callbacks(execute=True):
        pay(second)
    # then both orders are delivered
    for order in (first, second):
        order.refresh_from_db()
        assert (order.status, order.hold) == (S.DELIVERED, Order.Hold.NONE)
    assert GroupBuy.objects.get(campaign=camp).status == GroupBuy.Status.COMPLETE
    assert ledger_check().ok


def test_a_failed_group_is_refunded_in_full_and_its_unpaid_member_cancelled(tree, django_capture_on_commit_callbacks):
    camp = group_campaign(tree, size=3)
    leader, friend = consumer("13800001111"), consumer("13800002222")
    paid = place(tree, who=leader, request=OfferRequest(campaign_id=camp.pk))
    payment = pay(paid)
    token = GroupBuy.objects.get(campaign=camp).token
    unpaid = place(tree, who=friend, request=OfferRequest(campaign_id=camp.pk, group_token=token))
    # when the group's time runs out unfilled
    with django_capture_on_commit_callbacks(execute=True):
        assert groups_expire(now=timezone.now() + timedelta(days=2)) == 1
    # then the paid order is refunded in full through the gateway, the marketing expense reversed
    paid.refresh_from_db()
    payment.refresh_from_db()
    assert paid.status == S.REFUNDED and paid.refunded_amount == Decimal("19.90")
    assert payment.status == Payment.Status.REFUNDED
    assert balance(K.MARKETING_EXPENSE) == Decimal("0.00")
    assert GroupBuy.objects.get(campaign=camp).status == GroupBuy.Status.REFUNDED
    # and a second announcement changes nothing (already refunded: only confirmed)
    assert group_orders_refund(order_refs=[paid.number]) == 1
    assert Order.objects.get(pk=paid.pk).transfers.filter(key__startswith=f"refund:{paid.pk}:").count() == 1
    # the member who never paid: no money to return; the order is cancelled or expired, its codes back
    assert Order.objects.get(pk=unpaid.pk).status in (S.CANCELLED, S.EXPIRED, S.PENDING)
    group_orders_refund(order_refs=[unpaid.number])
    assert Order.objects.get(pk=unpaid.pk).status in (S.CANCELLED, S.EXPIRED)
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == 30
    assert ledger_check().ok


def test_a_payment_after_marketing_released_the_flash_place_is_refunded_even_if_the_order_still_waits(tree):
    # given a flash order whose reservation marketing's own job released (the order itself not expired yet)
    from marketing.services.flash import flash_reservations_expire

    camp = flash(tree)
    order = place(tree, who=consumer(), request=OfferRequest(campaign_id=camp.pk))
    assert flash_reservations_expire(now=timezone.now() + timedelta(hours=1)) == 1
    assert Order.objects.get(pk=order.pk).status == S.PENDING
    # when the payment comes
    pay(order)
    order.refresh_from_db()
    # then it is refunded, never delivered past the sale's stock
    assert order.status == S.REFUNDED
    assert FlashSlot.objects.get(campaign=camp).taken == 0
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).exists()
    assert ledger_check().ok
