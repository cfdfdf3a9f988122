import io

import pytest

from catalog import demo
from catalog.models import CardCode, ImportJob
from voucherhub.core import demo as core_demo

pytestmark = pytest.mark.django_db


def test_the_demo_catalog_holds_a_recent_supplier_import_once():
    core_demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    codes = CardCode.objects.count()
    demo.seed(io.StringIO())
    assert CardCode.objects.count() == codes
    job = ImportJob.objects.get()
    assert (job.status, job.sku.code, job.created_by.username) == (ImportJob.Status.DONE, "TXVIDEO-VIP-M1", "ops")
    assert (job.total_rows, job.stored_rows, job.invalid_rows) == (50, 48, 2)
    assert job.batch.codes.count() == 48
