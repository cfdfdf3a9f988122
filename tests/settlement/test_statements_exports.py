import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from catalog.vault import keyring
from settlement import exporting
from settlement.models import ExportJob, Order, Statement
from settlement.services.exports import export_start
from settlement.services.orders import order_place, order_refund
from settlement.services.statements import statement_generate, statement_reconcile
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal


def test_an_exported_time_read_without_its_zone_is_taken_as_utc_and_written_in_local_time():
    """SQLite (the `make run` database) hands a raw query's times back as naive UTC: every export with a time
    column failed there (Django 5 has no timezone.utc)."""
    utc = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    local = timezone.localtime(utc).replace(tzinfo=None)
    assert exporting._local(utc.replace(tzinfo=None)) == local
    assert exporting._local(utc) == local


def test_statement_totals_and_reconciled_statements_are_immutable(tree, finance_user):
    start = timezone.now() - timedelta(minutes=1)
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    order_refund(order=order, actor=finance_user, reason="bad", quantity=1)
    end = timezone.now() + timedelta(minutes=1)
    statement = statement_generate(wallet=wallet_for(tree.seller), start=start, end=end, actor=finance_user)
    assert (statement.opening_balance, statement.topups, statement.purchases, statement.refunds, statement.closing_balance) == (
        D("0.00"),
        D("100.00"),
        D("52.00"),
        D("26.00"),
        D("74.00"),
    )
    assert statement.order_count == 1
    mid = statement_generate(wallet=wallet_for(tree.mid), start=start, end=end, kind=Statement.Kind.MONTHLY)
    assert mid.commission_earned == D("2.00") and mid.commission_clawed_back == D("1.00") and mid.commission_closing == D("1.00")
    statement_reconcile(statement=mid, actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    again = statement_generate(wallet=wallet_for(tree.mid), start=start, end=end, kind=Statement.Kind.MONTHLY)
    assert again.pk == mid.pk and again.commission_earned == D("2.00")  # reconciled: unchanged


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_streaming_exports_have_every_row_and_no_plaintext_code(tree, finance_user, fmt):
    fund(tree.seller, "200.00", actor=finance_user)
    orders = [order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2) for _ in range(3)]
    plain = [
        keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index)
        for o in orders
        for i in o.items.select_related("code")
    ]
    for kind in ("ledger", "orders", "commission"):
        job = export_start(kind=kind, fmt=fmt, actor=finance_user, run_now=True)
        assert job.status == ExportJob.Status.DONE and job.progress == 100
        if fmt == "xlsx":
            text = "\n".join(
                ",".join(str(c) for c in row) for row in load_workbook(job.file_path, read_only=True).active.iter_rows(values_only=True)
            )
        else:
            text = open(job.file_path, encoding="utf-8-sig").read()
            assert len(list(csv.reader(text.splitlines()))) == job.total_rows + 1
        assert job.total_rows > 0
        for code in plain:
            assert code not in text


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_supplier_statement_counts_codes_consumed_per_batch_at_cost(tree, finance_user, fmt):
    fund(tree.seller, "500.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3)
    released = order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                           quantity=2, contact="a@example.test", lookup_password="secret-1", pay_method="sandbox")  # fmt: skip
    assert released.status == Order.Status.PENDING  # reserved, never sold: not consumed
    job = export_start(kind="supplier", fmt=fmt, actor=finance_user, run_now=True)
    if fmt == "xlsx":
        rows = list(load_workbook(job.file_path).active.iter_rows(values_only=True))
    else:
        rows = list(csv.reader(open(job.file_path, encoding="utf-8-sig")))
    assert list(rows[0]) == exporting.supplier_sheet().headers  # the reader's words (供应商, 批次 …), never column names
    assert len(rows) == 2
    assert str(rows[1][4]) == tree.sku.code and int(rows[1][5]) == 3 and D(str(rows[1][7])) == D("60.00")


def _sheet_rows(sheet) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sheet.sql, sheet.params)
        return cursor.fetchall()


def test_supplier_statement_takes_the_real_costs_of_replenished_batches_and_top_ups(tree, finance_user):
    """Codes bought from a supplier by replenishment cost what the supplier charged (not the SKU's cost price);
    top-ups that succeeded (wholly or in part) cost what the successful supplier charged; failed ones nothing."""
    from catalog.models import CardCode
    from supply.models import Replenishment, Topup, Upstream, UpstreamProduct
    from tests.factories import SkuFactory, SupplierFactory

    fund(tree.seller, "500.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    batch = CardCode.objects.get(pk=order.items.first().code_id).batch
    upstream = Upstream.objects.create(supplier=SupplierFactory(name="上游甲"), protocol="v2", base_url="http://127.0.0.1:9/", app_key="k")
    card = UpstreamProduct.objects.create(
        upstream=upstream, sku=tree.sku, kind="card", their_product_id="C1", face_value=D("30"), cost=D("17.50")
    )
    Replenishment.objects.create(number="R1", product=card, sku=tree.sku, status="done", quantity=2, unit_cost=D("17.50"), batch=batch)
    phone = SkuFactory(code="PHONE-50", fulfilment="topup", face_value=D("50"), cost_price=D("49"))
    done = timezone.now()
    for ref, status, cost in (("T1", "success", "48.60"), ("T2", "partial", "24.30"), ("T3", "failed", None)):
        Topup.objects.create(reference=ref, sku=phone, account="13800138000", face_value=D("50"), status=status, upstream=upstream,
                             cost=D(cost) if cost else None, finished_at=done)  # fmt: skip
    rows = _sheet_rows(exporting.supplier_sheet(supplier_id=None))
    codes = [r for r in rows if r[1] == "codes"]
    topups = [r for r in rows if r[1] == "topups"]
    assert [(r[4], r[5], r[6], r[7]) for r in codes] == [(tree.sku.code, 2, D("17.50"), D("35.00"))]
    assert [(r[0], r[4], r[5], r[7]) for r in topups] == [("上游甲", "PHONE-50", 2, D("72.90"))]
    only = _sheet_rows(exporting.supplier_sheet(supplier_id=upstream.supplier_id))
    assert [r[1] for r in only] == ["topups"]  # the codes' product is another supplier's


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_started_on_the_finance_page_is_queued_polled_and_downloaded(tree, finance_user, finance_client, fmt):
    """The streaming path as finance uses it: POST the form, a django-q2 task is queued, the htmx row polls
    the job's progress, the worker runs the task, and the download is the finished file without codes."""
    import io

    from django.urls import reverse
    from django_q.models import OrmQ

    from settlement import tasks

    fund(tree.seller, "200.00", actor=finance_user)
    orders = [order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2) for _ in range(2)]
    plain = [
        keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index)
        for o in orders
        for i in o.items.select_related("code")
    ]
    today = timezone.localdate().isoformat()
    response = finance_client.post(reverse("settlement:finance-exports"), {"kind": "orders", "fmt": fmt, "start": today, "end": today})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.kind, job.fmt, job.status, job.created_by) == ("orders", fmt, ExportJob.Status.QUEUED, finance_user)
    [queued] = OrmQ.objects.all()
    task = queued.task  # a property: the unpickled package
    assert task["func"] == "settlement.tasks.export_run" and tuple(task["args"]) == (job.pk,)

    progress_url = reverse("settlement:finance-export-progress", args=[job.pk])
    page = finance_client.get(reverse("settlement:finance-exports")).content.decode()
    assert f'hx-get="{progress_url}"' in page  # the row polls while the job waits
    waiting = finance_client.get(progress_url).content.decode()
    assert f'hx-get="{progress_url}"' in waiting and 'value="0"' in waiting
    download_url = reverse("settlement:finance-export-download", args=[job.pk])
    assert finance_client.get(download_url).status_code == 404  # nothing to download yet

    tasks.export_run(job.pk)  # what the django-q2 worker runs
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.total_rows == len(orders) and job.done_rows == len(orders)
    done = finance_client.get(progress_url).content.decode()
    assert "hx-get" not in done and 'value="100"' in done and f"{job.done_rows} / {job.total_rows}" in done
    assert download_url in done

    download = finance_client.get(download_url)
    assert download.status_code == 200 and job.filename in download["Content-Disposition"]
    content = b"".join(download.streaming_content)
    if fmt == "xlsx":
        rows = list(load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True))
        text = "\n".join(",".join(str(c) for c in row) for row in rows)
    else:
        text = content.decode("utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
    assert len(rows) == len(orders) + 1
    assert all(o.number in text for o in orders)
    assert not any(code in text for code in plain)
    # another finance user can neither poll nor download this job
    from tests import factories
    from voucherhub.core import roles

    finance_client.force_login(factories.UserFactory(username="finance2", role=roles.FINANCE, is_staff=True))
    assert finance_client.get(progress_url).status_code == 404 and finance_client.get(download_url).status_code == 404
