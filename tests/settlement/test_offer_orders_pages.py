"""The campaign side of settlement's storefront pages (issue 16): the flash-sale buy endpoint (JSON), the
checkout's coupon, campaign and sign-in, the receipt's discount, a bundle's page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels.models import Storefront, StorefrontItem
from marketing.models import Campaign, Consumer, Coupon, FlashSlot
from marketing.services.coupons import coupons_issue
from settlement.models import Order
from tests.settlement.test_offer_orders import coupon_campaign

pytestmark = pytest.mark.django_db


def sign_in(client: Client, consumer: Consumer) -> Client:
    session = client.session
    session["vh_consumer"] = consumer.pk
    session.save()
    return client


def flash(tree, *, storefront=None, stock=5) -> Campaign:
    now = timezone.now()
    storefront = storefront or tree.storefront
    campaign = Campaign.objects.create(
        name="秒杀", kind=Campaign.Kind.FLASH_SALE, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2), sku=tree.sku, price=Decimal("9.90"), storefront=storefront,
        distributor=storefront.distributor, payment_minutes=5,
    )  # fmt: skip
    FlashSlot.objects.create(campaign=campaign, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), stock=stock)
    return campaign


def buy_url(slug, campaign) -> str:
    return reverse("settlement:flash-buy", args=[slug, campaign.pk])


def test_the_flash_endpoint_places_an_order_and_answers_where_to_pay(client, tree):
    campaign = flash(tree)
    who = Consumer.objects.create(phone="13800001111")
    response = sign_in(client, who).post(buy_url(tree.storefront.slug, campaign))
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["order"])
    assert (order.consumer, order.promotion, order.total, order.contact) == (who, campaign, Decimal("9.90"), "13800001111")
    assert body["pay_url"].startswith("/pay/sandbox/")
    # the second try by the same consumer: the limit, as a JSON error naming the field
    again = client.post(buy_url(tree.storefront.slug, campaign))
    assert again.status_code == 409 and again.json()["code"] == "limit_reached"


def test_the_flash_endpoint_wants_a_signed_in_consumer(client, tree):
    campaign = flash(tree)
    response = client.post(buy_url(tree.storefront.slug, campaign))
    assert response.status_code == 401 and response.json()["code"] == "sign_in_required" and "consumer" in response.json()["fields"]
    assert not Order.objects.exists()


def test_the_flash_endpoint_is_csrf_protected(tree):
    campaign = flash(tree)
    browser = sign_in(Client(enforce_csrf_checks=True), Consumer.objects.create(phone="13800001111"))
    assert browser.post(buy_url(tree.storefront.slug, campaign)).status_code == 403
    assert not Order.objects.exists()


def test_the_flash_endpoint_answers_sold_out(client, tree):
    campaign = flash(tree, stock=1)
    sign_in(client, Consumer.objects.create(phone="13800001111")).post(buy_url(tree.storefront.slug, campaign))
    late = sign_in(Client(), Consumer.objects.create(phone="13800002222")).post(buy_url(tree.storefront.slug, campaign))
    assert late.status_code == 409 and late.json()["code"] == "sold_out"


def test_a_neighbours_flash_sale_is_not_sold_in_this_shop(client, tree):
    # the neighbour's sale on its own shop, asked for through the seller's shop
    theirs = Storefront.objects.create(distributor=tree.other, slug="other-shop", title="邻店")
    StorefrontItem.objects.create(storefront=theirs, sku=tree.sku, retail_price=Decimal("29.90"))
    campaign = flash(tree, storefront=theirs)
    response = sign_in(client, Consumer.objects.create(phone="13800001111")).post(buy_url(tree.storefront.slug, campaign))
    assert response.status_code == 404 and not Order.objects.exists()


def checkout_url(tree, **query) -> str:
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_a_campaign_checkout_sends_a_stranger_to_sign_in_and_back(client, tree):
    campaign = flash(tree)
    response = client.get(checkout_url(tree, campaign=campaign.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/me/login/?next=") and f"campaign%3D{campaign.pk}" in response["Location"]


def test_a_signed_in_checkout_shows_the_campaign_price_and_needs_no_lookup_password(client, tree):
    campaign = flash(tree)
    sign_in(client, Consumer.objects.create(phone="13800001111"))
    page = client.get(checkout_url(tree, campaign=campaign.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="checkout-campaign-price"' in page and "9.90" in page
    assert 'name="lookup_password"' not in page and "138****1111" in page
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "campaign": campaign.pk})
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.promotion == campaign and order.total == Decimal("9.90")


def test_a_coupon_typed_at_checkout_discounts_the_order_and_the_receipt_shows_it(client, tree):
    who = Consumer.objects.create(phone="13800001111")
    code = coupons_issue(campaign=coupon_campaign(tree), count=1, consumer=who)[0].code
    sign_in(client, who)
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "coupon": code.lower()})
    assert response.status_code == 302, response.content.decode()[:2000]
    order = Order.objects.get()
    assert order.total == Decimal("24.90") and Coupon.objects.get(code=code).status == Coupon.Status.USED
    receipt = client.get(reverse("settlement:order-receipt", args=[order.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="receipt-discount"' in receipt and "5.00" in receipt


def test_a_wrong_coupon_is_a_field_error_and_places_nothing(client, tree):
    sign_in(client, Consumer.objects.create(phone="13800001111"))
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "coupon": "NOPE"},
                           HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert response.status_code == 200 and not Order.objects.exists()
    assert "coupon" in response.context["form"].errors


def test_a_neighbours_coupon_is_refused(client, tree):
    # a coupon of another consumer cannot be used by this one
    owner = Consumer.objects.create(phone="13800002222")
    code = coupons_issue(campaign=coupon_campaign(tree), count=1, consumer=owner)[0].code
    sign_in(client, Consumer.objects.create(phone="13800001111"))
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "coupon": code})
    assert response.status_code == 200 and not Order.objects.exists()
    assert Coupon.objects.get(code=code).status == Coupon.Status.CLAIMED


def test_an_anonymous_checkout_still_works_as_before(client, tree):
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123",
                                                "pay_method": "sandbox"})  # fmt: skip
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.consumer is None and order.total == order.list_total == Decimal("29.90")


def test_a_bundle_page_sells_the_bundle_with_one_payment(client, tree):
    from tests.settlement.test_offer_orders import bundle

    campaign, other = bundle(tree)
    url = reverse("settlement:bundle", args=[tree.storefront.slug, campaign.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="bundle-price"' in page and "39.90" in page and other.name in page
    response = client.post(url, {"contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"})
    assert response.status_code == 302 and response["Location"].startswith("/pay/sandbox/")
    assert Order.objects.filter(basket__gt="").count() == 2
    paid = client.post(response["Location"], {"result": "pay"})
    lead = Order.objects.get(number=paid["Location"].rstrip("/").split("/")[-2])
    assert set(Order.objects.filter(basket=lead.number).values_list("status", flat=True)) == {Order.Status.DELIVERED}


def test_a_neighbours_bundle_is_not_on_this_shops_page(client, tree):
    from tests.settlement.test_offer_orders import bundle

    campaign, _other = bundle(tree)
    theirs = Storefront.objects.create(distributor=tree.other, slug="other-shop", title="邻店")
    campaign.storefront = theirs
    campaign.save(update_fields=["storefront"])
    assert client.get(reverse("settlement:bundle", args=[tree.storefront.slug, campaign.pk])).status_code == 404


def test_a_campaign_refused_at_checkout_shows_why_on_the_page(client, tree):
    # given a consumer with a paid order: the new-user price is not theirs
    from tests.settlement.test_offer_orders import campaign, pay, place

    offer = campaign(tree, Campaign.Kind.NEW_USER, sku=tree.sku, price=Decimal("19.90"))
    who = Consumer.objects.create(phone="13800001111")
    pay(place(tree, who=who))
    sign_in(client, who)
    response = client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "campaign": offer.pk},
                           HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert response.status_code == 200 and Order.objects.count() == 1
    assert "only for a first order" in response.content.decode()


def test_a_first_timers_checkout_shows_the_new_user_price_and_places_the_order_at_it(client, tree):
    # the new-user price applies by itself to a first order, so the checkout says so (and carries the campaign)
    from tests.settlement.test_offer_orders import campaign, pay

    offer = campaign(tree, Campaign.Kind.NEW_USER, sku=tree.sku, price=Decimal("19.90"))
    sign_in(client, Consumer.objects.create(phone="13800001111"))
    response = client.get(checkout_url(tree), HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["offer"].campaign == offer and response.context["form"]["campaign"].value() == offer.pk
    assert 'data-testid="checkout-campaign-price"' in response.content.decode()
    client.post(checkout_url(tree), {"quantity": 1, "contact": "13800001111", "pay_method": "sandbox", "campaign": offer.pk})
    first = Order.objects.get()
    assert (first.promotion, first.total) == (offer, Decimal("19.90"))
    pay(first)
    # once a first order is paid: the list price, and the page shows no campaign
    again = client.get(checkout_url(tree), HTTP_ACCEPT_LANGUAGE="en")
    assert again.context["offer"].campaign is None and 'data-testid="checkout-campaign"' not in again.content.decode()


def test_a_stranger_sees_no_new_user_price_and_is_not_sent_to_sign_in(client, tree):
    from tests.settlement.test_offer_orders import campaign

    campaign(tree, Campaign.Kind.NEW_USER, sku=tree.sku, price=Decimal("19.90"))
    response = client.get(checkout_url(tree), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and response.context["offer"].campaign is None


def test_a_bundle_with_a_component_out_of_stock_names_it_and_reserves_nothing(client, tree):
    from tests.settlement.test_offer_orders import bundle

    campaign, other = bundle(tree, extra_codes=1)  # two of `other` wanted, one code
    url = reverse("settlement:bundle", args=[tree.storefront.slug, campaign.pk])
    response = client.post(url, {"contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"},
                           HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert response.status_code == 200 and not Order.objects.exists()
    errors = response.context["form"].non_field_errors()
    assert errors == [f"“{other.name}” in this bundle is sold out for now. Nothing was reserved or charged."]


def test_a_bundles_receipt_and_payment_page_show_the_whole_bundle_and_what_was_paid(client, tree):
    # one payment bought every component: the receipt lists them all with the bundle's total, not the lead's share
    from tests.settlement.test_offer_orders import bundle

    campaign, other = bundle(tree)
    url = reverse("settlement:bundle", args=[tree.storefront.slug, campaign.pk])
    pay_url = client.post(url, {"contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"})["Location"]
    pay_page = client.get(pay_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert campaign.name in pay_page.split('data-testid="pay-what"')[1].split("</p>")[0]
    receipt_url = client.post(pay_url, {"result": "pay"})["Location"]
    receipt = client.get(receipt_url, HTTP_ACCEPT_LANGUAGE="en")
    bought = receipt.context["bought"]
    assert [(line.sku, line.quantity) for line in bought["lines"]] == [(tree.sku, 1), (other, 2)]
    assert bought["total"] == Decimal("39.90")
    page = receipt.content.decode()
    assert page.count('data-testid="receipt-line"') == 2 and "¥39.90" in page.split('data-testid="receipt-total"')[1][:40]
