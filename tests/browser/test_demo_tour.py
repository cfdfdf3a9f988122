"""The demo tour, the README's promise: a new user runs `make run`, logs in as each demo user and sees
real-looking data on every page that user's navigation offers, in Chinese and in English.

`seed_demo` runs once, as `make run` runs it, with its 90 days of history (analytics/demo.py); then a browser
logs in as ops, finance, the distributor and the merchant clerk with the README's password and opens each
role's home and every dashboard, console and list its menus link to, in Chinese (the default language), and
the main ones again after switching to English. Each page must load (no error page), be styled, show the
demo's rows and figures where the demo makes them (no empty state, no zero), keep English out of the Chinese
page's headings and menus, and raise no console error and no Content-Security-Policy violation (the new_page
fixture fails on those). The analytics dashboards (issue 17) must show every chart drawn with data (an ECharts
canvas, never "No data for this period"), each chart's table view with rows and KPI cards with figures, in
both languages. Every problem found is listed at the end, so one run shows every page that falls short.

This is the suite's one browser test on the demo's history (it seeds it once; the dashboards' own browser
tests use factory rows).
"""

import io
import re
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from analytics import demo as demo_history
from catalog.models import CardCode, Sku
from catalog.vault import keyring
from channels.models import Distributor
from riskcontrol.models import RiskRule
from settlement.models import Order
from tests.browser.conftest import follow, login, switch_language
from tests.browser.pagecheck import watch_console
from voucherhub.core.demo import DEMO_PASSWORD
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# What the templates print instead of rows; none may show where the demo has data.
EMPTY_STATES = [
    "No imports yet.",
    "No SKUs yet.",
    "No open risk alerts.",
    "None.",
    "No paid orders today.",
    "No statements yet.",
    "Nothing waiting.",
    "No exports yet.",
    "No invitations yet.",
    "No quota yet.",
    "No violations in this period.",
    "No redemptions in this period.",
    "No redemptions yet today.",
    "Nothing waits for review.",
    "No alerts.",
    "No commission yet.",
    "No keys yet.",
    "No movements yet.",
    "No orders yet.",
    "No withdrawals yet.",
    "No top-ups yet.",
    "No products yet.",
    "No prices for your level yet.",
    "Nobody in your team yet.",
    "Nothing on sale here yet.",
]

# Latin words that belong on a Chinese page: the product's name, units and formats, codes.
LATIN_OK = {"VoucherHub", "Webhook", "SKU", "SKUs", "API", "XLSX", "CSV", "POS", "IP", "ID", "VIP", "ERP", "CNY", "USD", "HKD", "QR", "B"}

# Headings, menus (their folded dropdowns too), table heads, labels and buttons: the words a reader scans
# first. The user menu (a user name) and the language picker (each language in its own name) are left out;
# so are the admin theme's icons, which are ligatures of English words drawn as pictures.
HEADING_TEXTS = """() => {
  const skip = '[data-testid=user-menu], [data-testid=language-switcher], .material-symbols-outlined, #changelist-search, script, style';
  const picked = document.querySelectorAll(
    'h1, h2, h3, h4, h5, h6, th, .card-header, .nav-link, .dropdown-item, label, .btn, caption, legend, #nav-sidebar a, aside a');
  return Array.from(picked).filter(el => !el.closest(skip)).map(el => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll(skip).forEach(n => n.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  }).filter(Boolean);
}"""

LAYOUT = """() => ({
  unstyled: Array.from(document.styleSheets).filter(s => { try { return !s.cssRules.length; } catch (e) { return true; } })
              .map(s => s.href),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  crushed: Array.from(document.querySelectorAll('td input:not([type=hidden]):not([type=checkbox]):not([type=radio]), td select'))
             .filter(el => el.offsetParent !== null && el.offsetWidth < 64).map(el => el.name + ' ' + el.offsetWidth + 'px'),
})"""


# The analytics dashboards' charts (analytics/selectors/*): every one must be drawn with the demo's data.
OPS_CHARTS = ("sales-trend", "top-skus-revenue", "top-skus-count", "channel-share", "top-distributors", "stock-runway",
              "redemption-by-sku", "redemption-by-face-value", "redemption-peaks", "expiry-reminders", "risk-blocks")  # fmt: skip
FINANCE_CHARTS = ("margin", "commission", "commission_ranking", "payables", "marketing_expense")
CAMPAIGN_CHARTS = ("funnel", "daily", "roi", "channel_orders", "channel_revenue", "channel_new_share")
PORTAL_CHARTS = ("own-vs-team", "ranking-sales", "ranking-growth", "storefront-funnel", "team-skus", "commission-levels")
CONSOLE_CHARTS = ("redemptions-per-day", "redemption-heat", "redemptions-by-store", "holders-new-returning", "owed")

# Each chart card on the page: its key, whether ECharts drew it (a canvas), whether the page said it has no data,
# and the rows of its table view (the screen readers' copy of the chart).
CHART_CARDS = """() => Array.from(document.querySelectorAll('section[data-testid^="chart-"]')).map(card => ({
  key: card.dataset.testid.slice(6),
  drawn: !!card.querySelector('.vh-chart[data-drawn=true] canvas'),
  empty: !!card.querySelector('.vh-chart--empty'),
  rows: card.querySelectorAll('table[data-testid^="table-"] tbody tr th').length,
}))"""
ALL_DRAWN = "() => !document.querySelector('.vh-chart:not([data-drawn]):not(.vh-chart--empty)')"


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """`make run`'s data with its 90 days of history, once; returns the seconds seed_demo spent computing in this
    process (CPU time: the wall clock of a machine shared with other jobs says more about them than about it)."""
    settings.MEDIA_ROOT = tmp_path  # the demo's export file goes here, not under var/
    settings.DEMO_HISTORY_DAYS = demo_history.HISTORY_DAYS  # the suite's default is none (tests/conftest.py)
    started = time.process_time()
    call_command("seed_demo", stdout=io.StringIO())
    return time.process_time() - started


def figure(text: str) -> Decimal:
    """The number in a figure such as '¥4,577.70', '3' or '1 个问题'."""
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found, f"no number in {text!r}"
    return Decimal(found.group().replace(",", ""))


class Tour:
    """One browser page walking a role's pages in one language; it notes every shortfall instead of stopping."""

    def __init__(self, page, who: str):
        self.page = page
        self.who = who
        self.lang = "zh-hans"
        self.problems: list[str] = []
        self.errors = watch_console(page)

    def _(self, msgid, lang: str | None = None) -> str:
        """`msgid` (a string, or a lazy model name) in this page's language (or in `lang`)."""
        with translation.override(lang or self.lang):
            return gettext(msgid) if isinstance(msgid, str) else str(msgid)

    def note(self, ok: bool, what: str) -> bool:
        if not ok:
            self.problems.append(f"{self.who} [{self.lang}] {self.page.url}: {what}")
        return ok

    def visit(self, path: str, heading) -> None:
        """Open `path` and check what every page owes: it loads, it is styled, it shows `heading` in the page's
        language, no empty state, and (in Chinese) no English in its headings and menus."""
        response = self.page.goto(path)
        self.arrived(heading, status=response.status if response else 0)

    def arrived(self, heading, *, status: int = 200) -> None:
        page = self.page
        if not self.note(200 <= status < 400, f"HTTP {status}"):
            return
        main = page.locator("main, #content, #main").first.inner_text()
        if heading is not None:
            self.note(self._(heading) in main, f"heading {self._(heading)!r} is missing")
            if self.lang != "en":
                self.note(self._(heading) != self._(heading, "en"), f"heading {self._(heading, 'en')!r} is not translated")
        for message in EMPTY_STATES:
            self.note(self._(message) not in main, f"empty state {self._(message)!r}")
        layout = page.evaluate(LAYOUT)
        self.note(not layout["unstyled"], f"style sheets not applied: {layout['unstyled']}")
        self.note(layout["overflow"] <= 1, f"the page is {layout['overflow']}px wider than the window")
        self.note(not layout["crushed"], f"fields in a table too narrow to type in: {layout['crushed']}")
        if self.lang != "en":
            leftovers = sorted(
                {word for text in page.evaluate(HEADING_TEXTS) for word in re.findall(r"[A-Za-z][A-Za-z_'-]*", text)} - LATIN_OK
            )
            leftovers = [w for w in leftovers if re.search(r"[a-z]", w)]
            self.note(not leftovers, f"English in headings or menus: {leftovers}")

    def shows(self, testid: str, *texts: str) -> str:
        """The text of `testid`, which must show each of `texts`."""
        box = self.page.get_by_test_id(testid)
        if not self.note(box.count() > 0, f"no [data-testid={testid}]"):
            return ""
        text = " ".join(box.all_inner_texts())
        for wanted in texts:
            self.note(wanted in text, f"{testid} does not show {wanted!r}: {text[:300]!r}")
        return text

    def positive(self, testid: str) -> Decimal:
        """The figure in `testid`, which must be above zero."""
        text = self.shows(testid)
        value = figure(text) if text else Decimal(0)
        self.note(value > 0, f"{testid} shows {text!r}, where the demo has data")
        return value

    def rows(self, testid: str, selector: str = "tbody tr", *, at_least: int = 1) -> int:
        n = self.page.get_by_test_id(testid).locator(selector).count()
        self.note(n >= at_least, f"{testid} has {n} rows, wanted at least {at_least}")
        return n

    def money(self, testid: str) -> None:
        """A money figure: yuan and exactly two decimals, above zero."""
        text = self.shows(testid).strip()
        self.note(re.fullmatch(r"¥[\d,]+\.\d\d", text) is not None, f"{testid} is not money with cents: {text!r}")
        self.note(bool(text) and figure(text) > 0, f"{testid} shows {text!r}, where the demo has data")

    def charts(self, heading, keys: tuple[str, ...]) -> None:
        """An analytics dashboard (the page shown): the page's own checks, then every chart of `keys` (and any
        other on the page) drawn with data, each with its table view, and KPI cards with figures above zero."""
        self.arrived(heading)
        page = self.page
        try:
            page.wait_for_function(ALL_DRAWN, timeout=10_000)
        except PlaywrightTimeout:
            self.note(False, "charts still not drawn after 10 s")
        cards = page.evaluate(CHART_CARDS)
        missing = sorted(set(keys) - {card["key"] for card in cards})
        self.note(not missing, f"charts missing: {missing}")
        for card in cards:
            self.note(card["drawn"] and not card["empty"], f"chart {card['key']} is not drawn with data")
            self.note(card["rows"] > 0, f"chart {card['key']} has no rows in its table view")
        self.note(self._("No data for this period") not in page.locator("main").inner_text(), "a chart says it has no data")
        kpis = page.get_by_test_id("kpis").locator(".vh-kpi__value").all_inner_texts()
        self.note(len(kpis) > 0, "no KPI card")
        for text in kpis:
            self.note(re.search(r"\d", text) is not None and figure(text) != 0, f"a KPI card shows {text!r}")

    def console_clean(self) -> None:
        self.note(not self.errors, f"console errors: {self.errors}")
        self.errors.clear()

    def to_english(self) -> None:
        switch_language(self.page, "en")
        self.lang = "en"


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def tour_ops(tour: Tour) -> None:
    page = tour.page
    login(page, "ops", DEMO_PASSWORD)
    tour.note(page.url.endswith("/dashboards/ops/"), "ops does not land on the ops home")
    tour.arrived("Operations home")
    tour.shows("stock-table", "IQIYI-VIP-M1", "爱奇艺黄金会员月卡", "JD-ECARD-100")
    tour.rows("stock-table", at_least=8)
    tour.shows("low-stock-alert", "WANDA-2D")
    tour.rows("imports-table")
    tour.shows("imports-table", "ops")
    tour.positive("review-queue-link")
    tour.note(page.get_by_test_id("risk-alert").count() >= 2, "the risk panel shows no open alert")
    for testid in ("redemptions-30d", "value-used-30d", "owed-30d", "failed-attempts-30d", "reminders-sent-30d"):
        tour.positive(testid)
    ops_analytics(tour)

    sold = Order.objects.filter(channel=Order.Channel.STOREFRONT, status=Order.Status.DELIVERED).first().items.first().code
    tour.visit("/ops/channels/trace/", "Who sold this code")
    page.get_by_test_id("trace-form").locator("input[name=q]").fill(plain(sold))
    follow(page, page.get_by_test_id("trace-form").get_by_role("button"))
    tour.shows("sold-through", "华东优选总代理")

    tour.visit("/ops/channels/violations/", "Price violations")
    tour.rows("violations-table")
    tour.visit("/risk/reviews/", "Review queue")
    tour.shows("review-table", "DEMO-R001")
    tour.positive("pending-count")
    tour.visit("/risk/alerts/", "Risk alerts")
    tour.shows("alert-list", "POS-DEMO-03")

    tour.visit("/admin/", "Site administration")
    admin_index = page.locator("#content, main").first.inner_text()
    for app in ("Catalog", "Channels", "Risk control", "Redemption", "Settlement"):
        tour.note(tour._(app) in admin_index, f"the admin index has no {tour._(app)!r}")
    tour.visit("/admin/channels/distributor/", Distributor._meta.verbose_name_plural)
    tour.note(page.locator("#result_list").get_by_text("华东优选总代理").count() >= 1, "the distributor list lacks the demo tree")
    tour.visit("/admin/riskcontrol/riskrule/", RiskRule._meta.verbose_name_plural)
    tour.note(page.locator("#result_list tbody tr").count() >= 20, "the risk rule list lacks the 20 starting rules")
    tour.visit("/admin/catalog/sku/", Sku._meta.verbose_name_plural)
    tour.note(page.locator("#result_list tbody tr").count() >= 8, "the SKU list lacks the demo SKUs")
    tour.visit("/admin/catalog/cardcode/", CardCode._meta.verbose_name_plural)
    tour.note(page.locator("#result_list tbody tr").count() > 0, "the card code list is empty")
    tour.visit("/admin/catalog/importjob/add/", "Upload a file of codes")
    tour.shows("import-upload-form", "TXVIDEO-VIP-M1")

    tour.visit("/dashboards/ops/", "Operations home")
    tour.to_english()
    tour.arrived("Operations home")
    tour.shows("stock-table", "IQIYI-VIP-M1")
    tour.rows("imports-table")
    tour.positive("redemptions-30d")
    ops_analytics(tour)
    tour.visit("/risk/reviews/", "Review queue")
    tour.shows("review-table", "DEMO-R001")
    tour.visit("/admin/", "Site administration")


def ops_analytics(tour: Tour) -> None:
    """From the ops home: the ops dashboard, then the campaigns' (the admin menu's Analytics section)."""
    follow(tour.page, tour.page.get_by_test_id("ops-analytics-link"))
    tour.charts("Operations analytics", OPS_CHARTS)
    tour.visit("/dashboards/campaigns/analytics/", "Campaign analytics")
    tour.charts("Campaign analytics", CAMPAIGN_CHARTS)


def finance_analytics(tour: Tour) -> None:
    """From the finance home: the finance dashboard, then the campaigns' from its link."""
    tour.visit("/dashboards/finance/", "Finance home")
    follow(tour.page, tour.page.get_by_test_id("finance-analytics-link"))
    tour.charts("Finance analytics", FINANCE_CHARTS)
    follow(tour.page, tour.page.get_by_test_id("campaign-analytics-link"))
    tour.charts("Campaign analytics", CAMPAIGN_CHARTS)


def tour_finance(tour: Tour) -> None:
    page = tour.page
    login(page, "finance", DEMO_PASSWORD)
    tour.note(page.url.endswith("/dashboards/finance/"), "finance does not land on the finance home")

    def home():
        tour.arrived("Finance home")
        tour.money("revenue-today")
        tour.shows("withdrawals-pending", "1")
        tour.positive("statements-open")
        tour.shows("ledger-status", tour._("Balanced"))
        tour.positive("refund-payouts-waiting")
        tour.positive("merchant-statements-open")
        tour.positive("payments-waiting")
        for channel in Order.Channel:
            if Order.objects.filter(channel=channel).exists():
                tour.shows("orders-by-channel", tour._(channel.label))

    home()
    finance_analytics(tour)
    tour.visit("/finance/withdrawals/", "Withdrawals")
    tour.shows("finance-withdrawals", "华东优选总代理", "¥100.00")
    tour.visit("/finance/statements/", "Statements")
    tour.shows("statement-list", "华东优选总代理", "浙江省代·杭州悦享")
    tour.visit("/finance/merchant-statements/", "Merchant statements")
    tour.shows("merchant-statement-list", "星巴克")
    tour.visit("/finance/payments/", "Bank transfers waiting for confirmation")
    tour.rows("payments")
    tour.visit("/finance/refunds/", "Refunds to pay back by bank transfer")
    tour.rows("refund-payouts")
    tour.visit("/finance/wallets/", "Wallets")
    tour.shows("wallets", "华东优选总代理", "浙江省代·杭州悦享")
    tour.visit("/finance/exports/", "New export")
    tour.shows("export-jobs", tour._("Download"))
    tour.visit("/admin/", "Site administration")
    tour.visit("/admin/core/auditlog/", AuditLog._meta.verbose_name_plural)
    tour.note(page.locator("#result_list tbody tr").count() > 0, "the audit log is empty")

    tour.visit("/dashboards/finance/", "Finance home")
    tour.to_english()
    home()
    finance_analytics(tour)
    tour.visit("/finance/statements/", "Statements")
    tour.shows("statement-list", "华东优选总代理")


def tour_distributor(tour: Tour) -> None:
    page = tour.page
    login(page, "distributor", DEMO_PASSWORD)
    tour.note(page.url.endswith("/portal/"), "the distributor does not land on the portal")

    def home():
        tour.arrived("Quota units")
        tour.shows("distributor-name", "华东优选总代理")
        tour.positive("quota-units")
        tour.positive("team-size")
        tour.money("sales-30d")
        tour.positive("open-invitations")

    def analytics():
        tour.visit("/portal/", "Quota units")
        follow(page, page.get_by_test_id("portal-link-portal-analytics"))
        tour.charts("Sales analytics", PORTAL_CHARTS)

    home()
    analytics()
    tour.visit("/portal/downline/", "My team")
    tour.shows("downline-tree", "浙江省代·杭州悦享", "江苏省代·南京券多多", "西湖团长小林", "宁波推广员阿强", "苏州企业福利采购部")
    tour.visit("/portal/invitations/", "Invitations")
    tour.note(page.get_by_test_id("invitation").count() >= 1, "no invitation")
    tour.visit("/portal/prices/", "My price list")
    tour.rows("price-table", at_least=8)
    tour.visit("/portal/quotas/", "Quotas")
    tour.shows("quota-list", "IQIYI-VIP-M1")
    tour.rows("movements-table")
    tour.visit("/portal/storefront/", "My storefront")
    tour.shows("storefront-items", "爱奇艺黄金会员月卡", "星巴克中杯饮品券")
    tour.visit("/portal/api-keys/", "API keys")
    tour.shows("api-key", "demo ERP")
    tour.visit("/portal/orders/", "My orders")
    tour.rows("order-list", at_least=3)
    tour.visit("/portal/wallet/", "Wallet")
    tour.money("wallet-balance")
    tour.shows("topup-history", "DEMO-BANK-0001")
    tour.visit("/portal/commission/", "Commission")
    tour.rows("commission-list")
    tour.visit("/portal/withdrawals/", "Withdrawals")
    tour.shows("withdrawal-list", "¥100.00")
    tour.visit("/portal/statements/", "Statements")
    tour.rows("statement-list")
    tour.visit("/s/demo/", None)
    tour.shows("shop-title", "华东优选卡券商城")
    tour.note(page.get_by_test_id("shop-item").count() == 7, "the storefront does not show its 7 products")

    tour.visit("/portal/", "Quota units")
    tour.to_english()
    home()
    analytics()
    tour.visit("/portal/orders/", "My orders")
    tour.rows("order-list", at_least=3)
    tour.visit("/portal/wallet/", "Wallet")
    tour.money("wallet-balance")


def tour_merchant(tour: Tour) -> None:
    page = tour.page
    login(page, "merchant", DEMO_PASSWORD)
    tour.note(page.url.endswith("/merchant/"), "the clerk does not land on the merchant console")

    def console():
        tour.arrived("Redeem a code")
        tour.positive("today-count")
        tour.rows("today-table")

    def analytics():
        tour.visit("/merchant/", "Redeem a code")
        follow(page, page.get_by_test_id("console-link-dashboards:merchant-analytics"))
        tour.charts("Analytics", CONSOLE_CHARTS)

    console()
    analytics()
    tour.visit("/merchant/redemptions/", "Redemptions")
    tour.rows("redemptions-table", at_least=3)
    tour.visit("/merchant/summary/", "Daily summary per store")
    tour.positive("total-count")
    tour.positive("total-reversed")
    tour.rows("summary-table", at_least=2)
    tour.visit("/merchant/statements/", "Statements")
    tour.shows("merchant-statement-list", "MS")

    tour.visit("/merchant/", "Redeem a code")
    tour.to_english()
    console()
    analytics()
    tour.visit("/merchant/summary/", "Daily summary per store")
    tour.positive("total-count")


def test_every_demo_login_sees_real_data_on_every_page_in_chinese_and_english(new_page, demo):
    problems = []
    for who, walk in (("ops", tour_ops), ("finance", tour_finance), ("distributor", tour_distributor), ("merchant", tour_merchant)):
        tour = Tour(new_page(), who)
        walk(tour)
        tour.console_clean()
        problems += tour.problems
    assert not problems, f"{len(problems)} shortfalls on the demo tour:\n" + "\n".join(problems)
    assert demo < 60, f"seed_demo took {demo:.0f} s of CPU: the demo is not there within a minute of `make run`"
