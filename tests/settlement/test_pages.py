"""Portal, storefront checkout, order lookup and finance pages: the paths people click, their scoping and secrets."""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from catalog.models import CardCode
from catalog.vault import keyring
from settlement.models import Order, Statement, Withdrawal
from settlement.services.commission import commission_release
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_request
from tests import factories
from tests.settlement.conftest import fund
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
PASSWORD = factories.DEFAULT_PASSWORD if hasattr(factories, "DEFAULT_PASSWORD") else None


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


@pytest.fixture
def seller_client(client, tree):
    tree.seller_user.set_password("seller-pass-1")
    tree.seller_user.save()
    client.force_login(tree.seller_user)
    return client


def test_portal_order_then_codes_only_after_second_verification(seller_client, tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    response = seller_client.post(reverse("settlement:portal-buy"), {"sku": tree.sku.code, "quantity": 2, "step": "confirm"})
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.channel == "portal" and order.status == "delivered"
    detail = seller_client.get(response["Location"])
    codes = [plain(i.code) for i in order.items.select_related("code")]
    assert detail.status_code == 200 and order.number in detail.content.decode()
    assert not any(c in detail.content.decode() for c in codes)
    url = reverse("settlement:portal-order-codes", args=[order.number])
    wrong = seller_client.post(url, {"password": "nope", "mode": "download"})
    assert wrong.status_code == 302 and not AuditLog.objects.filter(action="code.reveal").exists()
    download = seller_client.post(url, {"password": "seller-pass-1", "mode": "download"})
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    text = download.content.decode("utf-8-sig")
    assert all(c in text for c in codes)
    assert "no-store" in download["Cache-Control"]
    assert AuditLog.objects.filter(action="code.reveal").count() == 2


def test_portal_pages_show_money(seller_client, tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    for name in ("portal-orders", "portal-wallet", "portal-commission", "portal-withdrawals", "portal-statements"):
        response = seller_client.get(reverse(f"settlement:{name}"))
        assert response.status_code == 200, name
    wallet = seller_client.get(reverse("settlement:portal-wallet")).content.decode()
    assert "74.00" in wallet and "BANK-" in wallet


def test_neighbours_orders_and_statements_are_404_on_every_portal_page_and_api(client, tree, finance_user):
    fund(tree.other, "100.00", actor=finance_user)
    theirs = order_place(channel=Order.Channel.PORTAL, distributor=tree.other, sku=tree.sku, quantity=1)
    from datetime import timedelta

    from settlement.services.statements import statement_generate

    statement = statement_generate(
        wallet=wallet_for(tree.other), start=timezone.now() - timedelta(days=1), end=timezone.now() + timedelta(days=1)
    )
    tree.seller_user.set_password("seller-pass-1")
    tree.seller_user.save()
    client.force_login(tree.seller_user)
    assert client.get(reverse("settlement:portal-order", args=[theirs.number])).status_code == 404
    assert client.post(reverse("settlement:portal-order-codes", args=[theirs.number]), {"password": "seller-pass-1"}).status_code == 404
    assert client.get(reverse("settlement:portal-statement", args=[statement.pk])).status_code == 404
    assert client.get(reverse("settlement:portal-statement-download", args=[statement.pk])).status_code == 404
    listing = client.get(reverse("settlement:portal-orders")).content.decode()
    assert theirs.number not in listing
    # the signed API answers the same for the neighbour's number
    from tests.settlement.test_api import Api

    api = Api(client, tree.seller)
    for path in (f"/api/v1/orders/{theirs.number}/", f"/api/v1/orders/{theirs.number}/codes/"):
        response = api.get(path)
        assert response.status_code == 404, path
    listed = api.get("/api/v1/orders/").json()
    assert theirs.number not in str(listed)
    assert not AuditLog.objects.filter(action="code.reveal").exists()


def checkout(client, tree, **data):
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": "buyer@example.test", "lookup_password": "secret-123", "pay_method": "sandbox", **data}
    return client.post(url, body)


def test_storefront_checkout_pays_in_the_sandbox_and_the_lookup_shows_the_code(client, tree):
    product = client.get(reverse("channels:shop-product", args=[tree.storefront.slug, tree.sku.code])).content.decode()
    assert reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code]) in product
    response = checkout(client, tree)
    assert response.status_code == 302 and "/pay/sandbox/" in response["Location"]
    order = Order.objects.get()
    assert order.channel == "storefront" and order.status == "pending"
    paid = client.post(response["Location"], {"result": "pay"})
    assert paid.status_code == 302 and order.number in paid["Location"]
    order.refresh_from_db()
    assert order.status == "delivered"
    code = plain(order.items.get().code)
    lookup = reverse("settlement:order-lookup")
    page = client.post(lookup, {"number": order.number, "contact": " Buyer@Example.test ", "lookup_password": "secret-123"})
    assert page.status_code == 200 and code in page.content.decode()
    # the private code page (redemption's), the same link that was e-mailed
    import re

    link = re.search(r'href="([^"]*/my/[^"]+)"', page.content.decode()).group(1)
    assert client.get(link.replace("http://127.0.0.1:8000", "")).status_code == 200


def test_an_order_records_the_campaign_and_referrer_of_the_link_that_brought_the_buyer(client, tree):
    shop = reverse("channels:shop", args=[tree.storefront.slug])
    product = reverse("channels:shop-product", args=[tree.storefront.slug, tree.sku.code])
    # a WeChat group post opens the shop; the buyer browses to a product and buys there
    client.get(shop + "?utm_campaign=double-11&ref=group-leader-07", HTTP_REFERER="https://mp.weixin.qq.com/s/abc")
    client.get(product, HTTP_REFERER="http://testserver" + shop)  # the shop's own page: no new source
    checkout(client, tree)
    first = Order.objects.get()
    assert (first.campaign, first.referrer) == ("double-11", "group-leader-07")

    # another visitor arrives from a search engine without a tag: the outside page is the referrer
    other = client.__class__()
    other.get(product, HTTP_REFERER="https://www.baidu.com/s?wd=coffee")
    checkout(other, tree)
    second = Order.objects.exclude(pk=first.pk).get()
    assert (second.campaign, second.referrer) == ("", "https://www.baidu.com/s?wd=coffee")

    # a visitor who typed the address: no source, and no session was made for it
    plain_visitor = client.__class__()
    plain_visitor.get(product)
    assert "sessionid" not in plain_visitor.cookies
    checkout_url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    plain_visitor.post(
        checkout_url,
        {"quantity": 1, "contact": "c@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"},
        HTTP_REFERER="http://testserver" + checkout_url,
    )
    third = Order.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert (third.campaign, third.referrer) == ("", "")


def test_lookup_needs_all_three_secrets_and_is_locked_after_failures(client, tree, settings, clear_cache, monkeypatch):
    settings.SETTLEMENT_LOOKUP_MAX_FAILURES = 5
    settings.SETTLEMENT_LOOKUP_WINDOW_SECONDS = 15 * 60
    checkout(client, tree)
    order = Order.objects.get()
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    code = plain(order.items.get().code)
    lookup = reverse("settlement:order-lookup")
    right = {"number": order.number, "contact": "buyer@example.test", "lookup_password": "secret-123"}
    for wrong in ({"contact": "someone@example.test"}, {"lookup_password": "secret-124"}, {"number": "VH000000AAAAAAAAAA"}):
        response = client.post(lookup, {**right, **wrong})
        assert response.status_code == 404 and code not in response.content.decode()
    # guessing passwords: after 5 failures on this order number even the right answer is refused
    for n in range(3):
        client.post(lookup, {**right, "lookup_password": f"guess-{n}"}, REMOTE_ADDR=f"203.0.113.{n}")
    locked = client.post(lookup, right, REMOTE_ADDR="198.51.100.99")
    assert locked.status_code == 429 and code not in locked.content.decode()
    # a Redis flush lifts nothing: the count starts again from the failures in the audit log
    clear_cache()
    assert client.post(lookup, right, REMOTE_ADDR="198.51.100.98").status_code == 429
    # once those failures are older than the window (and the cache's count expired), the right answer opens it
    from settlement.services import lookup as lookup_service

    later = lookup_service.clock() + timedelta(seconds=settings.SETTLEMENT_LOOKUP_WINDOW_SECONDS + 1)
    monkeypatch.setattr(lookup_service, "clock", lambda: later)
    clear_cache()
    assert code in client.post(lookup, right).content.decode()


def test_no_mail_or_webhook_or_log_has_a_plaintext_code(client, tree, mailoutbox, caplog):
    from settlement.models import WebhookDelivery
    from settlement.services.notify import webhook_endpoint_set

    webhook_endpoint_set(distributor=tree.seller, url="https://hooks.example.test/vh")  # so webhooks are written and scanned
    checkout(client, tree, quantity=2)
    order = Order.objects.get()
    client.post(reverse("settlement:sandbox-pay", args=[order.payments.get().number]), {"result": "pay"})
    codes = [plain(i.code) for i in order.items.select_related("code")]
    assert sorted(WebhookDelivery.objects.filter(order=order).values_list("event", flat=True)) == ["order.delivered", "order.paid"]
    blobs = [m.body + str(m.subject) for m in mailoutbox] + [str(d.payload) for d in WebhookDelivery.objects.all()] + [caplog.text]
    blobs += [str(row) for row in AuditLog.objects.values()]
    for code in codes:
        assert all(code not in blob for blob in blobs)


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def test_finance_approves_a_withdrawal_and_downloads_a_statement_xlsx(finance_client, tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    for _ in range(3):
        order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=20 // 4)
    for accrual in wallet_for(tree.mid).commissions.all():
        commission_release(accrual=accrual)
    available = wallet_for(tree.mid)
    from settlement.selectors.wallets import wallet_summary

    amount = wallet_summary(available).commission_available
    assert amount > 0
    import django.test

    with django.test.override_settings(SETTLEMENT_WITHDRAWAL_MINIMUM="1.00"):
        withdrawal = withdrawal_request(wallet=available, amount=amount, payee="ICBC 6222 0000", actor=None)
    home = finance_client.get(reverse("dashboards:finance-home")).content.decode()
    assert 'data-testid="withdrawals-pending">1<' in home and 'data-testid="ledger-status"' in home
    response = finance_client.post(
        reverse("settlement:finance-withdrawal-decide", args=[withdrawal.pk]), {"decision": "approve", "payout_reference": "BANK-77"}
    )
    assert response.status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.APPROVED and withdrawal.payout_reference == "BANK-77"
    # a statement for today, downloaded as XLSX: summary plus lines traceable to orders
    made = finance_client.post(
        reverse("settlement:finance-statements"),
        {"distributor": tree.seller.pk, "start": str(timezone.localdate()), "end": str(timezone.localdate())},
    )
    statement = Statement.objects.get()
    assert made.status_code == 302
    download = finance_client.get(reverse("settlement:finance-statement-download", args=[statement.pk]))
    assert download.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    summary, lines = book.worksheets
    first = next(summary.iter_rows(values_only=True))
    assert first[1] == statement.number
    rows = list(lines.iter_rows(values_only=True))
    assert rows[0][0] == "分录号" and {r[5] for r in rows[1:]} >= {order.number}
    detail_url = reverse("settlement:finance-statement", args=[statement.pk])
    too_long = finance_client.post(detail_url, {"note": "x" * 301})
    assert too_long.status_code == 200 and too_long.context["form"].errors["note"]
    statement.refresh_from_db()
    assert statement.status == Statement.Status.OPEN
    done = finance_client.post(detail_url, {"note": "ok"})
    assert done.status_code == 302 and done["Location"] == detail_url
    statement.refresh_from_db()
    assert statement.status == Statement.Status.RECONCILED and statement.note == "ok"
    codes = CardCode.objects.filter(order_items__order__distributor=tree.seller)
    text = str(rows)
    assert all(plain(c) not in text for c in codes)


def test_finance_pages_need_the_finance_role(client, tree):
    user = factories.UserFactory(username="nosy", role=roles.DISTRIBUTOR)
    client.force_login(user)
    for name in ("finance-withdrawals", "finance-statements", "finance-exports", "finance-payments", "finance-wallets"):
        assert client.get(reverse(f"settlement:{name}")).status_code == 403, name


def test_a_distributor_requests_a_withdrawal_in_the_portal_and_sees_it_listed(seller_client, tree):
    from decimal import Decimal

    from tests.settlement.test_orders import balances, commission_available_give

    commission_available_give(tree.seller, "150.00")
    url = reverse("settlement:portal-withdrawals")
    page = seller_client.get(url)
    assert page.status_code == 200 and 'data-testid="withdrawal-form"' in page.content.decode()
    # too small: a form error on the amount, nothing requested
    small = seller_client.post(url, {"amount": "50.00", "payee": "ICBC 6222 0000", "request_key": "rk-1"})
    assert small.status_code == 200
    assert "100.00" in small.content.decode() and small.context["form"].errors["amount"]
    assert not Withdrawal.objects.exists()
    # enough: requested, then listed on the page
    response = seller_client.post(url, {"amount": "120.00", "payee": "ICBC 6222 0000", "request_key": "rk-2"})
    assert response.status_code == 302 and response["Location"] == url
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.amount == Decimal("120.00") and withdrawal.wallet == wallet_for(tree.seller)
    assert withdrawal.requested_by == tree.seller_user and withdrawal.status == Withdrawal.Status.REQUESTED
    listed = seller_client.get(url).content.decode()
    assert withdrawal.number in listed and "¥120.00" in listed
    assert balances(tree.seller)["commission_withdrawing"] == Decimal("120.00")
