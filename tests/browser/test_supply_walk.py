"""Issue 15, operations staff at the supply pages (the supply walk).

* Every supply page ops open (the suppliers at a glance, the hold queue, alerts, reconciliation and a statement,
  card replenishment, the supply sections of the admin) in Chinese and English at 1366 px and 390 px, with the
  checks of the ops walk: no internal value, no ISO timestamp, nothing past the window's edge, no console error
  or CSP violation, money as ¥1,234.50, dates in the page's language, no English left on a Chinese page.
* Ops' work, end to end: from the top menu to the supply page, a held top-up refunded with a reason from the hold
  queue, a supplier's statement imported, the costly difference first, opened and resolved with a note.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.browser.pagecheck import watch_console
from tests.browser.test_ops_walk import check

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _supply_data():
    """Two suppliers with results over the last day, a held top-up, an alert, a compared statement."""
    from supply.models import SupplyAlert, Topup, TopupAttempt, Upstream
    from supply.reconciliation import statement_import
    from tests.supply.opsdata import attempt_make, local_time, product_make, statement_csv, topup_sku_make, upstream_make

    sku = topup_sku_make()
    fast = product_make(upstream_make(name="快充科技"), sku, position=1)
    slow = product_make(upstream_make(name="慢充商贸"), sku, position=2)
    Upstream.objects.filter(pk=fast.upstream_id).update(balance=Decimal("12500.00"), balance_checked_at=timezone.now())
    Upstream.objects.filter(pk=slow.upstream_id).update(balance=Decimal("80.00"), low_balance_threshold=Decimal("500.00"))
    for seconds in (8, 12, 30):
        attempt_make(fast, cost=Decimal("48.50"), submitted_ago=timedelta(minutes=40), took=timedelta(seconds=seconds))
    refunded = attempt_make(slow, status=TopupAttempt.Status.FAILED, submitted_ago=timedelta(hours=3))
    held = attempt_make(slow, status=TopupAttempt.Status.FAILED, topup_status=Topup.Status.ON_HOLD).topup
    SupplyAlert.objects.create(upstream=slow.upstream, kind=SupplyAlert.Kind.LOW_BALANCE, message="余额 ¥80.00 低于 ¥500.00")
    when = local_time(refunded.submitted_at)
    statement = statement_import(
        upstream=slow.upstream,
        data=statement_csv([[refunded.their_number, refunded.number, "48.50", "成功", when], ["S-NEW", "T-NEW-A1", "48.50", "成功", when]]),
        filename="慢充-12月.csv",
        actor=None,
    )
    return {"held": held, "refunded": refunded, "statement": statement, "slow": slow}


def test_every_supply_page_reads_as_a_product_in_both_languages_on_a_laptop_and_a_phone(new_page, live_server, settings):
    from tests.factories import PASSWORD, UserFactory
    from voucherhub.core import roles

    UserFactory(username="ops-supply", role=roles.OPS, is_staff=True)
    data = _supply_data()
    hrefs = [
        "/supply/ops/",
        "/supply/ops/?period=1h",
        "/supply/ops/holds/",
        "/supply/ops/alerts/",
        "/supply/ops/reconciliation/",
        f"/supply/ops/reconciliation/{data['statement'].pk}/",
        "/supply/ops/replenishments/",
        "/admin/supply/upstream/",
        f"/admin/supply/upstream/{data['slow'].upstream_id}/change/",
        "/admin/supply/topup/",
        f"/admin/supply/topup/{data['held'].pk}/change/",
        "/admin/supply/statementimport/",
        "/admin/supply/statementdifference/",
        "/admin/supply/supplyalert/",
    ]
    problems = []
    for locale in ("zh-CN", "en"):
        for device in (DESKTOP, PHONE):
            width = device["viewport"]["width"]
            page = new_page(device=device, locale=locale)
            errors = watch_console(page)
            login(page, "ops-supply", PASSWORD)
            if locale == "en":
                page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}])
            for href in hrefs:
                response = page.goto(href)
                page.wait_for_load_state("networkidle")
                if response is None or response.status >= 400:
                    problems.append(f"{href}: HTTP {response.status if response else '?'}")
                    continue
                problems += [f"[{locale} {width}px] {p}" for p in check(page, errors, width=width, locale=locale)]
            page.context.close()
    assert not problems, f"{len(problems)} problems on the supply pages:\n" + "\n".join(problems)


TEXT = {
    "zh-hans": {"supply": "上游供货", "glance": "供应商概览", "apply": "执行", "resolve": "标记为已解决"},
    "en": {"supply": "Supply", "glance": "Suppliers at a glance", "apply": "Apply", "resolve": "Mark resolved"},
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ops_refund_a_held_top_up_and_reconcile_a_suppliers_statement(new_page, language, tmp_path):
    from supply.models import StatementDifference, StatementImport, Topup
    from tests.factories import PASSWORD, UserFactory
    from tests.supply.opsdata import local_time, statement_csv
    from voucherhub.core import roles
    from voucherhub.core.models import AuditLog

    text = TEXT[language]
    UserFactory(username="ops-walker", role=roles.OPS, is_staff=True)
    data = _supply_data()
    held, refunded = data["held"], data["refunded"]
    page = new_page(locale="zh-CN" if language == "zh-hans" else "en")
    errors = watch_console(page)
    login(page, "ops-walker", PASSWORD)

    # from the top menu to the supply page: each supplier with its figures
    page.goto("/dashboards/ops/")
    page.locator(".navbar .dropdown-toggle", has_text=text["supply"]).click()
    follow(page, page.get_by_role("link", name=text["glance"]))
    stats = page.get_by_test_id("supplier-stats")
    assert "快充科技" in stats.inner_text() and "100.0%" in stats.locator("tr", has_text="快充科技").inner_text()

    # the hold queue: refund the held top-up with a reason
    follow(page, page.get_by_test_id("hold-queue-link"))
    item = page.get_by_test_id("held-topup").filter(has_text=held.reference)
    item.locator("select[name$=decision]").select_option("refund")
    item.locator("input[name$=reason]").fill("买家要求退款")
    follow(page, item.get_by_role("button", name=text["apply"]))
    held.refresh_from_db()
    assert held.status == Topup.Status.FAILED
    assert AuditLog.objects.get(action="supply.topup.refund").reason == "买家要求退款"
    assert page.get_by_test_id("held-topup").count() == 0

    # reconciliation: import the supplier's statement; the costly difference comes first and opens the top-up
    page.goto("/supply/ops/reconciliation/")
    statement = tmp_path / "statement.csv"
    statement.write_bytes(statement_csv([[refunded.their_number, refunded.number, "48.50", "成功", local_time(refunded.submitted_at)]]))
    form = page.get_by_test_id("statement-upload-form")
    form.locator("select[name=upstream]").select_option(str(data["slow"].upstream_id))
    form.locator("input[name=file]").set_input_files(str(statement))
    follow(page, page.get_by_test_id("statement-submit"))
    imported = StatementImport.objects.latest("pk")
    first = page.get_by_test_id("difference").first
    assert first.get_attribute("data-kind") == StatementDifference.Kind.SUCCESS_REFUNDED
    assert "¥48.50" in page.get_by_test_id("costly-total").inner_text()
    assert first.get_by_test_id("open-topup").get_attribute("href") == f"/admin/supply/topup/{refunded.topup_id}/change/"
    first.locator("input[name=note]").fill("供应商同意冲正")
    follow(page, first.get_by_role("button", name=text["resolve"]))
    difference = imported.differences.get(kind=StatementDifference.Kind.SUCCESS_REFUNDED)
    assert difference.resolved_at is not None and difference.note == "供应商同意冲正"
    assert not errors, errors
