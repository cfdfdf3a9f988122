"""Ops' side of a campaign, as ops click it (issue 16): create a coupon campaign in the form of its kind, preview
its price effect, save it, activate it, and watch its results page count an order as it comes in (the numbers
refresh themselves every 10 seconds), in Chinese and in English, with no page problem on the way."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import follow, login
from tests.browser.pagecheck import page_problems, page_settled, watch_console

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEXT = {
    "zh-hans": {"locale": "zh-CN", "saved": "活动已保存", "activated": "活动已启用", "active": "进行中"},
    "en": {"locale": "en", "saved": "Campaign saved", "activated": "Campaign activated", "active": "Active"},
}


def local_input(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ops_creates_previews_activates_a_coupon_campaign_and_watches_its_results(new_page, language, settings, live_server):
    from marketing.models import Campaign, CampaignUse, Consumer
    from tests import factories
    from tests.factories import PASSWORD
    from voucherhub.core import roles
    from voucherhub.core.models import AuditLog

    text = TEXT[language]
    factories.UserFactory(username="ops-marketer", role=roles.OPS, is_staff=True)
    page = new_page(locale=text["locale"])
    errors = watch_console(page)
    login(page, "ops-marketer", PASSWORD)
    if language == "en":
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}])
    problems = []

    # from the campaign list: a new coupon campaign, its form showing only a coupon's fields
    page.goto("/ops/marketing/")
    page.select_option("#new-kind", "coupon")
    follow(page, page.get_by_test_id("campaign-new-form").locator("button"))
    form = page.get_by_test_id("campaign-form")
    assert form.locator("[name=discount_kind]").count() == 1 and form.locator("[name=group_size]").count() == 0
    now = timezone.now()
    page.fill("input[name=name]", "满 50 减 10")
    page.fill("input[name=starts_at]", local_input(now - timedelta(hours=1)))
    page.fill("input[name=ends_at]", local_input(now + timedelta(days=7)))
    page.select_option("select[name=budget_kind]", "money")
    page.fill("input[name=budget_amount]", "100.00")
    page.select_option("select[name=discount_kind]", "fixed")
    page.fill("input[name=discount_amount]", "10.00")
    page.fill("input[name=min_spend]", "50.00")

    # the preview: an example order of ¥100.00 (no SKU picked), ¥10.00 off, the budget lasting 10 orders; nothing saved
    follow(page, page.get_by_test_id("campaign-preview-button"))
    preview = page.get_by_test_id("campaign-preview")
    assert "¥100.00" in preview.get_by_test_id("preview-list").inner_text()
    assert "¥10.00" in preview.get_by_test_id("preview-discount").inner_text()
    assert "10" in preview.get_by_test_id("preview-budget").inner_text()
    assert not Campaign.objects.exists()
    problems += page_problems(page, errors, width=1366, internal={"coupon", "money", "fixed", "draft"}, language=language)

    # saved as a draft, then activated (audited)
    follow(page, page.get_by_test_id("campaign-save"))
    assert text["saved"] in page.inner_text("body")
    follow(page, page.get_by_test_id("state-activate"))
    assert text["activated"] in page.inner_text("body")
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.ACTIVE
    assert AuditLog.objects.filter(action="marketing.campaign.activate", object_id=str(campaign.pk)).exists()

    # the results page: nothing yet, then an order comes in and the numbers follow without a reload
    follow(page, page.get_by_test_id("results-link"))
    page_settled(page)
    assert page.get_by_test_id("r-used").inner_text().strip() == "0"
    CampaignUse.objects.create(
        campaign=campaign, order_ref="BROWSER-1", consumer=Consumer.objects.create(phone="13800001234"), channel="storefront",
        list_amount=Decimal("60.00"), discount=Decimal("10.00"), paid_amount=Decimal("50.00"), new_customer=True,
        status=CampaignUse.Status.PAID,
    )  # fmt: skip
    page.wait_for_function("() => document.querySelector('[data-testid=r-used]').innerText.trim() === '1'", timeout=20_000)
    assert "¥10.00" in page.get_by_test_id("r-cost").inner_text()
    assert "¥50.00" in page.get_by_test_id("r-revenue").inner_text()
    assert "100.00%" in page.get_by_test_id("r-new").inner_text()
    problems += page_problems(page, errors, width=1366, internal={"coupon", "money", "fixed", "active"}, language=language)
    assert not problems, problems
    assert not errors, errors
