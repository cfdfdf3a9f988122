"""Issue 13, distributor portal: one grouped menu on every page, a confirm step before an order is placed,
sold-out SKUs marked, translated statuses and dates, readable commission, filtered lists and their exports."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from channels.services import staff_add
from settlement.models import CommissionAccrual, Order
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from tests import factories
from tests.settlement.conftest import fund
from tests.settlement.test_submit_once import submit_key
from voucherhub.core import roles

pytestmark = pytest.mark.django_db

MONEY_PAGES = ("portal-buy", "portal-orders", "portal-wallet", "portal-commission", "portal-withdrawals", "portal-statements")
CHANNEL_PAGES = (
    "portal-home",
    "portal-downline",
    "portal-invitations",
    "portal-prices",
    "portal-quotas",
    "portal-storefront",
    "portal-api-keys",
)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def nav_of(page: str) -> str:
    return page.split('data-testid="portal-nav"', 1)[1].split("</nav>", 1)[0]


def test_every_portal_page_has_the_one_menu_with_every_page_and_marks_the_current_one(funded_seller_client):
    every = [("settlement", name) for name in MONEY_PAGES] + [("channels", name) for name in CHANNEL_PAGES]
    for app, name in every:
        response = funded_seller_client.get(reverse(f"{app}:{name}"))
        assert response.status_code == 200, name
        nav = nav_of(response.content.decode())
        for other_app, other in every:
            assert f'href="{reverse(f"{other_app}:{other}")}"' in nav, f"{name} has no link to {other}"
        active = re.findall(r'class="nav-link text-nowrap active" href="([^"]+)"', nav)
        assert active == [reverse(f"{app}:{name}")], name
    # grouped: the money pages sit together under one heading
    nav = nav_of(funded_seller_client.get(reverse("settlement:portal-wallet")).content.decode())
    money = nav.split('data-testid="portal-nav-group-money"', 1)[1].split('data-testid="portal-nav-group-', 1)[0]
    assert all(f'data-testid="portal-link-{name}"' in money for name in MONEY_PAGES[2:])


def test_an_order_detail_marks_orders_in_the_menu(funded_seller_client, tree):
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    nav = nav_of(funded_seller_client.get(reverse("settlement:portal-order", args=[order.number])).content.decode())
    assert re.findall(r'class="nav-link text-nowrap active" href="([^"]+)"', nav) == [reverse("settlement:portal-orders")]


def test_the_order_form_shows_a_confirmation_before_placing_and_the_confirmation_places_it_once(funded_seller_client, tree):
    url = reverse("settlement:portal-buy")
    key = submit_key(funded_seller_client.get(url).content)
    form = {"sku": tree.sku.code, "quantity": 3, "submit_key": key}

    # when the form is sent, it is only shown back as a confirmation
    shown = funded_seller_client.post(url, form)
    page = shown.content.decode()
    assert shown.status_code == 200 and not Order.objects.exists()
    assert 'data-testid="quote-unit-price">¥26.00<' in page and 'data-testid="quote-quantity">3<' in page
    assert 'data-testid="quote-total">¥78.00<' in page and 'data-testid="quote-balance-after">¥422.00<' in page
    assert f'name="submit_key" value="{key}"' in page and 'name="step" value="confirm"' in page

    # the confirmation places it, and sent again it lands on the same order
    placed = funded_seller_client.post(url, {**form, "step": "confirm"})
    order = Order.objects.get()
    assert placed.status_code == 302 and placed["Location"] == reverse("settlement:portal-order", args=[order.number])
    again = funded_seller_client.post(url, {**form, "step": "confirm"})
    assert again["Location"] == placed["Location"] and Order.objects.count() == 1
    assert order.total == Decimal("78.00")


def test_the_confirmation_says_when_the_wallet_does_not_cover_the_order(client, tree):
    client.force_login(tree.seller_user)
    page = client.post(reverse("settlement:portal-buy"), {"sku": tree.sku.code, "quantity": 2}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="quote-short"' in page and 'data-testid="quote-balance-after">-¥52.00<' in page
    assert re.search(r'data-testid="confirm-order"\s+disabled', page)


def test_sold_out_skus_are_marked_and_cannot_be_ordered(funded_seller_client, tree):
    empty = factories.SkuFactory(code="EMPTY-1", name="Sold-out card")
    factories.PriceEntryFactory(level=tree.seller.level, sku=empty, purchase_price=Decimal("5.00"))
    page = funded_seller_client.get(reverse("settlement:portal-buy")).content.decode()
    assert re.search(r'<option value="EMPTY-1"[^>]*disabled', page)
    assert 'data-testid="buy-option-EMPTY-1"' in page and "Sold out" in page.split('data-testid="buy-option-EMPTY-1"', 1)[1]
    key = submit_key(funded_seller_client.get(reverse("settlement:portal-buy")).content)
    refused = funded_seller_client.post(
        reverse("settlement:portal-buy"), {"sku": "EMPTY-1", "quantity": 1, "submit_key": key, "step": "confirm"}
    )
    assert refused.status_code == 200 and "This product is sold out." in refused.content.decode() and not Order.objects.exists()
    too_many = funded_seller_client.post(reverse("settlement:portal-buy"), {"sku": tree.sku.code, "quantity": 31, "submit_key": key})
    assert "Only 30 left." in too_many.content.decode()


def test_order_history_reads_translated_words_and_local_dates_never_internal_values(funded_seller_client, tree):
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    url = reverse("settlement:portal-order", args=[order.number])
    zh = funded_seller_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    history = zh.split('data-testid="order-events"', 1)[1].split("</ul>", 1)[0]
    assert "待支付 → 已支付" in history and "钱包" in history
    for internal in ("pending", "paid", "delivered", "wallet", "portal"):
        assert not re.search(rf"\b{internal}\b", history), internal
    assert timezone.localtime(order.created_at).strftime("%Y-%m-%d %H:%M") in history and not ISO.search(history)
    en = funded_seller_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    en_history = en.split('data-testid="order-events"', 1)[1].split("</ul>", 1)[0]
    assert "Paid → Delivered" in en_history and "Wallet" in en_history


def test_revealed_codes_show_their_expiry_as_a_local_date_with_a_copy_button(funded_seller_client, tree):
    from catalog.models import CardCode

    CardCode.objects.filter(sku=tree.sku).update(expires_at=timezone.now() + timedelta(days=30))
    tree.seller_user.set_password("seller-pass-1")
    tree.seller_user.save()
    funded_seller_client.force_login(tree.seller_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    page = funded_seller_client.post(
        reverse("settlement:portal-order-codes", args=[order.number]), {"password": "seller-pass-1", "mode": "show"}
    ).content.decode()
    table = page.split('data-testid="revealed-codes"', 1)[1]
    assert 'data-testid="copy-code"' in table and not ISO.search(table)


def test_commission_reads_its_level_and_a_freeze_state_that_agrees_with_its_date(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    top_wallet = wallet_for(tree.top)
    CommissionAccrual.objects.filter(wallet=top_wallet).update(release_after=timezone.now() - timedelta(hours=1))
    mid = CommissionAccrual.objects.get(wallet=wallet_for(tree.mid))
    top = CommissionAccrual.objects.get(wallet=top_wallet)
    assert (mid.level_label, mid.state) == ("Direct downline", "frozen")
    assert (top.level_label, top.state) == ("Second level", "due")  # its freeze is over: never "frozen" with a past date


def test_commission_page_in_chinese(client, tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    user = factories.UserFactory(username="mid-owner", role=roles.DISTRIBUTOR)
    staff_add(distributor=tree.mid, user=user, is_owner=True)
    client.force_login(user)
    page = client.get(reverse("settlement:portal-commission"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    rows = page.split('data-testid="commission-list"', 1)[1]
    assert "直接下级" in rows and "冻结" in rows and not re.search(r">\s*1\s*<", rows.split("commission-level", 1)[1][:40])


def test_order_list_filters_paginates_and_exports_what_is_filtered(funded_seller_client, tree, finance_user):
    fund(tree.other, "100.00", actor=finance_user)
    theirs = order_place(channel=Order.Channel.PORTAL, distributor=tree.other, sku=tree.sku, quantity=1)
    orders = [order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1) for _ in range(3)]
    Order.objects.filter(pk=orders[0].pk).update(created_at=timezone.now() - timedelta(days=10))
    url = reverse("settlement:portal-orders")
    today = timezone.localdate().isoformat()

    page = funded_seller_client.get(url, {"start": today, "end": today}).content.decode()
    assert orders[1].number in page and orders[2].number in page and orders[0].number not in page
    searched = funded_seller_client.get(url, {"q": orders[2].number}).content.decode().split('data-testid="order-list"', 1)[1]
    assert orders[2].number in searched and orders[1].number not in searched

    csv = funded_seller_client.get(url, {"start": today, "end": today, "export": "csv"})
    text = csv.content.decode("utf-8-sig")
    assert csv["Content-Type"].startswith("text/csv") and text.splitlines()[0].startswith("Order,Time,Product")
    assert orders[1].number in text and orders[0].number not in text and ",26.00," in text
    assert theirs.number not in text  # a neighbour's order is in no list and no export

    xlsx = funded_seller_client.get(url, {"start": today, "end": today, "export": "xlsx"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:3] == ["订单", "时间", "商品"] and sheet.freeze_panes == "A2"
    assert sheet.max_row == 3
    total = sheet.cell(row=2, column=7)
    assert total.value == 26 and total.number_format == "#,##0.00"
    assert sheet.cell(row=2, column=2).is_date


def test_a_wrong_date_range_is_a_400_naming_the_field(funded_seller_client):
    response = funded_seller_client.get(reverse("settlement:portal-orders"), {"start": "2027-03-07", "end": "2027-03-01"})
    assert response.status_code == 400 and "The end date is before the start date." in response.content.decode()
    bad = funded_seller_client.get(reverse("settlement:portal-withdrawals"), {"start": "not-a-date"})
    assert bad.status_code == 400 and "Enter a valid date." in bad.content.decode()


def test_commission_withdrawal_and_statement_lists_filter_and_export(funded_seller_client, tree):
    for name in ("portal-commission", "portal-withdrawals", "portal-statements"):
        url = reverse(f"settlement:{name}")
        assert funded_seller_client.get(url, {"status": "", "q": "x"}).status_code == 200, name
        for fmt in ("csv", "xlsx"):
            response = funded_seller_client.get(url, {"export": fmt})
            assert response.status_code == 200 and "attachment" in response["Content-Disposition"], (name, fmt)


def test_moments_show_in_the_readers_time_zone_from_its_browser_and_a_wrong_zone_is_ignored(funded_seller_client, tree):
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    url = reverse("settlement:portal-order", args=[order.number])
    from zoneinfo import ZoneInfo

    def history(zone: str) -> str:
        funded_seller_client.cookies["vh_tz"] = zone
        page = funded_seller_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        return page.split('data-testid="order-events"', 1)[1].split("</ul>", 1)[0]

    berlin = order.created_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")
    shanghai = timezone.localtime(order.created_at).strftime("%Y-%m-%d %H:%M")
    assert berlin in history("Europe/Berlin")
    assert shanghai in history("Mars/Olympus_Mons")  # not a zone: the site's TIME_ZONE
