"""Top-ups on the pages: the portal's buy form and order list/detail, the storefront checkout (paid by the
sandbox, refunded through the payment when the top-up fails) and its receipt."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from settlement.models import Account, Order, Payment
from supply.models import Topup
from tests.settlement.topup_fixtures import (
    RETAIL,
    SELLER_PRICE,
    balance,
    finish,
    held_balance,
    ledger_ok,
    topup_world_fixture,  # noqa: F401 (the topup_world fixture)
    wallet_balance,
)

pytestmark = pytest.mark.django_db
K = Account.Kind


@pytest.fixture
def seller_client(client, tree, topup_world):
    client.force_login(tree.seller_user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_the_portal_buys_a_top_up_for_an_account_and_lists_it_with_its_state(seller_client, tree, topup_world):
    url = reverse("settlement:portal-buy")
    page = seller_client.get(url).content.decode()
    assert 'data-testid="direct-topup"' in page and 'name="account"' in page
    # the form, then the confirmation that repeats the account, then the order
    form = {"sku": topup_world.sku.code, "quantity": 1, "account": "138-0013-8000"}
    confirm = seller_client.post(url, form)
    assert confirm.status_code == 200 and 'data-testid="quote-account"' in confirm.content.decode()
    assert "13800138000" in confirm.content.decode()
    key = confirm.context["form"].cleaned_data["submit_key"]
    done = seller_client.post(url, {**form, "account": "13800138000", "submit_key": key, "step": "confirm"})
    order = Order.objects.get()
    assert done.status_code == 302 and done.url == reverse("settlement:portal-order", args=[order.number])
    assert order.status == Order.Status.PAID and order.topup_account == "13800138000"
    assert Topup.objects.filter(reference=order.number).exists()
    assert wallet_balance(tree.seller) == Decimal("500.00") - SELLER_PRICE
    # the list and the detail show the top-up's state beside the order's, as labels
    listing = seller_client.get(reverse("settlement:portal-orders")).content.decode()
    assert 'data-testid="topup-state"' in listing and "Top-up: Pending" in listing
    detail = seller_client.get(reverse("settlement:portal-order", args=[order.number])).content.decode()
    assert 'data-testid="topup-card"' in detail and "13800138000" in detail and "Show codes" not in detail
    finish(order, "partial", delivered="30.00")
    detail = seller_client.get(reverse("settlement:portal-order", args=[order.number])).content.decode()
    assert "Partially refunded" in detail and 'data-testid="topup-refunded"' in detail and "partial" not in detail.split("<main")[-1]
    ledger_ok()


def test_a_bad_account_in_the_portal_form_is_an_error_on_the_account_field(seller_client, tree, topup_world):
    response = seller_client.post(reverse("settlement:portal-buy"), {"sku": topup_world.sku.code, "quantity": 1, "account": "12345"})
    assert response.status_code == 200
    assert "account" in response.context["form"].errors and "mobile number" in response.context["form"].errors["account"][0]
    two = seller_client.post(reverse("settlement:portal-buy"), {"sku": topup_world.sku.code, "quantity": 2, "account": "13800138000"})
    assert "quantity" in two.context["form"].errors
    assert not Order.objects.exists()


def checkout(client, tree, world, **data):
    url = reverse("settlement:checkout", args=[tree.storefront.slug, world.sku.code])
    body = {"quantity": 1, "account": "13800138000", "contact": "buyer@example.test", "lookup_password": "secret-123"}
    return client.post(url, {**body, "pay_method": "sandbox", **data}, HTTP_ACCEPT_LANGUAGE="en")


def test_a_storefront_top_up_paid_by_sandbox_is_refunded_through_the_payment_when_it_fails(client, tree, topup_world):
    page = client.get(reverse("settlement:checkout", args=[tree.storefront.slug, topup_world.sku.code]), HTTP_ACCEPT_LANGUAGE="en")
    assert 'name="account"' in page.content.decode() and 'type="hidden" name="quantity"' in page.content.decode()
    # when a consumer checks out a top-up and pays by the sandbox
    response = checkout(client, tree, topup_world)
    assert response.status_code == 302, response.context and response.context["form"].errors
    order = Order.objects.get()
    assert order.status == Order.Status.PENDING and not Topup.objects.exists()  # nothing is topped up before payment
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    order.refresh_from_db()
    # then the payment is held and the top-up requested
    assert order.status == Order.Status.PAID and Topup.objects.get(reference=order.number).account == "13800138000"
    assert held_balance() == RETAIL
    # when the top-up fails: the payment goes back through the sandbox
    finish(order, "failed", cost=None)
    order.refresh_from_db()
    payment = order.payments.get()
    assert order.status == Order.Status.REFUNDED and order.refunded_amount == RETAIL
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_amount == RETAIL
    assert held_balance() == 0 and balance(K.REFUNDS_CLEARING) == 0 and balance(K.PAYMENT_CLEARING) == 0
    assert balance(K.REVENUE) == 0
    ledger_ok()
    receipt = client.get(reverse("settlement:order-receipt", args=[order.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="receipt-topup-state"' in receipt and "refunded the way you paid" in receipt
    assert 'data-testid="receipt-codes"' not in receipt


def test_a_storefront_top_up_that_succeeds_books_the_sellers_margin(client, tree, topup_world):
    checkout(client, tree, topup_world)
    order = Order.objects.get()
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    finish(order, "success", delivered="50.00", cost="47.50")
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and balance(K.REVENUE) == RETAIL and held_balance() == 0
    margin = order.commissions.get(depth=0)
    assert margin.amount == RETAIL - SELLER_PRICE
    ledger_ok()
    receipt = client.get(reverse("settlement:order-receipt", args=[order.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The account has been topped up." in receipt


def test_a_bad_account_at_checkout_is_an_error_on_the_account_field(client, tree, topup_world):
    response = checkout(client, tree, topup_world, account="abc")
    assert response.status_code == 200 and "account" in response.context["form"].errors
    assert not Order.objects.exists()


def test_the_order_lookup_shows_a_top_ups_state_not_codes(client, tree, topup_world):
    checkout(client, tree, topup_world, contact="13900139000")
    order = Order.objects.get()
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    finish(order, "partial", delivered="10.00", cost="9.50")
    response = Client().post(
        reverse("settlement:order-lookup"),
        {"number": order.number, "contact": "13900139000", "lookup_password": "secret-123"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = response.content.decode()
    assert response.status_code == 200 and "13800138000" in page and "topped up in part" in page
    assert 'data-testid="lookup-codes"' not in page and "released after a short check" not in page


@pytest.mark.parametrize("status, delivered, words", [("success", "50.00", "is topped up to"), ("failed", None, "could not be made")])
def test_a_storefront_buyer_is_told_how_the_top_up_went(
    client, tree, topup_world, mailoutbox, django_capture_on_commit_callbacks, status, delivered, words
):
    from redemption.notify import ConsoleSmsBackend

    ConsoleSmsBackend.outbox.clear()
    checkout(client, tree, topup_world, contact="13900139000")
    order = Order.objects.get()
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        finish(order, status, delivered=delivered)
    sent = [m for m in ConsoleSmsBackend.outbox if m.to == "13900139000"]
    assert len(sent) == 1 and order.number in sent[0].text and words in sent[0].text and "13800138000" in sent[0].text
    # an e-mail buyer gets an e-mail
    other = Client()
    checkout(other, tree, topup_world, contact="buyer@example.test", account="13700137000")
    second = Order.objects.exclude(pk=order.pk).get()
    other.post(reverse("settlement:sandbox-pay", args=[second.payments.get().number]), {"result": "pay"})
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        finish(second, status, delivered=delivered)
    assert [m.to for m in mailoutbox] == [["buyer@example.test"]] and words in mailoutbox[0].body
    if status == "failed":
        assert "¥49.90" in mailoutbox[0].body
