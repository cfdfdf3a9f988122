"""Ops' side of every priced campaign kind, as ops click it (issue 16): the demo ops user creates a flash sale (with
a slot), a new-user price, a group buy, a referral (with its reward coupon campaign) and a bundle (two components)
through /ops/marketing/, one bad field first (its error shows on the page and nothing is saved), previews the price
effect, saves and activates it; a consumer's order through the service layer (settlement's order_place with an
OfferRequest, paid in the sandbox) makes the results page show used 1, the cost and the revenue; pausing shows the
paused state and writes an audit entry. Chinese and English across the kinds, on a laptop, with no ISO timestamp,
internal value, misformatted money or foreign date on the way (pagecheck)."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import DESKTOP, follow, login
from tests.browser.pagecheck import choice_values, page_problems, page_settled, watch_console

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEXT = {
    "zh-hans": {"locale": "zh-CN", "saved": "活动已保存", "activated": "活动已启用", "paused": "活动已暂停"},
    "en": {"locale": "en", "saved": "Campaign saved", "activated": "Campaign activated", "paused": "Campaign paused"},
}
WIDTH = DESKTOP["viewport"]["width"]


def local_input(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def internal() -> set[str]:
    from marketing.models import Campaign

    return choice_values(Campaign.Kind, Campaign.Status, Campaign.BudgetKind, Campaign.Funding, Campaign.DiscountKind)


def ops_page(new_page, *, language, settings, live_server):
    """The demo ops user (voucherhub.core.demo: "ops") signed in, in `language`."""
    from voucherhub.core.demo import DEMO_PASSWORD, seed

    seed(io.StringIO())
    page = new_page(device=DESKTOP, locale=TEXT[language]["locale"])
    login(page, "ops", DEMO_PASSWORD)
    if language == "en":
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}])
    return page


def pay(order) -> None:
    from settlement.adapters import SandboxAdapter
    from settlement.services.payments import payment_callback_receive, payment_for_order

    payment = payment_for_order(order=order)
    adapter = SandboxAdapter()
    body = adapter.callback_body(event_id=f"{payment.number}-paid", event_type="payment.succeeded", payment_number=payment.number,
                                 amount=payment.amount)  # fmt: skip
    payment_callback_receive(adapter_name="sandbox", body=body, headers={adapter.SIGNATURE_HEADER: adapter.sign(body)})


def place(tree, *, consumer, request):
    from settlement.models import Order
    from settlement.services.orders import order_place

    return order_place(
        channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku, quantity=1,
        contact="", lookup_password="", pay_method="sandbox", consumer=consumer, offer_request=request,
    )  # fmt: skip


def second_sku(tree):
    """A ¥9.90 SKU on the tree's storefront with codes (the bundle's second component)."""
    from catalog.services import codes_generate
    from channels.models import PriceEntry, StorefrontItem
    from tests import factories

    other = factories.SkuFactory(name="咖啡券", face_value=Decimal("10.00"), cost_price=Decimal("4.00"))
    for entry in PriceEntry.objects.filter(sku=tree.sku):
        PriceEntry.objects.create(level=entry.level, sku=other, purchase_price=Decimal("5.00"), suggested_retail=Decimal("9.90"),
                                  price_floor=Decimal("6.00"))  # fmt: skip
    StorefrontItem.objects.create(storefront=tree.storefront, sku=other, retail_price=Decimal("9.90"))
    codes_generate(sku=other, count=5)
    return other


# --- per kind: the bad field, the good fields, the preview's numbers, the order, the results -------------------------
# Each fill returns nothing; each order places and pays one campaign order; each case names what results show.


def flash_bad(page, tree, extra):
    page.select_option("select[name=sku]", str(tree.sku.pk))
    page.fill("input[name=price]", "")  # no price: "Enter the campaign price."
    page.fill("input[name=per_consumer_limit]", "1")
    page.fill("input[name=payment_minutes]", "10")
    now = timezone.now()
    page.fill("input[name='rows-0-starts_at']", local_input(now - timedelta(hours=1)))
    page.fill("input[name='rows-0-ends_at']", local_input(now + timedelta(days=1)))
    page.fill("input[name='rows-0-stock']", "10")
    return "price"


def flash_good(page, tree, extra):
    page.fill("input[name=price]", "9.90")


def flash_order(campaign, tree, extra):
    from marketing.models import Consumer
    from marketing.services.offers import OfferRequest

    pay(place(tree, consumer=Consumer.objects.create(phone="13800000001"), request=OfferRequest(campaign_id=campaign.pk)))


def new_user_bad(page, tree, extra):
    page.fill("input[name=price]", "19.90")  # no SKU: "Choose the SKU on offer."
    return "sku"


def new_user_good(page, tree, extra):
    page.select_option("select[name=sku]", str(tree.sku.pk))


def new_user_order(campaign, tree, extra):
    from marketing.models import Consumer
    from marketing.services.offers import OfferRequest

    pay(place(tree, consumer=Consumer.objects.create(phone="13800000002"), request=OfferRequest(campaign_id=campaign.pk)))


def group_bad(page, tree, extra):
    page.select_option("select[name=sku]", str(tree.sku.pk))
    page.fill("input[name=price]", "19.90")
    page.fill("input[name=group_size]", "1")  # "A group has at least 2 members."
    page.fill("input[name=group_hours]", "24")
    return "group_size"


def group_good(page, tree, extra):
    page.fill("input[name=group_size]", "2")


def group_order(campaign, tree, extra):
    from marketing.models import Consumer
    from marketing.services.offers import OfferRequest

    pay(place(tree, consumer=Consumer.objects.create(phone="13800000003"), request=OfferRequest(campaign_id=campaign.pk)))


def referral_bad(page, tree, extra):
    page.fill("input[name=refund_window_days]", "7")  # no reward campaign: "Choose the coupon campaign both sides get."
    return "reward_campaign"


def referral_good(page, tree, extra):
    page.select_option("select[name=reward_campaign]", str(extra["reward"].pk))


def referral_order(campaign, tree, extra):
    from marketing.models import Consumer
    from marketing.services.offers import OfferRequest
    from marketing.services.referral import referral_link_for

    sharer = Consumer.objects.create(phone="13800000004")
    link = referral_link_for(campaign=campaign, consumer=sharer, ip="198.51.100.4", device="sharer-phone")
    friend = Consumer.objects.create(phone="13900000005")
    pay(place(tree, consumer=friend, request=OfferRequest(referral_token=link.token)))


def bundle_bad(page, tree, extra):
    page.fill("input[name=price]", "39.90")
    page.select_option("select[name='rows-0-sku']", str(tree.sku.pk))
    page.fill("input[name='rows-0-quantity']", "1")
    page.fill("input[name='rows-0-revenue_share']", "27.00")
    page.select_option("select[name='rows-1-sku']", str(extra["other"].pk))
    page.fill("input[name='rows-1-quantity']", "2")
    page.fill("input[name='rows-1-revenue_share']", "6.00")  # 27.00 + 2 × 6.00 is not the price
    return None


def bundle_good(page, tree, extra):
    page.fill("input[name='rows-1-revenue_share']", "6.45")


def bundle_order(campaign, tree, extra):
    from settlement.services.bundles import bundle_place

    pay(bundle_place(storefront=tree.storefront, campaign=campaign, contact="buyer@example.test", lookup_password="secret-123",
                     pay_method="sandbox"))  # fmt: skip


def reward_campaign(tree, extra):
    from tests.marketing.factories import coupon_campaign

    extra["reward"] = coupon_campaign(name="好友券", discount_amount=Decimal("5.00"))


def bundle_components(tree, extra):
    extra["other"] = second_sku(tree)


# kind, language, (bad, good, order), setup, the preview's campaign price and discount, results' cost and revenue
CASES = {
    "flash_sale": ("zh-hans", (flash_bad, flash_good, flash_order), None, ("¥9.90", "¥20.00"), ("¥20.00", "¥9.90")),
    "new_user": ("en", (new_user_bad, new_user_good, new_user_order), None, ("¥19.90", "¥10.00"), ("¥10.00", "¥19.90")),
    "group_buy": ("zh-hans", (group_bad, group_good, group_order), None, ("¥19.90", "¥10.00"), ("¥10.00", "¥19.90")),
    "referral": ("en", (referral_bad, referral_good, referral_order), reward_campaign, (None, "¥5.00"), ("¥0.00", "¥29.90")),
    "bundle": ("zh-hans", (bundle_bad, bundle_good, bundle_order), bundle_components, ("¥39.90", "¥9.80"), ("¥0.00", "¥39.90")),
}
# The preview's discount is the buyer's saving against the components' list prices. What the results count as cost is
# what was booked: a referral's order carries no discount (its rewards are the reward campaign's coupons, counted
# there when used) and a bundle is sold at its own price, its components' revenue shares adding up to it, so settlement
# posts no marketing expense for it (settlement/services/bundles.py: the offer's list price is the bundle's price).


def fill_common(page, *, name: str, storefront) -> None:
    now = timezone.now()
    page.fill("input[name=name]", name)
    page.fill("input[name=starts_at]", local_input(now - timedelta(hours=1)))
    page.fill("input[name=ends_at]", local_input(now + timedelta(days=7)))
    page.select_option("select[name=storefront]", str(storefront.pk))
    page.select_option("select[name=budget_kind]", "none")


@pytest.mark.parametrize("kind", list(CASES))
def test_ops_creates_previews_activates_watches_and_pauses_each_campaign_kind(new_page, kind, settings, live_server):
    from marketing.models import Campaign
    from tests.settlement.conftest import tree_make
    from voucherhub.core.models import AuditLog

    language, (bad, good, order), setup, (shown_price, shown_discount), (cost, revenue) = CASES[kind]
    text = TEXT[language]
    tree = tree_make()
    extra: dict = {}
    if setup:
        setup(tree, extra)
    before = set(Campaign.objects.values_list("pk", flat=True))
    page = ops_page(new_page, language=language, settings=settings, live_server=live_server)
    errors = watch_console(page)
    problems = []

    # the list's "new campaign" picker opens the form of this kind
    page.goto("/ops/marketing/")
    page.select_option("#new-kind", kind)
    follow(page, page.get_by_test_id("campaign-new-form").locator("button"))
    fill_common(page, name=f"{kind} 双十二", storefront=tree.storefront)

    # one bad field first: its error is on the page (on the field when the rule names one), nothing saved
    field = bad(page, tree, extra)
    follow(page, page.get_by_test_id("campaign-save"))
    form = page.get_by_test_id("campaign-form")
    if field:
        assert form.locator(f"[name={field}].is-invalid").count() == 1, f"{kind}: no error on {field}"
        assert form.locator(".invalid-feedback").first.inner_text().strip()
    else:  # a bundle's shares: the form's own error, naming the price they must add up to
        assert "¥39.90" in form.locator("ul.text-danger").first.inner_text()
    assert set(Campaign.objects.values_list("pk", flat=True)) == before
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)

    # fixed, then previewed: the storefront card and the price effect; still nothing saved
    good(page, tree, extra)
    follow(page, page.get_by_test_id("campaign-preview-button"))
    preview = page.get_by_test_id("campaign-preview")
    if shown_price:
        assert shown_price in preview.get_by_test_id("preview-campaign").inner_text()
    assert shown_discount in preview.get_by_test_id("preview-discount").inner_text()
    assert set(Campaign.objects.values_list("pk", flat=True)) == before
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)

    # saved as a draft, activated (audited)
    follow(page, page.get_by_test_id("campaign-save"))
    assert text["saved"] in page.inner_text("body"), page.get_by_test_id("campaign-form").inner_text()
    follow(page, page.get_by_test_id("state-activate"))
    assert text["activated"] in page.inner_text("body")
    campaign = Campaign.objects.exclude(pk__in=before).get()
    assert campaign.kind == kind and campaign.status == Campaign.Status.ACTIVE
    assert AuditLog.objects.filter(action="marketing.campaign.activate", object_id=str(campaign.pk)).exists()

    # a consumer's order, paid: the results page shows it used once, what it cost and what it brought in
    order(campaign, tree, extra)
    follow(page, page.get_by_test_id("results-link"))
    page_settled(page)
    assert page.get_by_test_id("r-used").inner_text().strip() == "1"
    assert cost in page.get_by_test_id("r-cost").inner_text()
    assert revenue in page.get_by_test_id("r-revenue").inner_text()
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)

    # paused: the state shows it, the move is audited
    page.goto(f"/ops/marketing/{campaign.pk}/")
    follow(page, page.get_by_test_id("state-pause"))
    assert text["paused"] in page.inner_text("body")
    assert page.get_by_test_id("state-resume").count() == 1
    assert Campaign.Status.PAUSED.label  # the badge reads the label, never the stored value
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert AuditLog.objects.filter(action="marketing.campaign.pause", object_id=str(campaign.pk), actor__username="ops").exists()
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)
    assert not problems, problems


# --- a distributor's own coupon campaign in the portal ------------------------------------------------------------

PORTAL_TEXT = {
    "zh-hans": {"locale": "zh-CN", "saved": "活动已保存", "started": "活动已启用"},
    "en": {"locale": "en", "saved": "Campaign saved", "started": "Campaign activated"},
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_distributor_runs_a_coupon_campaign_within_ops_limits_and_sees_only_its_results(new_page, language, settings, live_server):
    from marketing.models import Campaign, Consumer
    from marketing.services.coupons import coupons_issue
    from marketing.services.offers import OfferRequest
    from tests.factories import PASSWORD
    from tests.settlement.conftest import tree_make

    text = PORTAL_TEXT[language]
    tree = tree_make()  # the seller's storefront lists the SKU at ¥29.90, its price floor ¥27.00
    page = new_page(device=DESKTOP, locale=text["locale"])
    errors = watch_console(page)
    login(page, "seller", PASSWORD)
    if language == "en":
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}])
    problems = []

    # the campaigns page shows ops' limits; a new coupon campaign for the own storefront
    page.goto("/portal/campaigns/")
    assert "30%" in page.get_by_test_id("portal-limits").inner_text()
    follow(page, page.get_by_test_id("portal-new-coupon"))
    now = timezone.now()
    page.fill("input[name=name]", "店铺立减")
    page.fill("input[name=starts_at]", local_input(now - timedelta(hours=1)))
    page.fill("input[name=ends_at]", local_input(now + timedelta(days=7)))
    page.select_option("select[name=budget_kind]", "money")
    page.fill("input[name=budget_amount]", "100.00")
    page.select_option("select[name=discount_kind]", "fixed")
    page.fill("input[name=min_spend]", "20.00")
    page.fill("input[name=coupon_valid_days]", "7")
    # over ops' limit: ¥8.00 off a ¥20.00 minimum spend is more than 30% of it
    page.fill("input[name=discount_amount]", "8.00")
    follow(page, page.get_by_test_id("portal-campaign-save"))
    form = page.get_by_test_id("portal-campaign-form")
    assert form.locator("[name=discount_amount].is-invalid").count() == 1
    assert "¥6.00" in form.locator(".invalid-feedback").first.inner_text()
    assert not Campaign.objects.exists()
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)

    # within it: saved as the distributor's own draft on its storefront, from its margin, then started
    page.fill("input[name=discount_amount]", "2.00")
    follow(page, page.get_by_test_id("portal-campaign-save"))
    assert text["saved"] in page.inner_text("body")
    campaign = Campaign.objects.get()
    assert (campaign.distributor, campaign.storefront, campaign.funding) == (tree.seller, tree.storefront, Campaign.Funding.DISTRIBUTOR)
    follow(page, page.get_by_test_id("portal-state-activate"))
    assert text["started"] in page.inner_text("body")

    # a consumer buys with its coupon in the shop: the results show the order, its cost and its revenue
    buyer = Consumer.objects.create(phone="13800000009")
    code = coupons_issue(campaign=campaign, count=1, consumer=buyer)[0].code
    pay(place(tree, consumer=buyer, request=OfferRequest(coupon_codes=(code,))))
    page.reload()
    page_settled(page)
    assert page.get_by_test_id("r-used").inner_text().strip() == "1"
    assert "¥2.00" in page.get_by_test_id("r-cost").inner_text()
    assert "¥27.90" in page.get_by_test_id("r-revenue").inner_text()
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)
    page.goto("/portal/campaigns/")
    assert page.get_by_test_id("portal-campaign-row").count() == 1
    problems += page_problems(page, errors, width=WIDTH, internal=internal(), language=language)
    assert not problems, problems

    # the neighbour distributor sees none of it
    neighbour = new_page(device=DESKTOP, locale=text["locale"])
    login(neighbour, "neighbour", PASSWORD)
    assert neighbour.goto(f"/portal/campaigns/{campaign.pk}/").status == 404
    neighbour.goto("/portal/campaigns/")
    assert neighbour.get_by_test_id("portal-campaign-row").count() == 0
