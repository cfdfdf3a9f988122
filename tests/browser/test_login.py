import pytest

from tests import factories
from tests.browser.conftest import PHONE, login, switch_language
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_ops_logs_in_and_sees_the_stock_in_both_languages(new_page):
    # given an ops user and a SKU
    factories.UserFactory(username="ops-browser", role=roles.OPS, is_staff=True)
    factories.SkuFactory(code="BROWSER-SKU", name="浏览器测试 SKU")
    page = new_page()
    # when the user logs in (default language: Chinese)
    login(page, "ops-browser", PASSWORD)
    # then the ops home shows the stock table in Chinese
    assert page.url.endswith("/dashboards/ops/")
    assert page.get_by_text("各 SKU 库存").is_visible()
    assert page.locator("[data-testid=stock-table]").get_by_text("BROWSER-SKU").is_visible()
    # and in English after switching
    switch_language(page, "en")
    assert page.get_by_text("Stock by SKU").is_visible()


def test_login_page_fits_a_phone(new_page):
    page = new_page(device=PHONE)
    page.goto("/accounts/login/")
    assert page.get_by_role("button", name="登录").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
