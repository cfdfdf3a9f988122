"""The storefront checkout's contact (a mainland mobile number or an e-mail address), the pay page that
says where the link goes, and the receipt the buyer lands on after paying."""

import re

import pytest
from django.urls import reverse

from redemption.notify import ConsoleSmsBackend
from settlement.errors import SettlementError
from settlement.models import Order
from settlement.services.contacts import contact_parse
from settlement.services.orders import order_place

pytestmark = pytest.mark.django_db


def checkout(client, tree, **data):
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox", **data}
    return client.post(url, body, HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize(
    "raw, kind, stored",
    [
        ("13800138000", "phone", "13800138000"),
        ("138 0013 8000", "phone", "13800138000"),
        ("+86 138-0013-8000", "phone", "13800138000"),
        ("8619912345678", "phone", "19912345678"),
        (" Li.Na@Example.COM ", "email", "Li.Na@example.com"),
    ],
)
def test_a_mainland_mobile_number_or_an_email_address_is_a_contact(raw, kind, stored):
    contact = contact_parse(raw)
    assert (contact.kind, contact.value) == (kind, stored)


@pytest.mark.parametrize(
    "raw",
    [
        "buyer",
        "12345",
        "1380013800",
        "138001380001",
        "12800138000",
        "+1 415 555 0100",
        "buyer@",
        "@example.com",
        "a b@example.com",
        "wechat:li_na",
    ],
)
def test_anything_else_is_refused_at_checkout_with_a_field_message_and_no_order(client, tree, raw):
    response = checkout(client, tree, contact=raw)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "contact" in errors and "mainland China mobile number" in errors["contact"][0]
    assert not Order.objects.exists()


def test_the_checkout_form_says_which_contacts_it_takes(client, tree):
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "A mainland China mobile number (11 digits" in page and "or an e-mail address" in page


def test_the_service_refuses_a_bad_contact_too(tree):
    # the API and any other caller of order_place get the same rule, naming the field
    with pytest.raises(SettlementError) as refused:
        order_place(
            channel=Order.Channel.STOREFRONT,
            distributor=tree.seller,
            storefront=tree.storefront,
            sku=tree.sku,
            quantity=1,
            contact="call me maybe",
            lookup_password="secret-123",
        )
    assert refused.value.field == "contact" and refused.value.status == 400
    assert not Order.objects.exists()


def test_a_mobile_number_is_stored_as_its_digits_and_the_lookup_takes_any_spelling(client, tree, clear_cache):
    checkout(client, tree, contact="+86 138 0013 8000")
    order = Order.objects.get()
    assert order.contact == "13800138000"
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    lookup = client.post(
        reverse("settlement:order-lookup"), {"number": order.number, "contact": "138-0013-8000", "lookup_password": "secret-123"}
    )
    assert lookup.status_code == 200 and lookup.context["codes"]


def test_the_pay_page_repeats_where_the_link_goes_masked(client, tree):
    response = checkout(client, tree, contact="13800138000")
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "sent by text message to <strong>138****8000</strong>" in page
    assert "13800138000" not in page
    response = checkout(client.__class__(), tree, contact="li.na@example.com", quantity=2)
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "sent by e-mail to <strong>l***@example.com</strong>" in page


def test_after_payment_the_buyer_lands_on_the_receipt_with_a_button_to_the_code_page(
    client, tree, mailoutbox, django_capture_on_commit_callbacks
):
    response = checkout(client, tree, quantity=2)
    order = Order.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(response["Location"], {"result": "pay"})
    receipt_url = reverse("settlement:order-receipt", args=[order.number])
    assert paid.status_code == 302 and paid["Location"] == receipt_url
    receipt = client.get(receipt_url, HTTP_ACCEPT_LANGUAGE="en")
    html = receipt.content.decode()
    assert receipt.status_code == 200 and "no-store" in receipt["Cache-Control"]
    assert order.number in html and f"{tree.sku.name} × 2" in html
    assert "We also sent this link by e-mail to b***@example.test." in html
    link = re.search(r'href="([^"]*/my/[^"]+)"[^>]*data-testid="receipt-codes"', html).group(1)
    assert link in mailoutbox[0].body  # the same private page the e-mail points to
    code_page = client.get(link.replace("http://127.0.0.1:8000", ""))
    assert code_page.status_code == 200 and code_page.content.decode().count('data-testid="held-code"') == 2


def test_a_mobile_buyer_gets_the_link_by_text_message(client, tree, django_capture_on_commit_callbacks):
    ConsoleSmsBackend.outbox.clear()
    response = checkout(client, tree, contact="13800138000")
    order = Order.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"result": "pay"})
    sent = [m for m in ConsoleSmsBackend.outbox if m.to == "13800138000"]
    assert len(sent) == 1 and order.number in sent[0].text and "/my/" in sent[0].text
    html = client.get(reverse("settlement:order-receipt", args=[order.number]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "We also sent this link by text message to 138****8000." in html


def test_the_receipt_opens_only_in_the_browser_that_placed_the_order(client, tree):
    response = checkout(client, tree)
    order = Order.objects.get()
    client.post(response["Location"], {"result": "pay"})
    stranger = client.__class__()
    elsewhere = stranger.get(reverse("settlement:order-receipt", args=[order.number]))
    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == reverse("settlement:order-lookup") + f"?number={order.number}"
