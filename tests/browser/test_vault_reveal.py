"""The reveal paths as a person clicks them: select codes, give a reason and the password, see them once."""

import pytest

from catalog import services
from catalog.models import CardCode
from tests import factories
from tests.browser.conftest import follow, login
from tests.catalog.vault_helpers import plaintexts_of
from tests.factories import PASSWORD
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_ops_reveals_selected_codes_and_downloads_a_batch(new_page):
    # given an ops user and a batch of generated codes
    factories.UserFactory(username="ops-reveal", role=roles.OPS, is_staff=True)
    batch = services.codes_generate(sku=factories.SkuFactory(code="REVEAL-BROWSER"), count=4)
    plaintexts = plaintexts_of(CardCode.objects.filter(batch=batch))
    page = new_page(locale="en-US")
    login(page, "ops-reveal", PASSWORD)

    # when two codes are selected and the reveal action is run
    page.goto("/admin/catalog/cardcode/")
    assert not any(p in page.content() for p in plaintexts.values())
    page.locator("input.action-select").nth(0).check()
    page.locator("input.action-select").nth(1).check()
    page.select_option("select[name=action]", "reveal_selected")
    follow(page, page.get_by_role("button", name="Run"))
    # then the form asks for a reason and the password; a wrong password is refused in the form
    page.fill("input[name=reason]", "customer ticket 99")
    page.fill("input[name=password]", "not-my-password")
    follow(page, page.locator("[data-testid=action-form] button[type=submit]"))
    assert page.locator("input[name=password]").is_visible()
    assert not any(p in page.content() for p in plaintexts.values())
    # and with the right password both codes are shown, grouped as printed
    page.fill("input[name=reason]", "customer ticket 99")
    page.fill("input[name=password]", PASSWORD)
    follow(page, page.locator("[data-testid=action-form] button[type=submit]"))
    shown = {text.replace("-", "") for text in page.locator("[data-testid=plaintext]").all_inner_texts()}
    assert len(shown) == 2 and shown <= set(plaintexts.values())
    assert AuditLog.objects.filter(action="codes.reveal", reason="customer ticket 99").count() == 2

    # when the whole batch is downloaded from its page
    page.goto(f"/admin/catalog/codebatch/{batch.pk}/change/")
    follow(page, page.get_by_role("link", name="Download codes"))
    page.fill("input[name=reason]", "supplier reconciliation")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_download() as download:
        page.locator("[data-testid=action-form] button[type=submit]").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    # then the CSV holds every code of the batch
    assert all(p in text for p in plaintexts.values())
