"""Ops works the review queue in a real browser; no page breaks the Content-Security-Policy (the admin included)."""

from decimal import Decimal

import pytest

from riskcontrol import engine
from riskcontrol.models import RiskEvent, RiskRule
from riskcontrol.services import RiskContext, risk_evaluate
from tests import factories
from tests.browser.conftest import PHONE, follow, login, switch_language
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)


def watch_csp(page) -> list[str]:
    """Collect CSP violations the browser reports (console errors and securitypolicyviolation events)."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return violations


def held_order(reference: str) -> int:
    RiskRule.objects.get_or_create(
        name="big orders",
        defaults={"kind": RiskRule.Kind.AMOUNT, "amount_threshold": Decimal("1000"), "action": RiskRule.RuleAction.REVIEW, "score": 30},
    )
    engine.rules_changed()
    decision = risk_evaluate(
        ctx=RiskContext(action="purchase", amount=Decimal("2500.00"), quantity=50, ip="36.112.4.9", device="dev-big", reference=reference)
    )
    assert decision.held_for_review
    return decision.event_id


def test_ops_rejects_a_held_order_from_the_queue(new_page):
    factories.UserFactory(username="ops-browser", role=roles.OPS, is_staff=True)
    first = held_order("ORD-B-1")
    held_order("ORD-B-2")
    page = new_page()
    violations = watch_csp(page)
    login(page, "ops-browser", PASSWORD)
    # the ops home links to the queue with its count
    link = page.locator("[data-testid=review-queue-link]")
    assert "2" in link.inner_text()
    follow(page, link)
    assert page.locator("[data-testid=review-table]").get_by_text("ORD-B-1").is_visible()
    follow(page, page.get_by_role("link", name=str(first), exact=True))
    assert page.locator("[data-testid=reasons]").get_by_text("¥2500.00").is_visible()
    # the other event of the same IP is shown for context
    assert page.locator("[data-testid=related-events]").get_by_text("36.112.4.9").first.is_visible()
    # reject, blocking the device
    page.get_by_label("拒绝：终止（由调用方退款）").check()
    page.get_by_label("备注").fill("批量刷单")
    page.get_by_label("设备: dev-big").check()
    follow(page, page.get_by_role("button", name="保存决定"))
    # the next waiting event opens, and the first one is decided
    assert page.get_by_text(f"事件 #{first} 的处理决定已保存。").is_visible()
    event = RiskEvent.objects.get(pk=first)
    assert (event.review_status, event.review_note) == ("rejected", "批量刷单")
    # in English too
    switch_language(page, "en")
    assert page.get_by_role("button", name="Save decision").is_visible()
    # the rule admin (unfold, Alpine.js) works under its scoped policy
    page.goto("/admin/riskcontrol/riskrule/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("big orders").is_visible()
    page.goto("/admin/riskcontrol/riskrule/add/")
    page.wait_for_load_state("networkidle")
    assert page.locator("select[name=kind]").is_visible()
    assert violations == [], violations


def test_review_queue_on_a_phone(new_page):
    factories.UserFactory(username="ops-phone", role=roles.OPS, is_staff=True)
    event_id = held_order("ORD-P-1")
    page = new_page(device=PHONE)
    violations = watch_csp(page)
    login(page, "ops-phone", PASSWORD)
    page.goto(f"/risk/reviews/{event_id}/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("button", name="保存决定").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert violations == [], violations
