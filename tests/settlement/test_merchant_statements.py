"""Merchant statements: built from redemption's selectors per store and SKU, monthly by the job and on demand by
finance, immutable once reconciled, downloadable as XLSX (read back with openpyxl, no plaintext code), shown to
the merchant's own clerks only."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from redemption import selectors as redemption_selectors
from redemption.models import Redemption
from redemption.services import sku_price_set
from settlement.errors import SettlementError
from settlement.models import MerchantStatement
from settlement.services import merchant_statements
from settlement.services.merchant_statements import merchant_statement_generate, merchant_statement_reconcile, merchant_statements_monthly
from tests import factories
from tests.redemption.conftest import TerminalClient, clerk_make, shop_make
from tests.settlement.test_admin import _admin_export_xlsx

pytestmark = pytest.mark.django_db
D = Decimal


class World:
    """Merchant A with two stores (a terminal each) and two SKUs; merchant B with one store and SKU."""

    def __init__(self):
        client = Client()  # the terminals' own client: the test's client may sign in as a person
        self.a = shop_make("星巴克")
        self.b = shop_make("万达影城")
        self.a2_store = factories.StoreFactory(merchant=self.a.merchant, name="星巴克 二号店")
        terminal, secret = factories.terminal_for(self.a2_store)
        self.pos_a = TerminalClient(client=client, terminal=self.a.terminal, secret=self.a.secret)
        self.pos_a2 = TerminalClient(client=client, terminal=terminal, secret=secret)
        self.pos_b = TerminalClient(client=client, terminal=self.b.terminal, secret=self.b.secret)
        self.coffee = factories.SkuFactory(code="COFFEE-35", face_value=D("35.00"), allowed_merchant_ids=[self.a.merchant.pk])
        self.card = factories.SkuFactory(
            code="CARD-100", face_value=D("100.00"), is_stored_value=True, allowed_merchant_ids=[self.a.merchant.pk]
        )
        self.ticket = factories.SkuFactory(code="TICKET-50", face_value=D("50.00"), allowed_merchant_ids=[self.b.merchant.pk])
        sku_price_set(merchant=self.a.merchant, sku=self.coffee, settlement_price=D("30.00"))
        self.plaintexts: list[str] = []

    def redeem(self, pos, sku, **extra) -> int:
        _code, plaintext = factories.card_code(sku=sku)
        self.plaintexts.append(plaintext)
        response = pos.redeem({"code": plaintext, **extra})
        assert response.status_code == 201, response.content
        return response.json()["id"]


@pytest.fixture
def world(db):
    w = World()
    # this month: store 1: three coffees (one reversed), a gift card used for 40.00; store 2: one coffee
    first = w.redeem(w.pos_a, w.coffee)
    w.redeem(w.pos_a, w.coffee)
    w.redeem(w.pos_a, w.coffee)
    w.redeem(w.pos_a, w.card, amount="40.00")
    w.redeem(w.pos_a2, w.coffee)
    assert w.pos_a.reverse(first).status_code == 200
    w.redeem(w.pos_b, w.ticket)
    return w


def today_period():
    today = timezone.localdate()
    return today.replace(day=1), today


def test_a_statement_has_lines_per_store_and_sku_that_agree_with_redemptions_payable_summary(world, finance_user):
    start, end = today_period()
    statement = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end, actor=finance_user)
    lines = {(line.store_id, line.sku.code): line for line in statement.lines.select_related("sku")}
    assert set(lines) == {(world.a.store.pk, "COFFEE-35"), (world.a.store.pk, "CARD-100"), (world.a2_store.pk, "COFFEE-35")}
    store1_coffee = lines[(world.a.store.pk, "COFFEE-35")]
    assert (store1_coffee.redemption_count, store1_coffee.reversed_count) == (2, 1)
    assert (store1_coffee.amount_used, store1_coffee.amount_owed) == (D("70.00"), D("60.00"))
    card = lines[(world.a.store.pk, "CARD-100")]
    assert (card.redemption_count, card.amount_used, card.amount_owed) == (1, D("40.00"), D("40.00"))
    assert (statement.redemption_count, statement.reversed_count) == (4, 1)
    assert (statement.amount_used, statement.amount_owed) == (D("145.00"), D("130.00"))
    summary = redemption_selectors.merchant_payable_summary(period=(start, end), merchant=world.a.merchant)
    assert sum(r.owed for r in summary) == statement.amount_owed and sum(r.count for r in summary) == statement.redemption_count
    assert statement.generated_by == finance_user and statement.kind == MerchantStatement.Kind.ON_DEMAND


def test_bad_periods_are_refused_with_the_field_named(world):
    start, end = today_period()
    with pytest.raises(SettlementError) as error:
        merchant_statement_generate(merchant=world.a.merchant, start=end + timedelta(days=1), end=end)
    assert error.value.field == "end"
    with pytest.raises(SettlementError):
        merchant_statement_generate(merchant=world.a.merchant, start=end - timedelta(days=400), end=end)


def test_the_monthly_job_makes_last_months_statements_once_per_merchant(world):
    last_month_day = timezone.now().replace(day=1) - timedelta(days=2)
    Redemption.objects.filter(merchant=world.a.merchant, sku=world.coffee).update(created_at=last_month_day)
    idle = factories.MerchantFactory(name="Idle merchant")  # active, nothing redeemed: a statement of zero

    assert merchant_statements_monthly() == 3  # A, B and the idle merchant, in CNY
    assert merchant_statements_monthly() == 3  # safe to run twice
    assert MerchantStatement.objects.count() == 3
    a = MerchantStatement.objects.get(merchant=world.a.merchant)
    assert a.kind == MerchantStatement.Kind.MONTHLY and a.period_start == timezone.localdate(last_month_day).replace(day=1)
    assert (a.redemption_count, a.reversed_count, a.amount_owed) == (3, 1, D("90.00"))
    assert MerchantStatement.objects.get(merchant=idle).amount_owed == 0
    assert MerchantStatement.objects.get(merchant=world.b.merchant).amount_owed == 0  # B's ticket is this month


def test_an_open_monthly_statement_follows_late_reversals_and_a_reconciled_one_never_changes(world, finance_user):
    today = timezone.localdate()
    merchant_statements_monthly(year=today.year, month=today.month)
    a = MerchantStatement.objects.get(merchant=world.a.merchant)
    assert (a.redemption_count, a.amount_owed) == (4, D("130.00"))

    later = world.redeem(world.pos_a2, world.coffee)
    merchant_statements_monthly(year=today.year, month=today.month)
    a.refresh_from_db()
    assert (a.redemption_count, a.amount_owed) == (5, D("160.00"))
    assert world.pos_a2.reverse(later).status_code == 200  # reversed within its window, before finance reconciles
    merchant_statements_monthly(year=today.year, month=today.month)
    a.refresh_from_db()
    assert (a.redemption_count, a.reversed_count, a.amount_owed) == (4, 2, D("130.00"))
    assert sum(line.amount_owed for line in a.lines.all()) == D("130.00")

    merchant_statement_reconcile(statement=a, actor=finance_user, note="agreed with 星巴克")
    world.redeem(world.pos_a, world.coffee)
    merchant_statements_monthly(year=today.year, month=today.month)
    a.refresh_from_db()
    assert a.status == MerchantStatement.Status.RECONCILED and a.amount_owed == D("130.00") and a.redemption_count == 4
    assert a.lines.count() == 3
    assert merchant_statement_reconcile(statement=a, actor=finance_user).reconciled_at == a.reconciled_at
    # an on-demand statement for the same days is a new one and counts the new redemption
    fresh = merchant_statement_generate(merchant=world.a.merchant, start=a.period_start, end=a.period_end)
    assert fresh.pk != a.pk and fresh.amount_owed == D("160.00")


def test_the_xlsx_reads_back_with_summary_lines_and_every_redemption_and_no_plaintext_code(world, finance_client):
    start, end = today_period()
    statement = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end)
    response = finance_client.get(reverse("settlement:finance-merchant-statement-download", args=[statement.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'{statement.number}.xlsx"')
    content = b"".join(response.streaming_content)
    book = load_workbook(io.BytesIO(content))
    assert len(book.sheetnames) == 3 and book.sheetnames[2] == "redemptions"  # summary, lines, then every redemption
    summary = dict(book.worksheets[0].iter_rows(values_only=True))
    assert statement.number in summary.values() and world.a.merchant.name in summary.values()
    lines = list(book.worksheets[1].iter_rows(values_only=True))
    assert lines[0] == tuple(merchant_statements.line_headers())
    assert len(lines) == 1 + 3 + 1  # header, three store/SKU lines, total
    assert lines[-1][4:] == (4, 1, 145, 130)
    redemptions = list(book.worksheets[2].iter_rows(values_only=True))
    assert redemptions[0][:3] == tuple(column.title for column in merchant_statements.REDEMPTION_COLUMNS[:3])
    assert len(redemptions) == 1 + 4  # completed redemptions only, as counted
    assert sum(row[10] for row in redemptions[1:]) == 130
    hints = {row[7] for row in redemptions[1:]}
    assert hints <= set(Redemption.objects.values_list("code__hint", flat=True))
    text = "\n".join(
        ",".join(str(c) for c in row) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) if row is not None
    )
    for plaintext in world.plaintexts:
        assert plaintext not in text
        assert plaintext.encode() not in content
    csv_response = finance_client.get(reverse("settlement:finance-merchant-statement-download", args=[statement.pk]) + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][0] == merchant_statements.REDEMPTION_COLUMNS[0].title and len(rows) == 5
    assert all(p not in ",".join(r) for r in rows for p in world.plaintexts)


def test_finance_makes_reconciles_and_lists_statements_on_its_pages(world, finance_client):
    start, end = today_period()
    page = finance_client.get(reverse("settlement:finance-merchant-statements"))
    assert page.status_code == 200 and 'data-testid="merchant-statement-form"' in page.content.decode()
    bad = finance_client.post(
        reverse("settlement:finance-merchant-statements"),
        {"merchant": world.a.merchant.pk, "start": end.isoformat(), "end": (start - timedelta(days=1)).isoformat(), "currency": "CNY"},
    )
    assert bad.status_code == 200 and MerchantStatement.objects.count() == 0
    assert bad.context["form"].errors["end"]
    made = finance_client.post(
        reverse("settlement:finance-merchant-statements"),
        {"merchant": world.a.merchant.pk, "start": start.isoformat(), "end": end.isoformat(), "currency": "CNY"},
    )
    statement = MerchantStatement.objects.get()
    assert made.status_code == 302 and made["Location"] == reverse("settlement:finance-merchant-statement", args=[statement.pk])
    detail = finance_client.get(made["Location"]).content.decode()
    assert 'data-testid="merchant-statement-owed">¥130.00' in detail and "merchant-statement-reconcile" in detail
    too_long = finance_client.post(made["Location"], {"note": "x" * 301})
    assert too_long.status_code == 200 and too_long.context["form"].errors["note"]
    assert "invalid-feedback" in too_long.content.decode()
    statement.refresh_from_db()
    assert statement.status == MerchantStatement.Status.OPEN
    done = finance_client.post(made["Location"], {"note": "ok"})
    assert done.status_code == 302 and done["Location"] == made["Location"]
    statement.refresh_from_db()
    assert statement.status == MerchantStatement.Status.RECONCILED
    assert "merchant-statement-reconcile" not in finance_client.get(made["Location"]).content.decode()
    listing = finance_client.get(reverse("settlement:finance-merchant-statements") + "?status=reconciled").content.decode()
    assert statement.number in listing


def test_finance_pages_need_finance_permissions(world, client):
    start, end = today_period()
    statement = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end)
    client.force_login(clerk_make(world.a, "clerk-a"))
    for name in ("settlement:finance-merchant-statement", "settlement:finance-merchant-statement-download"):
        assert client.get(reverse(name, args=[statement.pk])).status_code == 403
    assert client.get(reverse("settlement:finance-merchant-statements")).status_code == 403


def test_a_merchant_clerk_sees_and_downloads_only_its_own_merchants_statements(world, client):
    start, end = today_period()
    own = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end)
    other = merchant_statement_generate(merchant=world.b.merchant, start=start, end=end)
    client.force_login(clerk_make(world.a, "clerk-a"))

    console = client.get(reverse("redemption:console")).content.decode()
    assert reverse("settlement:console-statements") in console  # the console's menu links to the page
    listing = client.get(reverse("settlement:console-statements")).content.decode()
    assert own.number in listing and other.number not in listing
    assert client.get(reverse("settlement:console-statement", args=[own.pk])).status_code == 200
    download = client.get(reverse("settlement:console-statement-download", args=[own.pk]))
    assert download.status_code == 200 and load_workbook(io.BytesIO(b"".join(download.streaming_content))).sheetnames[2] == "redemptions"
    # IDOR: the neighbour's statement is not found, neither the page nor the file
    assert client.get(reverse("settlement:console-statement", args=[other.pk])).status_code == 404
    assert client.get(reverse("settlement:console-statement-download", args=[other.pk])).status_code == 404
    assert client.get(reverse("settlement:console-statement-download", args=[other.pk]) + "?format=csv").status_code == 404


def test_a_clerk_of_some_stores_only_and_other_users_do_not_see_statements(world, client, finance_user):
    start, end = today_period()
    statement = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end)
    client.force_login(clerk_make(world.a, "store-clerk", stores=[world.a.store]))
    assert reverse("settlement:console-statements") not in client.get(reverse("redemption:console")).content.decode()
    assert client.get(reverse("settlement:console-statements")).status_code == 403
    assert client.get(reverse("settlement:console-statement-download", args=[statement.pk])).status_code == 403
    client.force_login(finance_user)  # finance uses its own pages
    assert client.get(reverse("settlement:console-statements")).status_code == 403
    client.logout()
    assert client.get(reverse("settlement:console-statements")).status_code == 302


def test_the_admin_shows_merchant_statements_read_only(world, finance_client):
    start, end = today_period()
    statement = merchant_statement_generate(merchant=world.a.merchant, start=start, end=end)
    assert finance_client.get(reverse("admin:settlement_merchantstatement_changelist")).status_code == 200
    detail = finance_client.get(reverse("admin:settlement_merchantstatement_change", args=[statement.pk]))
    assert detail.status_code == 200 and 'name="amount_owed"' not in detail.content.decode()
    assert finance_client.get(reverse("admin:settlement_merchantstatement_add")).status_code == 403
    text, rows = _admin_export_xlsx(finance_client, "merchantstatement")
    assert list(rows[0]) == [
        "number", "merchant", "kind", "period_start", "period_end", "currency", "redemption_count", "reversed_count", "amount_used",
        "amount_owed", "status", "reconciled_at",
    ]  # fmt: skip
    assert rows[1][0] == statement.number and rows[1][1] == world.a.merchant.name and float(rows[1][9]) == 130.0
    assert all(p not in text for p in world.plaintexts)
    finance_client.post(
        reverse("admin:settlement_merchantstatement_changelist"), {"action": "reconcile", "_selected_action": [statement.pk]}
    )
    statement.refresh_from_db()
    assert statement.status == MerchantStatement.Status.RECONCILED
