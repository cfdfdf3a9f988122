"""Issue 13, operations staff as they meet the product (the ops walk).

* Every page of ops' menus: the ops home, the links of the top navigation, and every list page of the admin's
  sidebar sections ops may open, plus the SKU change page, the import upload page and the audit log, in Chinese
  and English at 1366 px and 390 px. A page fails on an untranslated internal value, an ISO timestamp, an element
  wider than the window (the admin's own tables may scroll inside their box), a console error or a
  Content-Security-Policy violation (the new_page fixture reports those), and in Chinese on English words in its
  headings, labels, buttons and menus.
* Ops' main job, end to end: import codes with a dry run first, then store them; edit a SKU's usage rules with
  the widgets (searchable merchant and store pickers, weekday boxes, two time inputs); review a held order.
"""

import io
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.utils import translation

from tests.browser.conftest import DESKTOP, PHONE, login
from tests.browser.pagecheck import page_problems, page_settled, watch_console
from voucherhub.core.demo import DEMO_PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OUR_APPS = {"core", "catalog", "channels", "riskcontrol", "supply", "redemption", "marketing", "settlement", "analytics"}


def internal_values() -> dict[str, set[str]]:
    """Per language, the stored values of our apps' choice fields that a page must show through their labels, never
    as stored: in Chinese every value spelt in Latin lower case (a currency code such as CNY is not one); in English
    the same, less the values that are also an English label ("device" is both a stored value and the word)."""
    values, english_labels = set(), set()
    with translation.override("en"):
        for model in apps.get_models():
            if model._meta.app_label not in OUR_APPS:
                continue
            for field in model._meta.get_fields():
                if isinstance(field, models.CharField) and field.choices:
                    for value, label in field.flatchoices:
                        english_labels.add(str(label).lower())
                        if value and re.search(r"[a-z]", str(value)):
                            values.add(str(value))
    return {"zh-CN": values, "en": values - english_labels}


INTERNAL = internal_values()

# The admin theme (unfold) has no <main>: its content is #content. The same words as pagecheck reads in <main>
# (cells, definitions, list items, badges, options) plus a change page's read-only values.
ADMIN_CELL_WORDS = """() => Array.from(document.querySelectorAll(
    '#content td, #content dd, #content li, #content .readonly, #content option, #content [class*=rounded-default] > span'))
  .flatMap(el => el.innerText.split(/[·→|\\n,]/)).map(t => t.trim()).filter(Boolean)"""

# Latin words that belong on a Chinese page: the product's name, units, formats and codes.
LATIN_OK = {"VoucherHub", "SKU", "SKUs", "API", "XLSX", "CSV", "POS", "IP", "ID", "VIP", "ERP", "CNY", "USD", "HKD", "QR", "TOTP"}
LATIN_OK |= {"Webhook"}
# Headings, table heads, labels, buttons, links, menus and the sidebar: the words a reader scans first. Not the
# user menu (a name), the language picker (each language in its own name), the admin's icons (ligatures of
# English words drawn as pictures) or the rows of an admin list (data: user names, slugs, key prefixes).
HEADING_TEXTS = """() => {
  const skip = '[data-testid=user-menu], [data-testid=language-switcher], .material-symbols-outlined, script, style, '
             + 'select[name=language], #changelist-search input, #result_list tbody';
  const picked = document.querySelectorAll(
    'h1, h2, h3, h4, h5, h6, th, .card-header, .nav-link, .dropdown-item, label, .btn, button, caption, legend, '
    + '#nav-sidebar a, aside a, #content a, [role=tab]');
  return Array.from(picked).filter(el => !el.closest(skip) && el.offsetParent !== null).map(el => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll(skip).forEach(n => n.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  }).filter(Boolean);
}"""


# pagecheck lets anything past the window's edge pass when some ancestor scrolls sideways; unfold wraps its whole
# content in such a box, so on the admin the page itself scrolled sideways unnoticed. Here only a table may reach
# past the edge, inside a box of its own that fits the window and scrolls; anything else past the edge is reported.
ADMIN_TOO_WIDE = """width => {
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const inTableBox = el => {
    const table = el.closest('table');
    if (!table) return false;
    for (let p = table.parentElement; p; p = p.parentElement) {
      if (scrolls(p)) return p.getBoundingClientRect().right <= width + 1;
    }
    return false;
  };
  const past = el => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 1) return false;
    if (getComputedStyle(el).visibility === 'hidden' || el.closest('[hidden], [aria-hidden=true]')) return false;
    return !inTableBox(el);
  };
  // the innermost ones: the elements that push the page, not every box around them
  return Array.from(document.querySelectorAll('#main *'))
    .filter(el => past(el) && !Array.from(el.children).some(past)).slice(0, 5)
    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + String(el.className).slice(0, 80)
               + ' right=' + Math.round(el.getBoundingClientRect().right));
}"""


def english_words(page) -> list[str]:
    words = {w for text in page.evaluate(HEADING_TEXTS) for w in re.findall(r"[A-Za-z][A-Za-z_'-]*", text)}
    return sorted(w for w in words - LATIN_OK if re.search(r"[a-z]", w))


def check(page, errors: list[str], *, width: int, locale: str) -> list[str]:
    internal, chinese = INTERNAL[locale], locale != "en"
    problems = page_problems(page, errors, width=width, internal=internal)
    where = page.url
    # A phone widens its layout viewport to a page that does not fit, and window.innerWidth with it: measured
    # against the device's width, not against innerWidth.
    laid_out = page.evaluate("() => Math.max(window.innerWidth, document.documentElement.scrollWidth)")
    if laid_out > width:
        problems.append(f"{where}: laid out {laid_out}px wide on a {width}px screen")
    if page.locator("#content").count():
        shown = sorted({w for w in page.evaluate(ADMIN_CELL_WORDS) if w in internal})
        if shown:
            problems.append(f"{where}: internal values shown: {shown}")
        wide = page.evaluate(ADMIN_TOO_WIDE, width)
        if wide:
            problems.append(f"{where}: past the {width}px window's edge, outside a table's own scroll box: {wide}")
    if chinese:
        leftovers = english_words(page)
        if leftovers:
            problems.append(f"{where}: English in headings, labels, buttons or menus: {leftovers}")
    return problems


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """`make run`'s data: every list ops opens has rows."""
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo", stdout=io.StringIO())


def menu_pages(page) -> list[str]:
    """Every page ops' menus link to: the top navigation (from the ops home) and the admin's sidebar."""
    page.goto("/dashboards/ops/")
    top = page.locator("nav a[href^='/'], .navbar a[href^='/']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    page.goto("/admin/")
    side = page.locator("#nav-sidebar a[href^='/admin/'], aside a[href^='/admin/']").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    hrefs = []
    for href in [*top, *side]:
        if href not in hrefs and not href.startswith(("/accounts/logout", "/i18n/")):
            hrefs.append(href)
    return hrefs


def test_every_ops_menu_page_reads_as_a_product_in_both_languages_on_a_laptop_and_a_phone(new_page, demo, live_server, settings):
    from catalog.models import Sku
    from marketing.models import Campaign

    sku = Sku.objects.order_by("code").first()
    flash = Campaign.objects.get(kind=Campaign.Kind.FLASH_SALE)
    coupons = Campaign.objects.filter(kind=Campaign.Kind.COUPON, distributor=None).order_by("pk").first()
    extra = [
        f"/admin/catalog/sku/{sku.pk}/change/",
        "/admin/catalog/importjob/add/",
        "/admin/core/auditlog/",
        "/risk/reviews/",
        "/risk/alerts/",
        # issue 16: a campaign's page with its preview, its live results, a new campaign's form per kind
        f"/ops/marketing/{flash.pk}/",
        f"/ops/marketing/{flash.pk}/results/",
        f"/ops/marketing/{coupons.pk}/results/",
        "/ops/marketing/new/?kind=group_buy",
        f"/admin/marketing/campaign/{flash.pk}/change/",
    ]
    problems = []
    for locale in ("zh-CN", "en"):
        for device in (DESKTOP, PHONE):
            width = device["viewport"]["width"]
            page = new_page(device=device, locale=locale)
            errors = watch_console(page)
            login(page, "ops", DEMO_PASSWORD)
            if locale == "en":  # as the language switch leaves it (on a phone the switch sits in the folded menu)
                page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}])
            page.goto("/dashboards/ops/")
            assert page.get_by_test_id("audit-log-link").get_attribute("href") == "/admin/core/auditlog/"
            pages = menu_pages(page)
            wanted = {"/admin/catalog/sku/", "/admin/catalog/importjob/", "/admin/riskcontrol/riskalert/", "/admin/core/auditlog/"}
            wanted |= {"/ops/marketing/", "/admin/marketing/campaign/", "/admin/marketing/coupon/", "/admin/marketing/campaignuse/"}
            assert wanted <= set(pages), pages
            for href in dict.fromkeys([*pages, *extra]):
                response = page.goto(href)
                page_settled(page)
                if response is None or response.status >= 400:
                    problems.append(f"{href}: HTTP {response.status if response else '?'}")
                    continue
                problems += [f"[{locale} {width}px] {p}" for p in check(page, errors, width=width, locale=locale)]
            page.context.close()
    assert not problems, f"{len(problems)} problems on ops' pages:\n" + "\n".join(problems)


JOB_TEXT = {
    "zh-hans": {
        "import": "导入卡密",
        "all_good": "试运行已完成：所有行均无错误",
        "confirm": "导入 3 条卡密",
        "stored": "已将 3 条卡密存入批次",
        "save": "保存并继续编辑",
        "equal": "结束时间不能与开始时间相同",
        "unknown": "选择一个有效的选项",
        "acknowledge": "确认",
        "acknowledged": "已确认",
    },
    "en": {
        "import": "Import codes",
        "all_good": "Dry run finished: every row is good",
        "confirm": "Import 3 codes",
        "stored": "Stored 3 codes in batch",
        "save": "Save and continue editing",
        "equal": "The end must differ from the start",
        "unknown": "Select a valid choice",
        "acknowledge": "Acknowledge",
        "acknowledged": "Acknowledged",
    },
}


def pick(page, field: str, typed: str, option: str) -> None:
    """Pick `option` in the select2 multi-select of `field` by typing `typed` into its search box."""
    box = page.locator(f"select[name={field}] + .select2-container")
    box.locator(".select2-search__field").click()
    box.locator(".select2-search__field").press_sequentially(typed)
    page.locator(".select2-results__option", has_text=option).first.click()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ops_imports_codes_after_a_dry_run_edits_a_skus_usage_rules_and_acknowledges_a_risk_alert(new_page, language):
    from catalog.models import CardCode, ImportJob, Sku
    from riskcontrol.alerts import alert_raise
    from riskcontrol.models import RiskAlert
    from tests import factories
    from tests.catalog.importfiles import csv_bytes, fresh_codes
    from tests.factories import PASSWORD
    from voucherhub.core import roles

    text = JOB_TEXT[language]
    factories.UserFactory(username="ops-walker", role=roles.OPS, is_staff=True)
    sku = factories.SkuFactory(code="WALK-COFFEE", name="步行咖啡券", allowed_merchant_ids=[], allowed_store_ids=[], allowed_weekdays=[])
    coffee = factories.MerchantFactory(name="星巴克", code="starbucks")
    factories.MerchantFactory(name="万达影城", code="wanda")
    cinema_store = factories.StoreFactory(merchant=factories.MerchantFactory(name="CGV影城", code="cgv"), name="五角场店", code="sh-wjc")
    alert = alert_raise(
        kind=RiskAlert.Kind.LOCKOUT,
        source="terminal:T9",
        params={"source_kind": "terminal", "source_value": "T9", "failures": 5, "period": 900},
    )
    page = new_page(locale="zh-CN" if language == "zh-hans" else "en")
    errors = watch_console(page)
    login(page, "ops-walker", PASSWORD)

    # import: from the ops home, a dry run first (every row good, and it says so), then the codes are stored
    codes = fresh_codes(3)
    page.get_by_role("link", name=text["import"]).first.click()
    page.wait_for_selector("[data-testid=import-upload-form]")
    page.select_option("select[name=sku]", str(sku.pk))
    page.set_input_files(
        "input[name=file]", files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": csv_bytes([(c, "", "") for c in codes])}]
    )
    with page.expect_navigation():
        page.locator("[data-testid=import-submit]").click()
    page.wait_for_selector("[data-testid=import-dry-run]")
    assert text["all_good"] in page.get_by_test_id("import-dry-run").inner_text()
    assert CardCode.objects.filter(sku=sku).count() == 0
    with page.expect_navigation():
        page.get_by_role("button", name=text["confirm"]).click()
    page.get_by_test_id("import-result").wait_for()
    assert text["stored"] in page.get_by_test_id("import-result").inner_text()
    assert CardCode.objects.filter(sku=sku).count() == 3
    assert ImportJob.objects.get().status == ImportJob.Status.DONE

    # usage rules: merchants and stores picked by searching, weekdays ticked, the hours typed in time inputs
    page.goto(f"/admin/catalog/sku/{sku.pk}/change/")
    page.wait_for_load_state("networkidle")
    assert page.locator("textarea[name=allowed_merchant_ids], input[name=allowed_merchant_ids]").count() == 0
    pick(page, "allowed_merchant_ids", "星巴", "星巴克 (starbucks)")
    pick(page, "allowed_store_ids", "五角", "CGV影城 · 五角场店")
    saturday, sunday = ("星期六", "星期日") if language == "zh-hans" else ("Saturday", "Sunday")
    page.get_by_label(saturday, exact=True).check()
    page.get_by_label(sunday, exact=True).check()
    page.locator("input[name=usable_from_time]").fill("22:00")
    page.locator("input[name=usable_until_time]").fill("22:00")
    with page.expect_navigation():
        page.get_by_role("button", name=text["save"]).click()
    # equal ends: refused on the end's field, nothing stored, the picks kept on the page
    assert text["equal"] in page.locator(".field-usable_until_time").inner_text()
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == [] and sku.usable_from_time is None
    assert page.locator("select[name=allowed_merchant_ids] option:checked").all_inner_texts() == ["星巴克 (starbucks)"]
    page.locator("input[name=usable_until_time]").fill("02:00")
    with page.expect_navigation():
        page.get_by_role("button", name=text["save"]).click()
    sku.refresh_from_db()
    assert sku.allowed_merchant_ids == [coffee.pk] and sku.allowed_store_ids == [cinema_store.pk]
    assert sku.allowed_weekdays == [6, 7]
    assert (sku.usable_from_time.isoformat(), sku.usable_until_time.isoformat()) == ("22:00:00", "02:00:00")
    # the page shows what is stored: the picks as chips, the boxes ticked, the times
    chips = page.locator("select[name=allowed_merchant_ids] + .select2-container .select2-selection__choice").all_inner_texts()
    assert any("星巴克" in chip for chip in chips)
    assert (
        page.get_by_label(saturday, exact=True).is_checked()
        and not page.get_by_label("星期一" if language == "zh-hans" else "Monday", exact=True).is_checked()
    )
    assert page.locator("input[name=usable_until_time]").input_value() == "02:00"
    assert Sku.objects.get(pk=sku.pk).allowed_store_ids == [cinema_store.pk]

    # a risk alert: reviewed from the alert list and acknowledged with a note
    page.goto("/risk/alerts/")
    item = page.get_by_test_id("alert-list").locator(".list-group-item", has_text="T9")
    item.locator("input[name=note]").fill("checked with the store")
    with page.expect_navigation():
        item.get_by_role("button", name=text["acknowledge"]).click()
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.note == "checked with the store"
    assert text["acknowledged"] in page.get_by_test_id("alert-list").locator(".list-group-item", has_text="T9").inner_text()
    assert not errors, errors
