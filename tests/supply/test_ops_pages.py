"""Ops' and finance's supply pages: the suppliers at a glance, demote and restore, the hold queue, alerts,
reconciliation by upload; who may open what."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from supply.models import StatementDifference, StatementImport, SupplyAlert, Topup, TopupAttempt, TopupEvent, Upstream
from tests.factories import DistributorFactory, UserFactory
from tests.supply.opsdata import attempt_make, product_make, statement_csv, topup_sku_make, upstream_make
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

S = TopupAttempt.Status


@pytest.fixture
def product():
    return product_make(upstream_make(name="快充科技"), topup_sku_make())


def _row(body: str, upstream: Upstream) -> str:
    start = body.index(f'data-upstream="{upstream.pk}"')
    return body[start : body.index("</tr>", start)]


def test_the_supply_page_shows_each_suppliers_rate_times_in_flight_and_balance_for_the_period(ops_client, product):
    upstream = product.upstream
    Upstream.objects.filter(pk=upstream.pk).update(balance=Decimal("120.00"), low_balance_threshold=Decimal("500.00"))
    for seconds in (10, 20, 30):
        attempt_make(product, cost=Decimal("48.50"), submitted_ago=timedelta(minutes=30), took=timedelta(seconds=seconds))
    attempt_make(product, status=S.FAILED, submitted_ago=timedelta(minutes=30), took=timedelta(seconds=40))
    attempt_make(product, status=S.SUCCESS, submitted_ago=timedelta(days=3))  # outside the last day
    attempt_make(product, status=S.PROCESSING, topup_status=Topup.Status.PROCESSING, submitted_ago=timedelta(seconds=5))

    body = ops_client.get(reverse("supply-ops:home"), {"period": "24h"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = _row(body, upstream)

    assert "快充科技" in row
    assert "75.0%" in row  # 3 of 4 finished in the last day
    assert "20.0 s" in row and "40.0 s" in row  # median, p95 (nearest rank)
    assert ">1</td>" in row  # in flight
    assert "¥120.00" in row and "low" in row
    week = _row(ops_client.get(reverse("supply-ops:home"), {"period": "7d"}).content.decode(), upstream)
    assert "80.0%" in week


def test_the_supply_table_refreshes_alone_for_htmx(ops_client, product):
    response = ops_client.get(reverse("supply-ops:home"), HTTP_HX_REQUEST="true")

    assert response.templates[0].name == "supply/ops/_stats_table.html"
    assert b"supplier-stats" in response.content and b"<html" not in response.content


def test_ops_demote_a_supplier_with_a_reason_and_restore_it(ops_client, ops_user, product):
    upstream = product.upstream
    url = reverse("supply-ops:upstream-status", args=[upstream.pk])

    refused = ops_client.post(url, {"to": "demote", "reason": ""})
    upstream.refresh_from_db()
    assert refused.status_code == 302 and upstream.status == Upstream.Status.ACTIVE

    ops_client.post(url, {"to": "demote", "reason": "complaints about slow credit"})
    upstream.refresh_from_db()
    assert upstream.status == Upstream.Status.DEMOTED and upstream.status_reason == "complaints about slow credit"
    assert SupplyAlert.objects.filter(upstream=upstream, kind=SupplyAlert.Kind.DEMOTED).exists()

    ops_client.post(url, {"to": "restore", "reason": "supplier fixed its queue"})
    upstream.refresh_from_db()
    assert upstream.status == Upstream.Status.ACTIVE
    actions = list(AuditLog.objects.filter(object_id=str(upstream.pk)).order_by("id").values_list("action", "actor"))
    assert actions == [("supply.upstream.demote", ops_user.pk), ("supply.upstream.restore", ops_user.pk)]


def test_finance_sees_the_supply_page_but_may_not_demote(finance_client, product):
    assert finance_client.get(reverse("supply-ops:home")).status_code == 200
    response = finance_client.post(reverse("supply-ops:upstream-status", args=[product.upstream.pk]), {"to": "demote", "reason": "x"})
    assert response.status_code == 403
    product.upstream.refresh_from_db()
    assert product.upstream.status == Upstream.Status.ACTIVE


@pytest.mark.parametrize(
    "name", ["supply-ops:home", "supply-ops:holds", "supply-ops:alerts", "supply-ops:statements", "supply-ops:replenishments"]
)
def test_a_distributor_or_merchant_may_open_no_supply_page(client, name):
    user = UserFactory(username="dist-s", role=roles.DISTRIBUTOR)
    DistributorFactory(user=user)
    client.force_login(user)
    assert client.get(reverse(name)).status_code == 403


def _held(product) -> Topup:
    attempt = attempt_make(product, status=S.FAILED, topup_status=Topup.Status.ON_HOLD)
    Topup.objects.filter(pk=attempt.topup_id).update(finished_at=None)
    return Topup.objects.get(pk=attempt.topup_id)


def test_the_hold_queue_lists_held_top_ups_with_their_attempts(ops_client, product):
    held = _held(product)
    attempt_make(product)  # a finished one is not in the queue

    body = ops_client.get(reverse("supply-ops:holds")).content.decode()

    assert body.count('data-testid="held-topup"') == 1
    assert held.reference in body and f"{held.reference}-A1" in body


def test_a_held_top_up_is_refunded_with_a_reason_audited(ops_client, ops_user, product):
    held = _held(product)
    url = reverse("supply-ops:hold-decide", args=[held.pk])
    prefix = f"t{held.pk}-"

    ops_client.post(url, {prefix + "decision": "refund", prefix + "reason": ""})
    held.refresh_from_db()
    assert held.status == Topup.Status.ON_HOLD

    ops_client.post(url, {prefix + "decision": "refund", prefix + "reason": "buyer asked for the money"})
    held.refresh_from_db()

    assert held.status == Topup.Status.FAILED
    event = TopupEvent.objects.filter(topup=held).latest("pk")
    assert (event.source, event.actor, event.note) == (TopupEvent.Source.OPS, ops_user, "buyer asked for the money")
    assert AuditLog.objects.get(action="supply.topup.refund", object_id=str(held.pk)).reason == "buyer asked for the money"
    again = ops_client.post(url, {prefix + "decision": "refund", prefix + "reason": "twice"}, follow=True)
    assert "supply.topup.refund" not in again.content.decode()
    assert AuditLog.objects.filter(action="supply.topup.refund").count() == 1


def test_resubmitting_needs_a_supplier(ops_client, product):
    held = _held(product)
    prefix = f"t{held.pk}-"

    ops_client.post(reverse("supply-ops:hold-decide", args=[held.pk]), {prefix + "decision": "resubmit", prefix + "reason": "try again"})

    held.refresh_from_db()
    assert held.status == Topup.Status.ON_HOLD and held.attempts.count() == 1


def test_a_held_top_up_is_resubmitted_to_the_chosen_supplier_over_http(client, supply_site, simulator, topup_sku, upstream_for):
    from tests.supply.conftest import topup_wait

    ops = UserFactory(username="ops-hold", role=roles.OPS, is_staff=True)
    client.force_login(ops)
    sku = topup_sku(on_exhausted="hold")
    first = upstream_for(sku, position=1)
    second = upstream_for(sku, position=2)
    held = _held(first.products.get())
    prefix = f"t{held.pk}-"

    client.post(
        reverse("supply-ops:hold-decide", args=[held.pk]),
        {prefix + "decision": "resubmit", prefix + "upstream": second.pk, prefix + "reason": "first supplier is down"},
    )

    held = topup_wait(held)
    assert held.status == Topup.Status.SUCCESS
    assert [a.upstream_id for a in held.attempts.order_by("n")] == [first.pk, second.pk]
    assert [o.number for o in simulator.orders_for(second.app_key)] == [f"{held.reference}-A2"]
    assert AuditLog.objects.get(action="supply.topup.resubmit").reason == "first supplier is down"


def test_alerts_are_listed_and_acknowledged_once(ops_client, ops_user, product):
    alert = SupplyAlert.objects.create(upstream=product.upstream, kind=SupplyAlert.Kind.LOW_BALANCE, message="Balance 12.00 is low")

    assert "Balance 12.00 is low" in ops_client.get(reverse("supply-ops:alerts")).content.decode()
    ops_client.post(reverse("supply-ops:alert-acknowledge", args=[alert.pk]))
    ops_client.post(reverse("supply-ops:alert-acknowledge", args=[alert.pk]))

    alert.refresh_from_db()
    assert alert.acknowledged_by == ops_user and alert.acknowledged_at is not None
    assert AuditLog.objects.filter(action="supply.alert.acknowledge").count() == 1
    assert "Balance 12.00 is low" not in ops_client.get(reverse("supply-ops:alerts")).content.decode()


def test_finance_imports_a_statement_on_the_page_and_resolves_the_costly_difference(finance_client, finance_user, product):
    refunded = attempt_make(product, status=S.FAILED)
    data = statement_csv([[refunded.their_number, refunded.number, "48.50", "成功", timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")]])
    upload = _upload("12月对账.csv", data)

    response = finance_client.post(reverse("supply-ops:statements"), {"upstream": product.upstream.pk, "file": upload, "mode": "all"})

    imported = StatementImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("supply-ops:statement", args=[imported.pk])
    page = finance_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "They say success, we refunded" in page and "¥48.50" in page
    assert reverse("admin:supply_topup_change", args=[refunded.topup_id]) in page
    difference = imported.differences.get()
    finance_client.post(reverse("supply-ops:difference-resolve", args=[difference.pk]), {"note": "supplier will reverse"})
    difference.refresh_from_db()
    assert difference.resolved_by == finance_user


def test_a_statement_with_bad_rows_shows_each_row_and_compares_nothing(ops_client, product):
    data = statement_csv([["S1", "T1-A1", "lots", "成功", ""], ["S2", "T2-A1", "1.00", "不知道", ""]])

    response = ops_client.post(
        reverse("supply-ops:statements"), {"upstream": product.upstream.pk, "file": _upload("bad.csv", data), "mode": "all"}, follow=True
    )

    body = response.content.decode()
    imported = StatementImport.objects.get()
    assert imported.status == StatementImport.Status.REFUSED and not StatementDifference.objects.exists()
    assert 'data-testid="bad-rows"' in body and "lots" in body and "不知道" in body


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_importing_the_same_file_again_says_so(ops_client, product):
    data = statement_csv([["S1", "T1-A1", "1.00", "失败", ""]])
    url = reverse("supply-ops:statements")

    ops_client.post(url, {"upstream": product.upstream.pk, "file": _upload("a.csv", data), "mode": "all"})
    again = ops_client.post(url, {"upstream": product.upstream.pk, "file": _upload("a.csv", data), "mode": "all"}, follow=True)

    first = StatementImport.objects.order_by("pk").first()
    assert f"#{first.pk}" in again.content.decode() and StatementImport.objects.count() == 2


def test_the_differences_page_pages_with_its_filter(ops_client, product):
    refunded = [attempt_make(product, status=S.FAILED) for _n in range(51)]
    rows = [[a.their_number, a.number, "48.50", "成功", ""] for a in refunded]
    ops_client.post(
        reverse("supply-ops:statements"), {"upstream": product.upstream.pk, "file": _upload("big.csv", statement_csv(rows)), "mode": "all"}
    )
    statement = StatementImport.objects.get()

    body = ops_client.get(reverse("supply-ops:statement", args=[statement.pk])).content.decode()

    assert body.count('data-testid="difference"') == 50 and "?open=1&amp;page=2" in body


def test_the_top_menu_leads_ops_to_every_supply_page(ops_client):
    menu = ops_client.get(reverse("dashboards:ops-home")).content.decode()

    for name in ("supply-ops:home", "supply-ops:holds", "supply-ops:alerts", "supply-ops:statements", "supply-ops:replenishments"):
        assert f'href="{reverse(name)}"' in menu


def test_the_top_menu_leads_finance_to_reconciliation_only(finance_client):
    menu = finance_client.get(reverse("dashboards:finance-home")).content.decode()

    assert f'href="{reverse("supply-ops:statements")}"' in menu
    assert f'href="{reverse("supply-ops:holds")}"' not in menu


def test_ops_audit_codes_have_labels_in_both_languages():
    from django.utils import translation

    from voucherhub.core.audit import audit_action_label

    codes = ["supply.statement.import", "supply.statement.resolve", "supply.alert.acknowledge", "supply.replenish.done"]
    with translation.override("zh-hans"):
        chinese = [audit_action_label(code) for code in codes]
    with translation.override("en"):
        english = [audit_action_label(code) for code in codes]
    assert english[0] == "Supplier statement imported" and chinese[0] == "已导入供应商对账单"
    assert not set(codes) & set(chinese + english)
