"""Issue 16 from the consumer's side, in the browser: a group buy filled by three people in their own browsers
(and one that runs out of time and is refunded), a referral that rewards both sides after the refund window
(and a self-referral refused with its reason in the admin), and a coupon issued to a phone that is found on
/me/ after signing in by SMS and used at checkout. Phones of 390 px, in Chinese (one test also in English);
each consumer signs in with the code read from the console SMS outbox, pays in the sandbox; the jobs run
in-process with a moved clock."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from marketing.models import Campaign, Consumer, Coupon, GroupBuy, Issuance, Referral
from marketing.services.groups import groups_expire
from marketing.services.issuance import issuance_confirm, issuance_prepare, issuance_run
from marketing.services.referral import REASONS, referrals_reward_due
from redemption.notify import ConsoleSmsBackend
from settlement.models import Order
from tests import factories
from tests.browser.conftest import PHONE, follow, login
from tests.browser.pagecheck import page_problems, stored_values, watch_console
from tests.factories import PASSWORD
from tests.marketing.factories import CampaignFactory, coupon_campaign
from tests.marketing.groups_support import group_campaign_make
from tests.settlement.conftest import tree_make
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGE = {"zh-CN": "zh-hans", "en-US": "en"}
A, B, C = "13800138000", "13900139000", "15000150000"


def label(choice, locale: str) -> str:
    """A choice's label as the page in `locale` writes it."""
    with translation.override(LANGUAGE[locale]):
        return str(choice.label)


def words(text: str, locale: str) -> str:
    with translation.override(LANGUAGE[locale]):
        return translation.gettext(text)


def consumer_page(new_page, *, address: str, locale: str = "zh-CN"):
    """A phone-sized browser of its own, seen by the server at `address` (the proxy's header, trusted by the test's
    settings): three people on one test machine would otherwise share 127.0.0.1, which referral rules refuse."""
    page = new_page(device=PHONE, locale=locale)
    page.context.set_extra_http_headers({"X-Forwarded-For": address})
    return page


def sms_sign_in(page, phone: str) -> None:
    """Sign in on the page the browser was sent to (/me/login/?next=...) with the code the console SMS backend got."""
    assert "/me/login/" in page.url, page.url
    page.fill("input[name=phone]", phone)
    follow(page, page.locator("[data-testid=phone-submit]"))
    message = [m for m in ConsoleSmsBackend.outbox if m.to == phone][-1]
    page.fill("input[name=code]", re.search(r"\b(\d{6})\b", message.text).group(1))
    follow(page, page.locator("[data-testid=code-submit]"))


def checkout_and_pay(page, *, phone: str = "") -> Order:
    """On the checkout page (or the sign-in page a campaign's checkout sends a stranger to): sign in first
    when asked, submit, pay in the sandbox. The order just paid."""
    if phone and "/me/login/" in page.url:
        sms_sign_in(page, phone)
    elif phone and page.locator("[data-testid=checkout-sign-in]").count():
        follow(page, page.locator("[data-testid=checkout-sign-in] a"))
        sms_sign_in(page, phone)
    assert page.locator("[data-testid=checkout-consumer]").count() == 1, "not signed in at checkout"
    follow(page, page.locator("[data-testid=checkout-submit]"))
    follow(page, page.locator("[data-testid=sandbox-pay]"))
    assert "/receipt/" in page.url, page.url
    return Order.objects.get(number=page.locator("[data-testid=receipt-number]").inner_text().strip())


def me_order(page, order: Order):
    page.goto("/me/")
    return page.locator(f"[data-testid=me-order][data-number='{order.number}']")


@pytest.fixture
def trusted_proxy(settings, live_server):
    settings.SITE_URL = live_server.url
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_PROXY_COUNT = 1
    ConsoleSmsBackend.outbox.clear()
    yield
    ConsoleSmsBackend.outbox.clear()


# --- 1. Group buy -------------------------------------------------------------------------------------------


def test_three_friends_fill_a_group_and_a_group_that_runs_out_of_time_is_refunded(new_page, trusted_proxy):
    locale = "zh-CN"
    tree = tree_make()
    campaign = group_campaign_make(sku=tree.sku, storefront=tree.storefront, size=3, hours=24, name="三人拼团")
    internal = stored_values("settlement", "marketing")
    problems: list[str] = []
    lead = consumer_page(new_page, address="10.0.0.1")
    errors = watch_console(lead)

    # A opens a group from the campaign page, signs in by SMS at the checkout, pays the group price
    lead.goto(f"/g/c/{campaign.pk}/")
    assert "¥19.90" in lead.get_by_test_id("group-price").inner_text()
    assert "¥29.90" in lead.get_by_test_id("group-list-price").inner_text()
    problems += page_problems(lead, errors, width=390, internal=internal, language="zh-hans")
    follow(lead, lead.get_by_test_id("group-open"))
    first = checkout_and_pay(lead, phone=A)
    assert first.total == Decimal("19.90") and first.status == Order.Status.PAID
    assert lead.get_by_test_id("receipt-group-wait").is_visible()
    group = GroupBuy.objects.get(campaign=campaign)

    # the share page: 1 of 3, two seats free, a countdown that runs, the link to share
    lead.goto(f"/g/{group.token}/")
    assert lead.get_by_test_id("group-member").count() == 1 and lead.get_by_test_id("group-free-seat").count() == 2
    assert lead.get_by_test_id("group-me").is_visible() and lead.get_by_test_id("group-join").count() == 0
    countdown = lead.get_by_test_id("group-countdown")
    shown = countdown.inner_text()
    lead.wait_for_function("([el, was]) => el.innerText !== was", arg=[countdown.element_handle(), shown], timeout=5_000)
    share_url = lead.get_by_test_id("group-share-url").input_value()
    assert share_url.endswith(f"/g/{group.token}/")
    problems += page_problems(lead, errors, width=390, internal=internal, language="zh-hans")

    # B and C open the link in their own browsers, join and pay; before C pays, A's order is not delivered
    joined, browsers = {}, {}
    for phone, address in ((B, "10.0.0.2"), (C, "10.0.0.3")):
        friend = browsers[phone] = consumer_page(new_page, address=address)
        friend.goto(share_url)
        follow(friend, friend.get_by_test_id("group-join"))
        if phone == C:
            assert me_order(lead, first).get_by_test_id("me-order-status").inner_text() == label(Order.Status.PAID, locale)
        joined[phone] = checkout_and_pay(friend, phone=phone)
    group.refresh_from_db()
    assert (group.status, group.members_count) == (GroupBuy.Status.COMPLETE, 3)

    # A's /me/: the group complete, the order delivered with the link to its codes
    row = me_order(lead, first)
    assert row.get_by_test_id("me-order-status").inner_text() == label(Order.Status.DELIVERED, locale)
    assert row.get_by_test_id("me-order-receipt").inner_text() == words("Receipt and my codes", locale)
    mine = lead.get_by_test_id("me-group")
    assert mine.count() == 1 and label(GroupBuy.Status.COMPLETE, locale) in mine.inner_text()
    assert joined[B].number not in lead.content() and joined[C].number not in lead.content()
    problems += page_problems(lead, errors, width=390, internal=internal, language="zh-hans")
    follow(lead, row.get_by_test_id("me-order-receipt"))
    follow(lead, lead.get_by_test_id("receipt-codes"))
    assert lead.locator("[data-testid=held-code]").count() == 1

    # a second group, opened by C (still signed in) and paid, runs out of time: the job refunds C's order
    carol = browsers[C]
    carol.goto(f"/g/c/{campaign.pk}/")
    follow(carol, carol.get_by_test_id("group-open"))
    alone = checkout_and_pay(carol)
    late = GroupBuy.objects.exclude(pk=group.pk).get()
    assert groups_expire(now=late.expires_at + timedelta(minutes=1)) == 1
    late.refresh_from_db()
    assert late.status == GroupBuy.Status.REFUNDED
    row = me_order(carol, alone)
    assert row.get_by_test_id("me-order-status").inner_text() == label(Order.Status.REFUNDED, locale)
    failed = carol.get_by_test_id("me-group").filter(has_text=label(GroupBuy.Status.REFUNDED, locale))
    assert failed.count() == 1
    problems += page_problems(carol, errors, width=390, internal=internal, language="zh-hans")
    assert not problems, "\n".join(problems)


# --- 2. Referral --------------------------------------------------------------------------------------------


def test_a_friend_s_first_order_through_a_share_link_rewards_both_after_the_refund_window(new_page, trusted_proxy):
    locale = "zh-CN"
    tree = tree_make()
    reward = coupon_campaign(name="邀请奖励券", kind=Campaign.Kind.TARGETED, discount_amount=Decimal("5.00"))
    campaign = CampaignFactory(
        name="邀请好友", kind=Campaign.Kind.REFERRAL, reward_campaign=reward, refund_window_days=7, storefront=tree.storefront,
        distributor=tree.seller,
    )  # fmt: skip
    internal = stored_values("settlement", "marketing")
    problems: list[str] = []
    owner = consumer_page(new_page, address="10.0.1.1")
    errors = watch_console(owner)

    # A signs in and gets the share link on the campaign page
    owner.goto(f"/c/{campaign.pk}/")
    follow(owner, owner.get_by_test_id("share-sign-in"))
    sms_sign_in(owner, A)
    follow(owner, owner.get_by_test_id("share-make"))
    share_url = owner.get_by_test_id("share-url").input_value()
    assert "/r/" in share_url
    problems += page_problems(owner, errors, width=390, internal=internal, language="zh-hans")

    # A opens their own link and buys: a self-referral, refused, no reward
    owner.goto(share_url)
    assert "这是您自己的分享链接" in owner.get_by_test_id("landing-own").inner_text()
    follow(owner, owner.get_by_test_id("landing-shop"))
    owner.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/buy/")
    own = checkout_and_pay(owner)
    refused = Referral.objects.get(order_ref=own.number)
    assert (refused.status, refused.reason) == (Referral.Status.REFUSED, "self")

    # B opens A's link in another browser, signs in, places and pays a first order: the referral is pending
    friend = consumer_page(new_page, address="10.0.1.2")
    friend.goto(share_url)
    assert "138****8000" in friend.locator("h1").inner_text() and friend.get_by_test_id("landing-own").count() == 0
    assert "¥5.00" in friend.get_by_test_id("landing-rule").inner_text()
    problems += page_problems(friend, errors, width=390, internal=internal, language="zh-hans")
    follow(friend, friend.get_by_test_id("landing-shop"))
    friend.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/buy/")
    bought = checkout_and_pay(friend, phone=B)
    referral = Referral.objects.get(order_ref=bought.number)
    assert referral.status == Referral.Status.PENDING and referral.reward_due_at is not None

    # nothing yet; after the refund window the job rewards both, and both /me/ pages show the coupon
    assert referrals_reward_due() == 0
    friend.goto("/me/")
    assert friend.get_by_test_id("me-coupon").count() == 0
    assert referrals_reward_due(now=referral.reward_due_at + timedelta(minutes=1)) == 1
    for page, phone in ((owner, A), (friend, B)):
        page.goto("/me/")
        coupon = Coupon.objects.get(consumer__phone=phone, campaign=reward)
        shown = page.get_by_test_id("me-coupon")
        assert shown.count() == 1 and coupon.code in shown.inner_text() and reward.name in shown.inner_text()
        problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")
    assert not Coupon.objects.filter(referral=refused).exists()

    # ops see the self-referral refused, with its reason in words, in the admin
    factories.UserFactory(username="ops-referral", role=roles.OPS, is_staff=True, is_superuser=True)
    ops = new_page(locale=locale)
    login(ops, "ops-referral", PASSWORD)
    ops.goto("/admin/marketing/referral/?status=refused")
    with translation.override("zh-hans"):
        reason = str(REASONS["self"])
    listed = ops.locator("#result_list tbody tr")
    assert listed.count() == 1 and reason in listed.inner_text()
    assert not problems, "\n".join(problems)


# --- 3. Targeted issuance -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_coupon_issued_to_a_phone_is_found_after_signing_in_and_used_at_checkout(new_page, trusted_proxy, locale):
    language = LANGUAGE[locale]
    tree = tree_make()
    ops = factories.UserFactory(username="ops-issue", role=roles.OPS, is_staff=True)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="老客回馈券", kind=Campaign.Kind.TARGETED, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=7), discount_kind=Campaign.DiscountKind.FIXED, discount_amount=Decimal("8.00"),
        coupon_valid_days=30,
    )  # fmt: skip
    listing = SimpleUploadedFile("名单.csv", f"手机号\n{A}\n{B}\n".encode(), content_type="text/csv")
    issuance = issuance_prepare(campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=listing, actor=ops)
    issuance_confirm(issuance=issuance, actor=ops)
    issuance = issuance_run(issuance_id=issuance.pk)
    assert (issuance.status, issuance.done) == (Issuance.Status.DONE, 2)

    # the SMS carries the link to /me/ and no coupon code
    (message,) = [m for m in ConsoleSmsBackend.outbox if m.to == A]
    link = re.search(r"https?://\S+/me/", message.text).group(0)
    coupon = Coupon.objects.get(consumer__phone=A, campaign=campaign)
    assert coupon.code not in message.text
    internal = stored_values("settlement", "marketing")
    page = consumer_page(new_page, address="10.0.2.1", locale=locale)
    errors = watch_console(page)
    problems: list[str] = []

    # the link asks for a sign-in, then /me/ shows the coupon (and not the other recipient's)
    page.goto(link)
    sms_sign_in(page, A)
    assert page.url.endswith("/me/")
    shown = page.get_by_test_id("me-coupon")
    assert shown.count() == 1 and coupon.code in shown.inner_text()
    assert Coupon.objects.get(consumer__phone=B, campaign=campaign).code not in page.content()
    problems += page_problems(page, errors, width=390, internal=internal, language=language)

    # at checkout the coupon takes ¥8.00 off; the receipt shows the discount
    page.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/buy/")
    page.fill("input[name=coupon]", coupon.code)
    order = checkout_and_pay(page)
    assert (order.total, order.discount) == (Decimal("21.90"), Decimal("8.00"))
    assert "¥8.00" in page.get_by_test_id("receipt-discount").inner_text()
    problems += page_problems(page, errors, width=390, internal=internal, language=language)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_ref) == (Coupon.Status.USED, order.number)
    page.goto("/me/")
    assert label(Coupon.Status.USED, locale) in page.get_by_test_id("me-coupon").inner_text()
    assert Consumer.objects.filter(phone=A).count() == 1
    assert not problems, "\n".join(problems)
