"""The import pages in the admin: upload, preview with every bad row, confirm or cancel, progress, result.
No page ever shows a code; the upload never touches the disk."""

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django_q.models import OrmQ

from catalog.admin_imports import InMemoryUploadHandler
from catalog.models import CardCode, ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, named

pytestmark = pytest.mark.django_db

ADD = "admin:catalog_importjob_add"


@pytest.fixture
def sku():
    return factories.SkuFactory(code="ADMIN-SKU")


def job_url(job, name="change"):
    return reverse(f"admin:catalog_importjob_{name}", args=[job.pk])


def upload(client, sku, data, *, mode="all", name="codes.csv", follow=False):
    return client.post(reverse(ADD), {"sku": sku.pk, "mode": mode, "file": named(data, name)}, follow=follow)


def assert_no_codes(html: str, codes) -> None:
    for code in codes:
        assert code not in html
        assert code[:10] not in html


def test_ops_home_button_opens_the_upload_form(ops_client, sku):
    home = ops_client.get(reverse("dashboards:ops-home")).content.decode()
    assert reverse(ADD) in home
    page = ops_client.get(reverse(ADD))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'type="file"' in body and 'name="mode"' in body and "ADMIN-SKU" in body


def test_upload_needs_the_import_permission(finance_client, sku):
    assert finance_client.get(reverse(ADD)).status_code == 403
    response = Client().get(reverse(ADD))
    assert response.status_code == 302 and "login" in response["Location"]


def test_upload_preview_lists_every_bad_row_without_the_codes(ops_client, sku):
    codes = fresh_codes(4)
    rows = [(c, "", "") for c in codes] + [(codes[2], "", ""), ("tiny", "", ""), (fresh_codes(1)[0], "", "2001-01-01")]
    response = upload(ops_client, sku, csv_bytes(rows), mode="valid")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    with translation.override("en"):
        page = ops_client.get(job_url(job), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert job.status == ImportJob.Status.PREVIEW
    assert 'data-row="6" data-reason="duplicate_in_file"' in html
    assert 'data-row="7" data-reason="malformed"' in html
    assert 'data-row="8" data-reason="expired"' in html
    assert "import-confirm-button" in html
    assert_no_codes(html, codes)
    assert CardCode.objects.count() == 0


def test_confirm_stores_and_shows_the_result(ops_client, sku):
    codes = fresh_codes(3)
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in codes]))
    job = ImportJob.objects.get()
    response = ops_client.post(job_url(job, "confirm"), {"mode": "all"}, follow=True)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.stored_rows == 3
    html = response.content.decode()
    assert 'data-testid="import-result"' in html and 'data-testid="count-stored">3<' in html
    assert_no_codes(html, codes)
    assert CardCode.objects.filter(batch=job.batch).count() == 3


def test_all_mode_with_bad_rows_offers_only_the_valid_rows(ops_client, sku):
    codes = fresh_codes(3)
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in codes] + [("x", "", "")]), mode="all")
    job = ImportJob.objects.get()
    html = ops_client.get(job_url(job)).content.decode()
    assert "import-confirm-button" not in html and "import-confirm-valid" in html
    # posting all-or-nothing anyway is refused with a message, nothing stored
    response = ops_client.post(job_url(job, "confirm"), {"mode": "all"}, follow=True)
    assert CardCode.objects.count() == 0
    assert ImportJob.objects.get().status == ImportJob.Status.PREVIEW
    assert list(response.context["messages"])
    ops_client.post(job_url(job, "confirm"), {"mode": "valid"})
    assert CardCode.objects.count() == 3


def test_cancel(ops_client, sku):
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in fresh_codes(2)]))
    job = ImportJob.objects.get()
    assert ops_client.get(job_url(job, "cancel")).status_code == 405
    ops_client.post(job_url(job, "cancel"))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED and job.payload is None


def test_unusable_file_is_a_form_error(ops_client, sku):
    response = upload(ops_client, sku, b"serial\nABC\n")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_upload_stays_in_memory_and_is_capped(ops_client, sku, settings):
    # Django would spool anything over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file: not this upload.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10
    data = csv_bytes([(c, "", "") for c in fresh_codes(20)])
    response = upload(ops_client, sku, data)
    request = response.wsgi_request
    assert [type(h) for h in request.upload_handlers] == [InMemoryUploadHandler]
    assert isinstance(request.FILES["file"], InMemoryUploadedFile) and request.FILES["file"].size == len(data)
    # past the import limit the file is dropped and the form says why
    settings.IMPORT_MAX_BYTES = 100
    response = upload(ops_client, sku, data)
    assert response.status_code == 200
    assert str(ImportJob.Failure.TOO_LARGE.label) in str(response.context["form"].errors["file"])


def test_upload_still_checks_csrf(ops_user, sku):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ops_user)
    response = upload(client, sku, csv_bytes([(c, "", "") for c in fresh_codes(2)]))
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_large_file_shows_the_polled_progress_bar(ops_client, sku, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_INLINE_MAX_ROWS = 1
    with django_capture_on_commit_callbacks(execute=True):
        upload(ops_client, sku, csv_bytes([(c, "", "") for c in fresh_codes(3)]))
    job = ImportJob.objects.get()
    queued = [q.func() for q in OrmQ.objects.all()]
    assert job.status == ImportJob.Status.QUEUED and queued.count("catalog.tasks.import_job_validate_task") == 1
    html = ops_client.get(job_url(job)).content.decode()
    assert 'role="progressbar"' in html and f'hx-get="{job_url(job, "progress")}"' in html
    partial = ops_client.get(job_url(job, "progress"), HTTP_HX_REQUEST="true")
    assert 'aria-valuenow="0"' in partial.content.decode() and "HX-Refresh" not in partial
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.VALIDATING, progress=42)
    assert 'aria-valuenow="42"' in ops_client.get(job_url(job, "progress")).content.decode()
    # once it stops running the page reloads into the preview
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.PREVIEW, progress=100)
    assert ops_client.get(job_url(job, "progress"))["HX-Refresh"] == "true"


def test_bad_rows_download_has_rows_reasons_and_hints_only(ops_client, sku):
    codes = fresh_codes(2)
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in codes] + [(codes[0], "", "")]), mode="valid")
    job = ImportJob.objects.get()
    response = ops_client.get(job_url(job, "errors"))
    body = response.content.decode("utf-8-sig")
    assert response["Content-Type"].startswith("text/csv")
    lines = body.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("4,duplicate_in_file,")
    assert_no_codes(body, codes)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_download(ops_client, fmt):
    response = ops_client.get(reverse("admin:catalog_importjob_template", args=[fmt]))
    assert response.status_code == 200
    assert f"codes-template.{fmt}" in response["Content-Disposition"]


def test_changelist_and_ops_home_show_the_job(ops_client, sku):
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in fresh_codes(2)]))
    job = ImportJob.objects.get()
    assert "codes.csv" in ops_client.get(reverse("admin:catalog_importjob_changelist")).content.decode()
    assert job_url(job) in ops_client.get(reverse("dashboards:ops-home")).content.decode()


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-hans", ["试运行已完成", "重复", "格式错误"]), ("en", ["Dry run finished", "Duplicate in the file", "Malformed code"])],
)
def test_preview_in_both_languages(ops_client, sku, language, words):
    codes = fresh_codes(2)
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in codes] + [(codes[0], "", ""), ("x", "", "")]), mode="valid")
    job = ImportJob.objects.get()
    ops_client.post(reverse("set_language"), {"language": language, "next": "/"})
    html = ops_client.get(job_url(job)).content.decode()
    for word in words:
        assert word in html


def test_result_links_to_the_codes_of_the_batch(ops_client, sku):
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in fresh_codes(2)]))
    job = ImportJob.objects.get()
    ops_client.post(job_url(job, "confirm"))
    job.refresh_from_db()
    link = reverse("admin:catalog_cardcode_changelist") + f"?batch__id__exact={job.batch_id}"
    assert link in ops_client.get(job_url(job)).content.decode()
    page = ops_client.get(link)
    assert page.status_code == 200 and "?e=1" not in page.get("Location", "")
    assert page.context["cl"].result_count == 2


def test_preview_warns_when_the_same_file_was_imported_before(ops_client, sku):
    data = csv_bytes([(c, "", "") for c in fresh_codes(3)])
    upload(ops_client, sku, data)
    first = ImportJob.objects.get()
    ops_client.post(job_url(first, "confirm"))
    upload(ops_client, sku, data, mode="valid")
    again = ImportJob.objects.exclude(pk=first.pk).get()
    html = ops_client.get(job_url(again)).content.decode()
    assert 'data-testid="import-earlier"' in html
    assert again.reason_counts == {"already_in_vault": 3} and again.valid_rows == 0
    assert "import-confirm-button" not in html  # nothing to store


def test_dry_run_says_whether_there_are_bad_rows(ops_client, sku):
    codes = fresh_codes(3)
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in codes]))
    clean = ImportJob.objects.get()
    assert clean.status == ImportJob.Status.PREVIEW and clean.invalid_rows == 0
    with translation.override("zh-hans"):
        html = ops_client.get(job_url(clean), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "所有行均无错误" in html and "请检查下方的错误行" not in html
    upload(ops_client, sku, csv_bytes([(c, "", "") for c in fresh_codes(2)] + [("!", "", "")]), mode="valid")
    bad = ImportJob.objects.exclude(pk=clean.pk).get()
    assert bad.status == ImportJob.Status.PREVIEW and bad.invalid_rows == 1
    html = ops_client.get(job_url(bad), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "请检查下方的错误行" in html and "所有行均无错误" not in html
