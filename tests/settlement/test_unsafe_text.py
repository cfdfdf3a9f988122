"""Control characters and non-characters: the API refuses them in any text, and no XLSX export fails on them.

The probe: a distributor's `customer_ref` with control characters was accepted and the ops' admin XLSX export
of orders then answered with an error page (openpyxl's IllegalCharacterError)."""

import io
import zipfile

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from settlement import exporting
from settlement.models import Order
from settlement.services.orders import order_place
from tests.settlement.conftest import fund
from tests.settlement.test_api import Api
from voucherhub.core.text import text_unsafe_characters, xlsx_safe

pytestmark = pytest.mark.django_db

PROBE = "S¬+\x9cþ\U0010e2cf"  # as the probe sent it: a C1 control character
UNSAFE = ["a\x1bb", "tab\x00", "del\x7f", "c1\x85", "bom\ufffe", "plane\U0001ffff", "nc\ufdd0", "lone\ud800"]


@pytest.mark.parametrize("text", UNSAFE + [PROBE])
def test_unsafe_characters_are_found_and_dropped_for_xlsx(text):
    assert text_unsafe_characters(text)
    assert not text_unsafe_characters(xlsx_safe(text))


@pytest.mark.parametrize("text", ["订单 2026-12", "emoji 😀 ok", "line one\nline two\ttabbed\r\n", "私用\U0010e2cf", ""])
def test_ordinary_text_is_safe_and_kept(text):
    assert text_unsafe_characters(text) == []
    assert xlsx_safe(text) == text


@pytest.fixture
def api(client, tree, finance_user):
    fund(tree.seller, "500.00", actor=finance_user)
    return Api(client, tree.seller)


@pytest.mark.parametrize("customer_ref", [PROBE, "ERP\x1b[31m", "ref\ufffe", "ref\ud800"])
def test_the_api_refuses_an_order_reference_with_unsafe_characters(api, tree, customer_ref):
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "customer_ref": customer_ref}, idempotency_key="u-1")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["customer_ref"] and "U+" in error["fields"]["customer_ref"][0]
    assert not Order.objects.exists()


def test_the_api_names_a_nested_field_and_keeps_good_text(api, tree):
    nested = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "meta": {"notes": ["ok", "bad\x07"]}}, idempotency_key="u-2")
    assert nested.status_code == 400 and list(nested.json()["error"]["fields"]) == ["meta.notes.1"]
    good = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "customer_ref": "ERP-订单-😀"}, idempotency_key="u-3")
    assert good.status_code == 201, good.content
    assert Order.objects.get().customer_ref == "ERP-订单-😀"


@pytest.fixture
def dirty_order(tree, finance_user):
    """An order whose text holds what XLSX cannot (written before the API refused it, or another way in)."""
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    Order.objects.filter(pk=order.pk).update(customer_ref="S\x1b¬+\x9cþ\U0010e2cf\ufffe", campaign="spring\x0b\uffff", referrer="r\x01")
    return order


def test_the_admin_xlsx_export_of_orders_does_not_fail_on_data(client, finance_user, dirty_order):
    client.force_login(finance_user)
    url = reverse("admin:settlement_order_export")
    form = client.get(url).context["form"]
    xlsx = next(value for value, label in form.fields["format"].choices if label == "xlsx")
    response = client.post(url, {"format": xlsx, "resource": 0})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["number"] == dirty_order.number
    assert row["customer_ref"] == "S¬+þ\U0010e2cf" and row["campaign"] == "spring" and row["referrer"] == "r"


def test_the_streaming_xlsx_export_does_not_fail_on_data(tmp_path, dirty_order):
    path = tmp_path / "orders.xlsx"
    assert exporting.write_xlsx(path, exporting.orders_sheet()) == 1
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[1][0] == dirty_order.number and "spring" in rows[1] and "r" in rows[1]
    parts = zipfile.ZipFile(path)
    text = b"".join(parts.read(name) for name in parts.namelist()).decode()
    assert "\x0b" not in text and "\uffff" not in text and "\x01" not in text


def test_form_and_multipart_bodies_are_checked_too():
    from django.http import QueryDict
    from rest_framework.exceptions import ValidationError

    from voucherhub.core.apiparsers import body_text_check

    body_text_check(QueryDict("reason=ok&reference=POS-1"))
    with pytest.raises(ValidationError) as refused:
        body_text_check(QueryDict("reason=ok&reference=POS%1B1&tag=a&tag=b%07"))
    assert set(refused.value.detail) == {"reference", "tag.1"}
