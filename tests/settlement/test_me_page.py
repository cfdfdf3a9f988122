"""The consumer's own page /me/: their orders (by the mobile number on the order), coupons and group buys,
nobody else's; the receipt of their own orders opens without the lookup password, a neighbour's does not."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketing.consumer_session import SESSION_KEY
from marketing.models import Campaign, Consumer, Coupon, GroupBuy, GroupMember
from settlement.models import Order

pytestmark = pytest.mark.django_db
MINE = "13800138000"
NEIGHBOUR = "13900139000"
ME = reverse("settlement:consumer-home")


def place(tree, contact: str) -> Order:
    """A storefront checkout by a browser of its own (so no receipt is remembered in the tests' sessions)."""
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": contact, "lookup_password": "secret-123", "pay_method": "sandbox"}
    buyer = Client()
    response = buyer.post(url, body)
    assert response.status_code == 302, response.content.decode()[:500]
    order = Order.objects.order_by("-pk").first()
    order.pay_url = response["Location"]
    return order


def pay(order: Order) -> None:
    Client().post(order.pay_url, {"result": "pay"})


def signed_in(phone: str, language: str = "en") -> Client:
    consumer, _ = Consumer.objects.get_or_create(phone=phone)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    session = client.session
    session[SESSION_KEY] = consumer.pk
    session.save()
    return client


@pytest.fixture
def orders(tree, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivered = place(tree, "+86 138-0013-8000")
        pay(delivered)
    waiting = place(tree, MINE)
    theirs = place(tree, NEIGHBOUR)
    by_mail = place(tree, "someone@example.test")
    return {"delivered": delivered, "waiting": waiting, "theirs": theirs, "by_mail": by_mail}


def coupon_campaign(name: str) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        name=name,
        kind=Campaign.Kind.COUPON,
        status=Campaign.Status.ACTIVE,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        discount_kind=Campaign.DiscountKind.PERCENT,
        discount_percent=Decimal("0.2000"),
        discount_cap=Decimal("15.00"),
        min_spend=Decimal("50.00"),
    )


def test_a_stranger_is_sent_to_sign_in():
    response = Client().get(ME)
    assert response.status_code == 302 and response["Location"].startswith(reverse("marketing:consumer-login"))


def test_me_lists_only_my_orders_by_my_number_in_any_spelling(orders):
    response = signed_in(MINE).get(ME)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    listed = set(re.findall(r'data-testid="me-order" data-number="([^"]+)"', html))
    assert listed == {orders["delivered"].number, orders["waiting"].number}
    assert orders["theirs"].number not in html and orders["by_mail"].number not in html
    assert "138****8000" in html and MINE not in html


def test_the_neighbour_sees_only_theirs(orders):
    html = signed_in(NEIGHBOUR).get(ME).content.decode()
    assert set(re.findall(r'data-number="([^"]+)"', html)) == {orders["theirs"].number}


def test_orders_show_display_values_money_and_human_dates(orders):
    html = signed_in(MINE).get(ME).content.decode()
    assert "Delivered" in html and "Awaiting payment" in html and "¥29.90" in html
    statuses = re.findall(r'data-testid="me-order-status">([^<]+)<', html)
    assert not {"delivered", "pending", "paid"} & set(statuses)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", html)  # no ISO dates
    assert "Receipt and my codes" in html


def test_my_receipt_opens_without_the_lookup_password_and_the_neighbours_does_not(orders):
    client = signed_in(MINE)
    mine = client.get(reverse("settlement:order-receipt", args=[orders["delivered"].number]))
    assert mine.status_code == 200 and 'data-testid="receipt-codes"' in mine.content.decode()
    theirs = client.get(reverse("settlement:order-receipt", args=[orders["theirs"].number]))
    assert theirs.status_code == 302 and theirs["Location"].startswith(reverse("settlement:order-lookup"))
    anonymous = Client().get(reverse("settlement:order-receipt", args=[orders["delivered"].number]))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("settlement:order-lookup"))


def test_a_signed_out_consumer_loses_the_receipt(orders):
    client = signed_in(MINE)
    client.post(reverse("marketing:consumer-logout"))
    response = client.get(reverse("settlement:order-receipt", args=[orders["delivered"].number]))
    assert response.status_code == 302


def test_coupons_show_mine_with_their_value_status_and_validity(db):
    me = Consumer.objects.create(phone=MINE)
    neighbour = Consumer.objects.create(phone=NEIGHBOUR)
    campaign = coupon_campaign("Spring 20% off")
    until = timezone.now() + timedelta(days=10)
    Coupon.objects.create(campaign=campaign, code="MINE0001", consumer=me, status=Coupon.Status.CLAIMED, valid_until=until)
    Coupon.objects.create(
        campaign=campaign, code="MINE0002", consumer=me, status=Coupon.Status.CLAIMED, valid_until=timezone.now() - timedelta(days=1)
    )
    Coupon.objects.create(campaign=campaign, code="THEIRS01", consumer=neighbour, status=Coupon.Status.CLAIMED, valid_until=until)
    html = signed_in(MINE).get(ME).content.decode()
    assert "MINE0001" in html and "MINE0002" in html and "THEIRS01" not in html
    assert "Spring 20% off" in html and "20% off, at most ¥15.00 on orders from ¥50.00" in html
    statuses = re.findall(r'data-testid="me-coupon">.*?<span class="text-nowrap">([^<]+)<', html, re.S)
    assert statuses == ["Claimed", "Expired"]  # the usable one first; display values, never "claimed"
    assert not re.search(r"\d{4}-\d{2}-\d{2}", html)


def test_group_buys_show_mine_with_seats_left(db):
    me = Consumer.objects.create(phone=MINE)
    neighbour = Consumer.objects.create(phone=NEIGHBOUR)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="Three for ¥60",
        kind=Campaign.Kind.GROUP_BUY,
        status=Campaign.Status.ACTIVE,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=3),
        group_size=3,
        group_hours=24,
        price=Decimal("20.00"),
    )
    mine = GroupBuy.objects.create(
        campaign=campaign, token="tok-mine", leader=me, size=3, members_count=1, expires_at=now + timedelta(hours=5)
    )
    GroupMember.objects.create(group=mine, consumer=me, order_ref="VH-A1", status=GroupMember.Status.PAID)
    theirs = GroupBuy.objects.create(
        campaign=campaign, token="tok-theirs", leader=neighbour, size=3, members_count=1, expires_at=now + timedelta(hours=5)
    )
    GroupMember.objects.create(group=theirs, consumer=neighbour, order_ref="VH-B1", status=GroupMember.Status.PAID)
    html = signed_in(MINE).get(ME).content.decode()
    assert html.count('data-testid="me-group"') == 1
    assert "Three for ¥60" in html and "1 of 3 joined" in html and "2 seats left" in html and "Filling" in html
    assert "/g/tok-mine/" in html and "tok-theirs" not in html


def test_the_page_reads_in_chinese(orders):
    me = Consumer.objects.get_or_create(phone=MINE)[0]
    campaign = coupon_campaign("春季")
    Coupon.objects.create(
        campaign=campaign, code="MINE0001", consumer=me, status=Coupon.Status.CLAIMED, valid_until=timezone.now() + timedelta(days=3)
    )
    group_campaign = Campaign.objects.create(
        name="三人团", kind=Campaign.Kind.GROUP_BUY, status=Campaign.Status.ACTIVE, starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=3), group_size=3, group_hours=24, price=Decimal("20.00"),
    )  # fmt: skip
    group = GroupBuy.objects.create(
        campaign=group_campaign, token="tok-mine", leader=me, size=3, members_count=1, expires_at=timezone.now() + timedelta(hours=5)
    )
    GroupMember.objects.create(group=group, consumer=me, order_ref="VH-A1", status=GroupMember.Status.PAID)
    html = signed_in(MINE, "zh-hans").get(ME).content.decode()
    assert "我的订单" in html and "我的优惠券" in html and "我的拼团" in html and "减 20%，最多减 ¥15.00，满 ¥50.00 可用" in html
    main = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1].split(">", 1)[1].split("</main>", 1)[0])
    words = set(re.findall(r"\b[A-Za-z]{3,}\b", main)) - {"MINE", "VoucherHub", tree_sku_name(orders)}
    assert not words, f"English left on the Chinese page: {sorted(words)}"


def tree_sku_name(orders) -> str:
    return orders["delivered"].sku.name


def test_an_order_placed_while_signed_in_is_mine_whatever_contact_it_gave(tree):
    client = signed_in(MINE)
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": "gift@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"}
    assert client.post(url, body).status_code == 302
    order = Order.objects.get()
    assert order.consumer.phone == MINE
    html = client.get(ME).content.decode()
    assert f'data-number="{order.number}"' in html
    assert order.number not in signed_in(NEIGHBOUR).get(ME).content.decode()
