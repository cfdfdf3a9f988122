from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import CardCode
from redemption.models import Redemption
from redemption.services import clerk_link
from tests import factories
from tests.browser.conftest import TABLET, login
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_clerk_redeems_a_code_on_a_tablet(new_page):
    # given a clerk of a merchant and a sold code of a SKU it honours
    store = factories.StoreFactory(name="南京西路店", merchant=factories.MerchantFactory(name="星巴克"))
    sku = factories.SkuFactory(name="星巴克中杯饮品券", face_value=Decimal("35.00"), allowed_merchant_ids=[store.merchant_id])
    code, plaintext = factories.card_code(sku=sku)
    user = factories.UserFactory(username="clerk-browser", role=roles.MERCHANT)
    clerk_link(user=user, merchant=store.merchant)
    page = new_page(device=TABLET)

    # when the clerk logs in, lands on the console and "scans" the code (typing + Enter, like a scanner)
    login(page, "clerk-browser", PASSWORD)
    assert page.url.endswith("/merchant/")
    field = page.locator("[data-testid=code-input]")
    assert field.evaluate("el => el === document.activeElement")
    field.type(plaintext)
    field.press("Enter")

    # then the check shows the product and value, and Enter on the focused button redeems
    verification = page.locator("[data-testid=verification]")
    verification.wait_for()
    assert "星巴克中杯饮品券" in verification.inner_text()
    button = page.locator("[data-testid=redeem-button]")
    page.wait_for_function("document.activeElement && document.activeElement.dataset.testid === 'redeem-button'")
    page.keyboard.press("Enter")
    page.locator("[data-testid=result-success]").wait_for()
    expect(page.locator("[data-testid=today-count]")).to_have_text("1")
    expect(page.locator("[data-testid=today-table]").get_by_text(code.hint)).to_be_visible()
    # the field is empty and focused for the next customer
    expect(field).to_have_value("")
    expect(field).to_be_focused()
    expect(button).to_be_hidden()
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert Redemption.objects.get().clerk == user

    # scanning the same code again tells where and when it was used
    field.type(plaintext)
    field.press("Enter")
    refusal = page.locator("[data-testid=refusal]")
    refusal.wait_for()
    assert "南京西路店" in refusal.inner_text()

    # the page fits the tablet without sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["viewport"]["width"]

    # the redemption is reversed from the list, after a confirmation
    redemption = Redemption.objects.get()
    page.goto("/merchant/redemptions/")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.locator(f"[data-testid=redemption-{redemption.pk}] input[name=reason]").fill("顾客取消")
    with page.expect_navigation():
        page.locator(f"[data-testid=reverse-{redemption.pk}]").tap()
    assert dialogs and "冲正" in dialogs[0]
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.REVERSED and redemption.reverse_reason == "顾客取消"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD


def test_clerk_switches_store(new_page):
    merchant = factories.MerchantFactory(name="万达影城")
    factories.StoreFactory(merchant=merchant, name="五角场店")
    second = factories.StoreFactory(merchant=merchant, name="徐家汇店")
    user = factories.UserFactory(username="clerk-stores", role=roles.MERCHANT)
    clerk_link(user=user, merchant=merchant)
    page = new_page(device=TABLET)
    login(page, "clerk-stores", PASSWORD)
    with page.expect_navigation():
        page.select_option("[data-testid=store-picker] select", str(second.pk))
    assert page.locator("[data-testid=store-picker] select").input_value() == str(second.pk)
    assert page.locator("#code-form input[name=store]").input_value() == str(second.pk)
