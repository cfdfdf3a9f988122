"""`manage.py import_codes`: counts and every bad row on stdout, non-zero exit when nothing could be stored."""

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import CardCode, ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku():
    return factories.SkuFactory(code="CLI-SKU")


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_codes", *args, stdout=out)
    return out.getvalue()


def test_valid_mode_stores_good_rows_and_prints_each_bad_row(sku, tmp_path):
    codes = fresh_codes(4)
    path = tmp_path / "codes.csv"
    path.write_bytes(csv_bytes([(c, "", "") for c in codes] + [(codes[0], "", ""), ("no", "", "")]))
    output = run("--sku", "CLI-SKU", "--mode", "valid", str(path))
    assert "rows=6 valid=4 bad=2 stored=4" in output
    assert "row 6\tduplicate_in_file" in output
    assert "row 7\tmalformed" in output
    assert "stored 4 code(s)" in output
    assert CardCode.objects.filter(sku=sku).count() == 4
    assert not any(code in output for code in codes)


def test_all_mode_refusal_exits_1_and_stores_nothing(sku, tmp_path):
    codes = fresh_codes(3)
    path = tmp_path / "codes.xlsx"
    path.write_bytes(xlsx_bytes([(c, "", "") for c in codes] + [(codes[1], "", "2001-01-01")]))
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_codes", "--sku", "CLI-SKU", str(path), stdout=out)
    assert excinfo.value.returncode == 1
    assert "nothing stored" in str(excinfo.value)
    assert "row 5\tduplicate_in_file" in out.getvalue()
    assert CardCode.objects.count() == 0
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_all_mode_clean_file_exits_0(sku, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes(csv_bytes([(c, "SN", "2031-01-01") for c in fresh_codes(3)]))
    output = run("--sku", "CLI-SKU", "--mode", "all", str(path))
    assert "stored 3 code(s)" in output


def test_reimport_stores_nothing_twice(sku, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes(csv_bytes([(c, "", "") for c in fresh_codes(3)]))
    run("--sku", "CLI-SKU", str(path))
    output = run("--sku", "CLI-SKU", "--mode", "valid", str(path))
    assert "stored=0" in output and "already_in_vault: 3" in output
    assert CardCode.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sku", "NOPE", "x.csv"], "unknown SKU"),
        (["--sku", "CLI-SKU", "/no/such/file.csv"], "no such file"),
        (["--sku", "CLI-SKU", "--user", "nobody", "x.csv"], "unknown user"),
    ],
)
def test_usage_errors_exit_2(sku, args, message):
    with pytest.raises(CommandError) as excinfo:
        run(*args)
    assert excinfo.value.returncode == 2
    assert message in str(excinfo.value)


def test_unusable_file_exits_2(sku, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes(b"serial,expires_at\nA,B\n")
    with pytest.raises(CommandError) as excinfo:
        run("--sku", "CLI-SKU", str(path))
    assert excinfo.value.returncode == 2
    assert "no_code_column" in str(excinfo.value)
    assert CardCode.objects.count() == 0


def test_user_is_recorded(sku, tmp_path, ops_user):
    path = tmp_path / "codes.csv"
    path.write_bytes(csv_bytes([(c, "", "") for c in fresh_codes(2)]))
    run("--sku", "CLI-SKU", "--user", ops_user.username, str(path))
    job = ImportJob.objects.get()
    assert job.created_by == ops_user and job.batch.created_by == ops_user
