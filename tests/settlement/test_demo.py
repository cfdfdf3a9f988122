import io

import pytest
from django.core.management import call_command

from settlement.models import Order, Statement, Withdrawal
from settlement.selectors.ledger import ledger_check

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_real_settlement_data_once():
    call_command("seed_demo", stdout=io.StringIO())
    assert set(Order.objects.values_list("channel", flat=True)) == {"portal", "api", "storefront"}
    assert Order.objects.filter(status="delivered").count() == 4
    assert Withdrawal.objects.filter(status="requested").count() == 1
    assert Statement.objects.count() == 1
    assert ledger_check().ok
    call_command("seed_demo", stdout=io.StringIO())
    assert Order.objects.count() == 4
