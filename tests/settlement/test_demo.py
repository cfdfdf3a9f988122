import io

import pytest
from django.core.management import call_command

from settlement.models import ExportJob, MerchantStatement, Order, Payment, RefundPayout, Statement, Withdrawal
from settlement.selectors.ledger import ledger_check

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_real_settlement_data_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the demo's export file
    call_command("seed_demo", stdout=io.StringIO())
    assert set(Order.objects.values_list("channel", flat=True)) == {"portal", "api", "storefront"}
    assert Order.objects.filter(status="delivered").count() == 4
    # the top-up orders are paid and held, each with its top-up requested from the demo suppliers' chains
    from supply.models import Topup

    topup_orders = Order.objects.filter(sku__fulfilment="topup")
    assert topup_orders.count() == 8 and set(topup_orders.values_list("status", flat=True)) == {"paid"}
    assert set(Topup.objects.values_list("reference", flat=True)) == set(topup_orders.values_list("number", flat=True))
    assert Order.objects.filter(status="refunded", pay_method="manual").count() == 1
    assert Withdrawal.objects.filter(status="requested").count() == 1
    assert Statement.objects.count() == 2  # both demo distributors with a login
    # finance's queues: a bank transfer to confirm, a refund to pay back by hand, a merchant statement, an export
    assert Payment.objects.filter(adapter="manual", status=Payment.Status.PENDING, purpose=Payment.Purpose.TOPUP).count() == 1
    assert RefundPayout.objects.filter(status=RefundPayout.Status.AWAITING).count() == 1
    assert MerchantStatement.objects.get().redemption_count > 0
    assert ExportJob.objects.get().status == ExportJob.Status.DONE
    assert ledger_check().ok
    counts = [model.objects.count() for model in (Order, Payment, Statement, MerchantStatement, ExportJob, RefundPayout)]
    call_command("seed_demo", stdout=io.StringIO())
    assert [model.objects.count() for model in (Order, Payment, Statement, MerchantStatement, ExportJob, RefundPayout)] == counts
