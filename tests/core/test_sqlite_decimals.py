"""Money sums read back at two places on SQLite too (voucherhub/core/sqlite): SQLite adds REAL numbers, and
Django rounds an aggregate only to 15 significant digits, so the demo's finance home showed ¥4577.70000000000
and its ledger check found a commission balance of 4.80 unequal to its entries' sum of 4.80000000000003."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Coalesce

from catalog.models import Sku
from tests import factories
from voucherhub.core.sqlite.base import DatabaseWrapper

pytestmark = pytest.mark.django_db


def test_a_sum_of_money_reads_back_with_its_two_places():
    factories.SkuFactory(face_value=Decimal("1.10"))
    factories.SkuFactory(face_value=Decimal("3.70"))
    factories.SkuFactory(face_value=Decimal("4505.20"))
    totals = Sku.objects.aggregate(total=Sum("face_value"), kept=Coalesce(Sum("face_value"), Decimal("0.00")))
    assert [str(totals["total"]), str(totals["kept"])] == ["4510.00", "4510.00"]
    small = Sku.objects.filter(face_value__lt=5).aggregate(total=Sum("face_value"))["total"]
    assert str(small) == "4.80"


def test_the_sqlite_backend_rounds_float_noise_of_a_sum_to_the_fields_places():
    """The converter itself, whatever database this run uses (CI runs on PostgreSQL)."""
    ops = DatabaseWrapper({**connection.settings_dict, "NAME": ":memory:"}).ops
    total = Sku.objects.annotate(total=Sum("face_value")).query.annotations["total"]
    convert = ops.get_decimalfield_converter(total)
    read = [convert(value, total, None) for value in (4.800000000000001, 4.80000000000003, 4510.0, None)]
    assert [str(value) for value in read] == ["4.80", "4.80", "4510.00", "None"]
