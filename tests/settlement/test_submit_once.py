"""A form that places an order places it once: a double click, a reload that posts again or the back button's
old form lands on the order the first submission placed (invariant 4: a retried write returns the first
answer). Each showing of the form carries a new key; only keys the form could have made are used."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import CardCode
from settlement.models import Order
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import wallet_account
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


def submit_key(page: bytes) -> str:
    found = re.search(rb'name="submit_key" value="([0-9a-f]{32})"', page)
    assert found, "the form carries no submit key"
    return found.group(1).decode()


def test_a_portal_order_sent_twice_is_placed_once_and_paid_once(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    key = submit_key(funded_seller_client.get(url).content)
    assert submit_key(funded_seller_client.get(url).content) != key  # a new key each time the form is shown
    form = {"sku": tree.sku.code, "quantity": 3, "submit_key": key, "step": "confirm"}

    first = funded_seller_client.post(url, form)
    order = Order.objects.get()
    assert first.status_code == 302 and first["Location"] == reverse("settlement:portal-order", args=[order.number])
    again = funded_seller_client.post(url, form, follow=True)
    assert again.redirect_chain[-1][0] == reverse("settlement:portal-order", args=[order.number])
    assert f"Order {order.number} was placed with this form already." in again.content.decode()

    assert Order.objects.count() == 1 and CardCode.objects.filter(status="sold").count() == 3
    assert wallet_account(wallet_for(tree.seller), "wallet").balance == Decimal("500.00") - order.total
    assert ledger_check().ok


def test_a_new_showing_of_the_form_places_a_new_order(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    for _ in range(2):
        key = submit_key(funded_seller_client.get(url).content)
        assert (
            funded_seller_client.post(url, {"sku": tree.sku.code, "quantity": 1, "submit_key": key, "step": "confirm"}).status_code == 302
        )
    assert Order.objects.count() == 2


def test_the_same_form_sent_again_with_another_quantity_is_another_order(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    key = submit_key(funded_seller_client.get(url).content)
    for quantity in (1, 1, 2, 2):
        assert (
            funded_seller_client.post(url, {"sku": tree.sku.code, "quantity": quantity, "submit_key": key, "step": "confirm"}).status_code
            == 302
        )
    assert sorted(Order.objects.values_list("quantity", flat=True)) == [1, 2]


def test_a_refused_form_keeps_its_key_and_the_corrected_one_places_the_order_once(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    key = submit_key(funded_seller_client.get(url).content)
    refused = funded_seller_client.post(url, {"sku": tree.sku.code, "quantity": 0, "submit_key": key, "step": "confirm"})
    assert refused.status_code == 200 and submit_key(refused.content) == key and not Order.objects.exists()
    for _ in range(2):
        funded_seller_client.post(url, {"sku": tree.sku.code, "quantity": 2, "submit_key": key, "step": "confirm"})
    assert Order.objects.count() == 1


def test_an_edited_key_is_not_used(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    for _ in range(2):
        assert (
            funded_seller_client.post(url, {"sku": tree.sku.code, "quantity": 1, "submit_key": "not-a-key", "step": "confirm"}).status_code
            == 302
        )
    assert Order.objects.count() == 2 and not Order.objects.exclude(idempotency_key=None).exists()


def test_a_storefront_checkout_sent_twice_makes_one_order_and_one_payment(client, tree):
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    key = submit_key(client.get(url).content)
    form = {
        "quantity": 2,
        "contact": "buyer@example.test",
        "lookup_password": "secret-123",
        "pay_method": "sandbox",
        "submit_key": key,
    }
    first = client.post(url, form)
    again = client.post(url, form)
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    order = Order.objects.get()
    assert order.status == Order.Status.PENDING and order.payments.count() == 1
    assert CardCode.objects.filter(status="reserved").count() == 2


def test_a_checkout_sent_again_after_payment_goes_to_its_receipt(client, tree):
    from settlement.services.orders import order_pay
    from settlement.services.payments import payment_for_order

    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    form = {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"}
    form["submit_key"] = submit_key(client.get(url).content)
    client.post(url, form)
    order = Order.objects.get()
    order_pay(order=order, payment=payment_for_order(order=order))
    again = client.post(url, form)
    assert again.status_code == 302 and again["Location"] == reverse("settlement:order-receipt", args=[order.number])
    assert Order.objects.count() == 1


def test_a_twin_that_missed_the_lookup_gets_the_first_order(tree, finance_user):
    # Two submissions racing past the view's lookup both call order_place: the second finds the order holding
    # the key, and the wallet is debited once.
    from settlement.services.orders import order_place

    fund(tree.seller, "500.00", actor=finance_user)
    placed = [
        order_place(
            channel=Order.Channel.PORTAL,
            distributor=tree.seller,
            sku=tree.sku,
            quantity=2,
            actor=tree.seller_user,
            idempotency_key="portal:" + "a" * 32 + ":x",
        )
        for _ in range(2)
    ]
    assert placed[0].pk == placed[1].pk and Order.objects.count() == 1
    assert wallet_account(wallet_for(tree.seller), "wallet").balance == Decimal("500.00") - placed[0].total
    assert ledger_check().ok
