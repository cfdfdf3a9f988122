"""An ops user imports a CSV through the admin: upload, the progress bar while a worker checks the file,
the preview of every bad row, confirm, the progress bar while the codes are stored, the result.
In Chinese and in English. The test plays the django-q2 worker: it runs what the page queued."""

import re

import pytest
from django_q.models import OrmQ
from django_q.tasks import _sync

from catalog.models import CardCode, ImportJob
from tests import factories
from tests.browser.conftest import follow, login, switch_language
from tests.catalog.importfiles import csv_bytes, fresh_codes
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {
    "zh-hans": {
        "import": "导入卡密",
        "queued": "已排队",
        "confirmed": "已确认，等待导入",
        "dry_run": "试运行已完成",
        "duplicate": "文件内重复：与第 3 行的卡密相同",
        "malformed": "卡密格式错误",
        "confirm": "导入 6 条卡密",
        "stored": "已将 6 条卡密存入批次",
    },
    "en": {
        "import": "Import codes",
        "queued": "Queued",
        "confirmed": "Confirmed, waiting to import",
        "dry_run": "Dry run finished",
        "duplicate": "Duplicate in the file: same code as row 3",
        "malformed": "Malformed code",
        "confirm": "Import 6 codes",
        "stored": "Stored 6 codes in batch",
    },
}


def work_the_queue() -> int:
    """What a qcluster worker does: take each queued task and run it (django-q2's own worker code).
    Counts the import tasks only: writers also queue the audit-chain sealer, which runs too."""
    done = 0
    for queued in OrmQ.objects.order_by("id"):
        is_import = queued.func().startswith("catalog.tasks.")
        _sync(queued.payload)
        queued.delete()
        done += is_import
    return done


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ops_imports_a_csv_through_the_admin(new_page, settings, language):
    settings.IMPORT_INLINE_MAX_ROWS = 2  # this file goes to the background, as a large one would
    text = TEXT[language]
    factories.UserFactory(username="ops-importer", role=roles.OPS, is_staff=True)
    sku = factories.SkuFactory(code="BROWSER-IMPORT", name="浏览器导入 SKU")
    codes = fresh_codes(6)
    rows = [(c, f"SN-{i}", "2031-12-31") for i, c in enumerate(codes)]
    rows.insert(3, (codes[1], "", ""))  # file row 5 repeats row 3
    rows.append(("short", "", ""))  # file row 9 is malformed
    data = csv_bytes(rows)

    page = new_page(locale="zh-CN")
    login(page, "ops-importer", PASSWORD)
    if language == "en":
        switch_language(page, "en")

    # the ops home's button opens the upload form
    page.get_by_role("link", name=text["import"]).first.click()
    page.wait_for_selector("[data-testid=import-upload-form]")
    page.select_option("select[name=sku]", str(sku.pk))
    page.set_input_files("input[name=file]", files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": data}])
    page.locator("input[name=mode][value=valid]").check(force=True)
    follow(page, page.locator("[data-testid=import-submit]"))

    # the job page shows the progress bar while the file waits for a worker
    progress = page.locator("[data-testid=import-progress]")
    progress.wait_for()
    assert page.get_by_role("progressbar").is_visible()
    assert text["queued"] in progress.inner_text()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.QUEUED

    # a worker checks the file; the polling page turns into the preview by itself
    assert work_the_queue() == 1
    page.wait_for_selector("[data-testid=bad-rows]", timeout=15_000)
    assert text["dry_run"] in page.content()
    bad_rows = page.locator("[data-testid=bad-rows] tbody tr")
    assert bad_rows.count() == 2
    assert bad_rows.nth(0).get_attribute("data-row") == "5"
    assert text["duplicate"] in bad_rows.nth(0).inner_text()
    assert bad_rows.nth(1).get_attribute("data-row") == "9"
    assert text["malformed"] in bad_rows.nth(1).inner_text()
    assert page.locator("[data-testid=count-valid]").inner_text() == "6"
    assert not any(code in page.content() for code in codes)
    assert CardCode.objects.count() == 0

    # confirm: the progress bar again while the codes are stored
    follow(page, page.get_by_role("button", name=text["confirm"]))
    progress.wait_for()
    assert page.get_by_role("progressbar").is_visible()
    assert text["confirmed"] in progress.inner_text()
    assert work_the_queue() == 1
    result = page.locator("[data-testid=import-result]")
    result.wait_for(timeout=15_000)
    assert re.search(re.escape(text["stored"]) + r" #\d+", result.inner_text())
    assert page.locator("[data-testid=count-stored]").inner_text() == "6"
    assert page.locator("[data-testid=bad-rows] tbody tr").count() == 2  # still listed: not stored
    assert not any(code in page.content() for code in codes)
    assert CardCode.objects.filter(sku=sku).count() == 6
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.payload is None
