"""The sandbox payment adapter moves no money: in production it does not exist unless PAYMENT_SANDBOX is set,
on any route (portal top-up, storefront checkout, its pay page, the callback URL, the services), and finance
sees per adapter the money received against the money credited, a credit without a receipt flagged."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from settlement.adapters import SandboxAdapter
from settlement.errors import PaymentAdapterUnavailable
from settlement.models import Order, Payment, Transfer
from settlement.selectors.finance import payment_reconciliation
from settlement.selectors.wallets import wallet_summary
from settlement.services.orders import order_place
from settlement.services.payments import payment_confirm_manual, payment_for_topup, payment_number
from settlement.services.wallets import wallet_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    """The settings DJANGO_ENV=production gives (without PAYMENT_SANDBOX), behind a TLS proxy."""
    settings.DJANGO_ENV = "production"
    settings.PRODUCTION = True
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def https(client: Client) -> Client:
    client.defaults.update(HTTP_X_FORWARDED_PROTO="https", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def seller(client, tree):
    client.force_login(tree.seller_user)
    return https(client)


def sandbox_payment(tree, amount="500.00") -> Payment:
    """A sandbox top-up payment left from before the sandbox was switched off."""
    wallet = wallet_for(tree.seller)
    return Payment.objects.create(
        number=payment_number(),
        purpose=Payment.Purpose.TOPUP,
        adapter="sandbox",
        wallet=wallet,
        amount=Decimal(amount),
        currency=wallet.currency,
    )


def test_the_portal_top_up_refuses_the_sandbox_in_production(production, seller, tree):
    # when the probe's request is replayed: a ¥500 top-up through the sandbox
    page = seller.get(reverse("settlement:portal-wallet"))
    response = seller.post(reverse("settlement:portal-wallet"), {"amount": "500.00", "adapter": "sandbox"})
    # then the form refuses the choice, and the form never offered it
    assert response.status_code == 200
    assert "adapter" in response.context["form"].errors
    assert 'value="sandbox"' not in page.content.decode() and 'value="manual"' in page.content.decode()
    assert not Payment.objects.exists()
    assert wallet_summary(wallet_for(tree.seller)).balance == 0


def test_the_sandbox_pay_page_is_not_found_in_production(production, seller, tree):
    payment = sandbox_payment(tree)
    url = reverse("settlement:sandbox-pay", args=[payment.number])
    assert seller.get(url).status_code == 404
    assert https(Client()).post(url, {"result": "pay"}).status_code == 404  # no login needed: none gets through
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert wallet_summary(wallet_for(tree.seller)).balance == 0
    assert not Transfer.objects.filter(kind=Transfer.Kind.TOPUP, reference=payment.number).exists()


def test_a_signed_sandbox_callback_is_not_found_in_production(production, tree):
    payment = sandbox_payment(tree)
    adapter = SandboxAdapter()
    body = adapter.callback_body(event_id="e1", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount)
    response = https(Client()).post(
        reverse("settlement:payment-callback", args=["sandbox"]),
        body,
        content_type="application/json",
        headers={adapter.SIGNATURE_HEADER: adapter.sign(body)},
    )
    assert response.status_code == 404
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_the_storefront_checkout_refuses_the_sandbox_in_production(production, client, tree):
    https(client)
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123"}
    refused = client.post(url, {**body, "pay_method": "sandbox"})
    assert refused.status_code == 200 and "pay_method" in refused.context["form"].errors
    assert not Order.objects.exists()
    # the bank transfer still works
    placed = client.post(url, {**body, "pay_method": "manual"})
    assert placed.status_code == 302 and "/pay/manual/" in placed["Location"]
    assert Order.objects.get().pay_method == "manual"


def test_the_services_refuse_the_sandbox_in_production(production, tree):
    with pytest.raises(PaymentAdapterUnavailable) as refused:
        order_place(
            channel=Order.Channel.STOREFRONT,
            distributor=tree.seller,
            storefront=tree.storefront,
            sku=tree.sku,
            quantity=1,
            contact="buyer@example.test",
            lookup_password="secret-123",
            pay_method="sandbox",
        )
    assert refused.value.field == "pay_method"
    with pytest.raises(PaymentAdapterUnavailable) as refused:
        payment_for_topup(wallet=wallet_for(tree.seller), amount="500.00", adapter="sandbox")
    assert refused.value.field == "adapter"
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_development_keeps_the_sandbox_on_by_default(settings, seller, tree):
    assert settings.PAYMENT_SANDBOX is True  # DJANGO_ENV=development's default (make run, the demo)
    page = seller.get(reverse("settlement:portal-wallet")).content.decode()
    assert 'value="sandbox"' in page
    assert 'data-testid="sandbox-banner"' not in page


def test_staff_see_a_banner_while_the_sandbox_is_on_in_production(production, tree, finance_user, seller):
    production.PAYMENT_SANDBOX = True
    finance = https(Client())
    finance.force_login(finance_user)
    assert 'data-testid="sandbox-banner"' in finance.get(reverse("dashboards:finance-home")).content.decode()
    assert "Sandbox payments on" in finance.get(reverse("admin:index")).content.decode()
    # a distributor (not staff) is not told
    assert 'data-testid="sandbox-banner"' not in seller.get(reverse("settlement:portal-wallet")).content.decode()
    # switched off: no banner
    production.PAYMENT_SANDBOX = False
    assert 'data-testid="sandbox-banner"' not in finance.get(reverse("dashboards:finance-home")).content.decode()


def test_the_finance_home_flags_credits_without_a_receipt_per_adapter(seller, tree, finance_user):
    # given a ¥500 top-up paid in the sandbox (the probe's path), and a ¥200 bank transfer finance confirmed
    started = seller.post(reverse("settlement:portal-wallet"), {"amount": "500.00", "adapter": "sandbox"})
    paid = https(Client()).post(started["Location"], {"result": "pay"})
    assert paid.status_code == 302
    fake = Payment.objects.get(adapter="sandbox")
    bank = payment_for_topup(wallet=wallet_for(tree.seller), amount="200.00", adapter="manual")
    payment_confirm_manual(payment=bank, actor=finance_user, amount="200.00", bank_reference="BANK-1")
    assert wallet_summary(wallet_for(tree.seller)).balance == Decimal("700.00")
    # when finance opens its home
    rows = {row.adapter: row for row in payment_reconciliation()}
    finance = https(Client())
    finance.force_login(finance_user)
    page = finance.get(reverse("dashboards:finance-home")).content.decode()
    # then the sandbox credited ¥500 with nothing received, flagged with the payment; the bank transfer matches
    assert (rows["sandbox"].credited, rows["sandbox"].received, rows["sandbox"].unmatched) == (Decimal("500.00"), 0, 1)
    assert rows["sandbox"].unmatched_numbers == [fake.number]
    assert (rows["manual"].credited, rows["manual"].received, rows["manual"].flagged) == (Decimal("200.00"), Decimal("200.00"), False)
    assert 'data-testid="reconciliation-sandbox"' in page and fake.number in page
    assert "1 credit without a matching receipt (¥500.00)" in page


def test_a_sandbox_credit_stays_flagged_after_the_sandbox_is_switched_off(production, tree, finance_user):
    payment = sandbox_payment(tree)
    production.PAYMENT_SANDBOX = True  # it was on when the "payment" came in
    adapter = SandboxAdapter()
    body = adapter.callback_body(event_id="e1", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount)
    https(Client()).post(
        reverse("settlement:payment-callback", args=["sandbox"]),
        body,
        content_type="application/json",
        headers={adapter.SIGNATURE_HEADER: adapter.sign(body)},
    )
    production.PAYMENT_SANDBOX = False
    rows = {row.adapter: row for row in payment_reconciliation()}
    assert rows["sandbox"].enabled is False and rows["sandbox"].unmatched == 1 and rows["sandbox"].credited == Decimal("500.00")
