"""Ops issue coupons to an uploaded list: the form, the preview with its bad rows, confirm, the progress bar
that htmx polls while the worker issues (the test plays the django-q2 worker: it runs what the page queued),
the results. In Chinese and in English; the phones are masked on every page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import _sync

from marketing.models import Campaign, Coupon, Issuance
from tests import factories
from tests.browser.conftest import follow, login, switch_language
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

PHONES = ["13800138000", "13900139000", "15000150000"]
TEXT = {
    "zh-hans": {"title": "新建发放", "bad": "不是中国大陆手机号", "confirm": "向 3 个对象发放", "done": "完成", "delivered": "已送达"},
    "en": {
        "title": "New issuance",
        "bad": "not a mainland mobile number",
        "confirm": "Issue to 3 recipients",
        "done": "Done",
        "delivered": "Delivered",
    },
}


def work_the_queue() -> int:
    """What a qcluster worker does: run each queued task (django-q2's own code). Counts the issuance runs."""
    done = 0
    for queued in OrmQ.objects.order_by("id"):
        is_issuance = queued.func().startswith("marketing.tasks_issuance.")
        _sync(queued.payload)
        queued.delete()
        done += is_issuance
    return done


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ops_uploads_a_list_previews_confirms_and_watches_the_bar(new_page, language):
    text = TEXT[language]
    factories.UserFactory(username="ops-issuer", role=roles.OPS, is_staff=True)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="老客回馈券", kind=Campaign.Kind.TARGETED, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=7), discount_kind=Campaign.DiscountKind.FIXED, discount_amount=Decimal("10.00"),
    )  # fmt: skip
    data = ("手机号\n" + "\n".join([PHONES[0], "12345", PHONES[1], PHONES[0], PHONES[2]]) + "\n").encode()

    page = new_page(locale="zh-CN")
    login(page, "ops-issuer", PASSWORD)
    if language == "en":
        switch_language(page, "en")
    page.goto("/ops/marketing/issuance/")
    follow(page, page.get_by_test_id("issuance-new-link"))
    assert text["title"] in page.title()
    page.select_option("select[name=campaign]", str(campaign.pk))
    page.set_input_files("input[name=file]", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": data}])
    follow(page, page.get_by_test_id("issuance-preview-button"))

    # the preview: 3 good rows, 2 bad ones with their row numbers and reasons, phones masked
    assert page.get_by_test_id("preview-count").inner_text() == "3"
    bad = page.get_by_test_id("bad-row")
    assert bad.count() == 2
    assert text["bad"] in bad.nth(0).inner_text() and bad.nth(0).locator("td").first.inner_text() == "3"
    assert "138****8000" in page.get_by_test_id("preview-sample").inner_text()
    assert not any(phone in page.content() for phone in PHONES)
    confirm = page.get_by_test_id("issuance-confirm")
    assert confirm.inner_text().strip() == text["confirm"]
    follow(page, confirm)

    # queued: the bar is at 0% and polls; the worker runs; the bar reaches 100% without a reload
    progress = page.get_by_test_id("issuance-progress")
    assert progress.get_attribute("data-status") == "queued"
    assert page.get_by_test_id("issuance-percent").inner_text() == "0%"
    assert work_the_queue() == 1
    page.wait_for_selector("[data-testid=issuance-progress][data-status=done]", timeout=15_000)
    assert page.get_by_test_id("issuance-percent").inner_text() == "100%"
    assert text["done"] in page.get_by_test_id("issuance-status").inner_text()
    assert page.get_by_test_id("result-delivered").inner_text() == "3"
    assert text["delivered"] in page.get_by_test_id("issuance-results").inner_text()
    assert not any(phone in page.content() for phone in PHONES)
    issuance = Issuance.objects.get()
    assert Coupon.objects.filter(issuance=issuance).count() == 3
