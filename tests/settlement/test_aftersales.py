"""After-sales (售后): buyers report a bad code from the portal or the consumer's private page / order lookup;
operations replaces, refunds or rejects in the admin. Scoped to the buyer, idempotent, permission-checked,
and no plaintext code is ever stored or shown outside the reveal paths."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from catalog.models import CardCode
from catalog.vault import keyring
from settlement.errors import CodeNotReportable, IssueAlreadyOpen, SettlementError
from settlement.models import Account, CodeIssue, Order, OrderItem
from settlement.selectors.ledger import ledger_check
from settlement.selectors.orders import order_private_link
from settlement.services.aftersales import code_issue_refund, code_issue_reject, code_issue_replace, code_issue_report
from settlement.services.ledger import wallet_account
from settlement.services.orders import order_pay, order_place
from settlement.services.payments import payment_for_order
from settlement.services.wallets import wallet_for
from tests import factories
from tests.settlement.conftest import fund
from tests.settlement.test_orders import storefront_order
from voucherhub.core import roles
from voucherhub.core.errors import PermissionDenied
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
D = Decimal
K = Account.Kind


@pytest.fixture(autouse=True)
def english(settings):
    """These tests read the pages' English wording (the site's default language is zh-hans)."""
    settings.LANGUAGE_CODE = "en"


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def balances(distributor):
    wallet = wallet_for(distributor)
    return {kind: wallet_account(wallet, kind).balance for kind in Account.WALLET_KINDS}


@pytest.fixture
def portal_order(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2, actor=tree.seller_user)


@pytest.fixture
def seller_client(client, tree):
    client.force_login(tree.seller_user)
    return client


def consumer_order(tree):
    order = storefront_order(tree)
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    return order


def report_url(order: Order, item: OrderItem) -> str:
    return reverse("settlement:portal-code-report", args=[order.number, item.pk])


def no_plaintext_stored(*codes) -> None:
    texts = [str(list(AuditLog.objects.values_list("reason", "data"))), str(list(CodeIssue.objects.values()))]
    for code in codes:
        assert all(plain(code) not in text for text in texts)


# --- Reporting ------------------------------------------------------------------------------------------


def test_distributor_reports_a_code_from_the_portal_order_page(seller_client, tree, portal_order):
    page = seller_client.get(reverse("settlement:portal-order", args=[portal_order.number])).content.decode()
    item = portal_order.items.order_by("pk").first()
    assert report_url(portal_order, item) in page and "Report a problem" in page
    response = seller_client.post(report_url(portal_order, item), {"reason": "not_working", "details": "the till says invalid"})
    assert response.status_code == 302
    case = CodeIssue.objects.get()
    assert (case.item, case.order, case.status, case.reporter) == (item, portal_order, "open", "distributor")
    assert case.reported_by == tree.seller_user and case.code_hint == item.code.hint
    assert AuditLog.objects.filter(action="aftersales.report", object_id=str(case.pk)).exists()
    page = seller_client.get(response["Location"]).content.decode()
    assert f"#{case.pk}" in page and report_url(portal_order, item) not in page  # open: no second form for that code
    no_plaintext_stored(item.code)


def test_duplicate_report_is_refused_until_the_first_is_answered(seller_client, tree, portal_order, ops_user):
    item = portal_order.items.order_by("pk").first()
    seller_client.post(report_url(portal_order, item), {"reason": "not_working"})
    again = seller_client.post(report_url(portal_order, item), {"reason": "other", "details": "still broken"}, follow=True)
    assert "already reported" in again.content.decode()
    assert CodeIssue.objects.count() == 1
    with pytest.raises(IssueAlreadyOpen):
        code_issue_report(item=item, reason="other", distributor=tree.seller)
    code_issue_reject(case=CodeIssue.objects.get(), actor=ops_user, note="works at our test till")
    assert code_issue_report(item=item, reason="other", distributor=tree.seller).status == "open"


def test_redeemed_and_bad_input_reports_are_refused(seller_client, tree, portal_order):
    item = portal_order.items.order_by("pk").first()
    bad = seller_client.post(report_url(portal_order, item), {"reason": "nonsense"}, follow=True)
    assert bad.status_code == 200 and not CodeIssue.objects.exists()
    with pytest.raises(SettlementError) as typed:
        code_issue_report(item=item, reason="other", details=f"my code is {plain(item.code)}", distributor=tree.seller)
    assert typed.value.field == "details" and not CodeIssue.objects.exists()
    CardCode.objects.filter(pk=item.code_id).update(status=CardCode.Status.REDEEMED)
    response = seller_client.post(report_url(portal_order, item), {"reason": "already_used"}, follow=True)
    assert "not used can be reported" in response.content.decode()
    assert not CodeIssue.objects.exists()


def test_a_neighbours_order_or_item_is_404(client, tree, portal_order, finance_user):
    item = portal_order.items.order_by("pk").first()
    client.force_login(tree.other_user)
    assert client.post(report_url(portal_order, item), {"reason": "not_working"}).status_code == 404
    fund(tree.other, "100.00", actor=finance_user)
    theirs = order_place(channel=Order.Channel.PORTAL, distributor=tree.other, sku=tree.sku, quantity=1)
    # their own order number with the seller's item id
    assert client.post(report_url(theirs, item), {"reason": "not_working"}).status_code == 404
    assert not CodeIssue.objects.exists()
    with pytest.raises(CodeNotReportable):
        code_issue_report(item=item, reason="not_working", distributor=tree.other)


def test_consumer_reports_from_the_private_code_page(client, tree):
    order = consumer_order(tree)
    item = order.items.get()
    link = re.search(r"(/my/[^\s]+)", order_private_link(order)).group(1)  # the page the e-mail links to
    page = client.get(link).content.decode()
    url = re.search(r'href="([^"]*/orders/report/[^"]+)"', page).group(1)
    form = client.get(url)
    assert form.status_code == 200 and item.code.hint in form.content.decode() and plain(item.code) not in form.content.decode()
    done = client.post(url, {"reason": "already_used", "details": "the shop said it was used yesterday"})
    assert done.status_code == 200 and 'data-testid="report-done"' in done.content.decode()
    case = CodeIssue.objects.get()
    assert (case.item, case.reporter, case.reported_by) == (item, "consumer", None)
    again = client.post(url, {"reason": "other"})
    assert CodeIssue.objects.count() == 1 and "report-form" not in again.content.decode()
    # a forged or tampered token is 404
    assert client.get(reverse("settlement:consumer-report", args=[f"{item.pk}"])).status_code == 404
    assert client.get(url[:-3] + "abc/").status_code == 404


def test_consumer_reports_from_the_order_lookup_result(client, tree):
    order = consumer_order(tree)
    page = client.post(
        reverse("settlement:order-lookup"), {"number": order.number, "contact": "buyer@example.test", "lookup_password": "secret-123"}
    ).content.decode()
    url = re.search(r'data-testid="report-links".*?href="([^"]+)"', page, re.S).group(1)
    assert client.post(url, {"reason": "not_working"}).status_code == 200
    assert CodeIssue.objects.get().reporter == "consumer"


def test_a_distributor_cannot_report_a_consumers_storefront_code(seller_client, tree):
    order = consumer_order(tree)
    item = order.items.get()
    response = seller_client.post(report_url(order, item), {"reason": "not_working"}, follow=True)
    assert "not delivered to you" in response.content.decode() and not CodeIssue.objects.exists()


# --- Resolving in the admin --------------------------------------------------------------------------------


@pytest.fixture
def ops_admin(client, ops_user):
    client.force_login(ops_user)
    return client


def test_ops_replaces_the_code_in_the_admin(ops_admin, tree, portal_order, ops_user):
    item = portal_order.items.order_by("pk").first()
    case = code_issue_report(item=item, reason="not_working", distributor=tree.seller, user=tree.seller_user)
    assert ops_admin.get(reverse("admin:settlement_codeissue_changelist") + "?status__exact=open").status_code == 200
    detail = ops_admin.get(reverse("admin:settlement_codeissue_change", args=[case.pk])).content.decode()
    assert reverse("admin:settlement_codeissue_replace", args=[case.pk]) in detail and plain(item.code) not in detail
    wallet_before = balances(tree.seller)[K.WALLET]
    response = ops_admin.post(reverse("admin:settlement_codeissue_replace", args=[case.pk]), {"note": "supplier confirmed"})
    assert response.status_code == 302
    case.refresh_from_db()
    item.refresh_from_db()
    assert case.status == "replaced" and case.resolved_by == ops_user and case.resolved_at is not None
    assert item.state == OrderItem.State.REPLACED and item.code.status == CardCode.Status.VOID
    new = case.replacement
    assert new.replaces == item and new.state == OrderItem.State.DELIVERED and new.code.status == CardCode.Status.SOLD
    assert AuditLog.objects.filter(action="aftersales.replaced", object_id=str(case.pk)).exists()
    assert AuditLog.objects.filter(action="order.code_replace").exists()
    assert balances(tree.seller)[K.WALLET] == wallet_before  # the buyer pays nothing more
    assert ledger_check().ok
    # the buyer sees the new code where it saw the first: the portal order page lists it as delivered
    ops_admin.force_login(tree.seller_user)
    page = ops_admin.get(reverse("settlement:portal-order", args=[portal_order.number])).content.decode()
    assert new.code.hint in page and "Replaced" in page
    no_plaintext_stored(item.code, new.code)


def test_consumer_gets_the_replacement_by_a_new_private_link(tree, ops_user, django_capture_on_commit_callbacks):
    order = consumer_order(tree)
    item = order.items.get()
    case = code_issue_report(item=item, reason="expired")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        case = code_issue_replace(case=case, actor=ops_user)
    assert case.status == "replaced"
    assert len(mail.outbox) == 1 and "/my/" in mail.outbox[0].body
    assert plain(case.replacement.code) not in mail.outbox[0].body


def test_ops_refunds_the_code_and_commission_is_clawed_back(ops_admin, tree, portal_order, ops_user):
    item = portal_order.items.order_by("pk").first()
    other = portal_order.items.exclude(pk=item.pk).get()
    case = code_issue_report(item=item, reason="not_working", distributor=tree.seller)
    wallet_before, mid_before = balances(tree.seller)[K.WALLET], balances(tree.mid)[K.COMMISSION_FROZEN]
    response = ops_admin.post(reverse("admin:settlement_codeissue_refund", args=[case.pk]), {"note": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    item.refresh_from_db()
    other.refresh_from_db()
    portal_order.refresh_from_db()
    assert case.status == "refunded" and case.resolved_by == ops_user
    assert item.state == OrderItem.State.REFUNDED and item.code.status == CardCode.Status.VOID
    assert other.state == OrderItem.State.DELIVERED  # exactly the reported code
    assert portal_order.status == Order.Status.PARTIALLY_REFUNDED and portal_order.refunded_quantity == 1
    assert balances(tree.seller)[K.WALLET] == wallet_before + D("26.00")
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == mid_before - D("1.00")
    assert AuditLog.objects.filter(action="aftersales.refunded", object_id=str(case.pk)).exists()
    assert ledger_check().ok


def test_ops_rejects_with_a_note_and_nothing_else_changes(ops_admin, tree, portal_order):
    item = portal_order.items.order_by("pk").first()
    case = code_issue_report(item=item, reason="other", distributor=tree.seller)
    url = reverse("admin:settlement_codeissue_reject", args=[case.pk])
    empty = ops_admin.post(url, {"note": ""})
    assert empty.status_code == 200
    case.refresh_from_db()
    assert case.status == "open"
    assert ops_admin.post(url, {"note": "the code works at our till"}).status_code == 302
    case.refresh_from_db()
    item.refresh_from_db()
    assert case.status == "rejected" and case.resolution_note == "the code works at our till"
    assert item.state == OrderItem.State.DELIVERED and item.code.status == CardCode.Status.SOLD
    assert ledger_check().ok


def test_resolving_a_closed_case_again_changes_nothing(ops_admin, tree, portal_order, ops_user):
    item = portal_order.items.order_by("pk").first()
    case = code_issue_report(item=item, reason="not_working", distributor=tree.seller)
    code_issue_replace(case=case, actor=ops_user)
    items_before = OrderItem.objects.count()
    for again in (code_issue_replace, code_issue_refund):
        assert again(case=case, actor=ops_user).status == "replaced"
    assert code_issue_reject(case=case, actor=ops_user, note="late").status == "replaced"
    response = ops_admin.post(reverse("admin:settlement_codeissue_refund", args=[case.pk]), {"note": ""}, follow=True)
    assert "already closed" in response.content.decode()
    portal_order.refresh_from_db()
    assert OrderItem.objects.count() == items_before and portal_order.refunded_quantity == 0
    assert AuditLog.objects.filter(action__startswith="aftersales.", object_id=str(case.pk)).count() == 2  # report + replaced


def test_a_user_without_the_permission_cannot_resolve(client, tree, portal_order, finance_user):
    item = portal_order.items.order_by("pk").first()
    case = code_issue_report(item=item, reason="not_working", distributor=tree.seller)
    # finance may see cases and refund orders, but not replace codes
    with pytest.raises(PermissionDenied):
        code_issue_replace(case=case, actor=finance_user)
    with pytest.raises(PermissionDenied):
        code_issue_reject(case=case, actor=finance_user, note="no")
    client.force_login(finance_user)
    assert client.post(reverse("admin:settlement_codeissue_replace", args=[case.pk]), {"note": ""}).status_code == 403
    nobody = factories.UserFactory(username="support", role=roles.DISTRIBUTOR)
    with pytest.raises(PermissionDenied):
        code_issue_refund(case=case, actor=nobody)
    with pytest.raises(PermissionDenied):
        code_issue_replace(case=case, actor=tree.seller_user)
    case.refresh_from_db()
    item.refresh_from_db()
    assert case.status == "open" and item.state == OrderItem.State.DELIVERED


def test_ops_home_counts_open_cases(ops_admin, tree, portal_order):
    item = portal_order.items.order_by("pk").first()
    code_issue_report(item=item, reason="not_working", distributor=tree.seller)
    page = ops_admin.get(reverse("dashboards:ops-home")).content.decode()
    assert 'data-testid="open-code-issues"' in page and "1 after-sales case is open" in page
