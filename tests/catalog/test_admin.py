"""The catalog admin for operations: every page opens, roles hold the right permissions, exports stay masked."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from catalog import services
from catalog.models import CardCode, CodeBatch, Product, Sku, Supplier
from catalog.resources import CardCodeResource
from tests import factories
from tests.catalog.vault_helpers import action_post
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog_data():
    sku = factories.SkuFactory(code="ADM-SKU")
    batch = services.codes_generate(sku=sku, count=6, label="admin test")
    return sku, batch


def test_ops_group_holds_the_catalog_permissions():
    perms = set(Group.objects.get(name=roles.OPS).permissions.values_list("codename", flat=True))
    for codename in [
        "view_supplier",
        "add_supplier",
        "change_supplier",
        "view_product",
        "add_product",
        "change_product",
        "view_sku",
        "add_sku",
        "change_sku",
        "view_codebatch",
        "view_cardcode",
        "view_importjob",
        "import_cardcode",
        "generate_cardcode",
        "void_cardcode",
        "reveal_cardcode",
    ]:
        assert codename in perms, codename
    assert "delete_cardcode" not in perms and "change_cardcode" not in perms


def test_finance_group_only_views_goods():
    perms = set(
        Group.objects.get(name=roles.FINANCE).permissions.filter(content_type__app_label="catalog").values_list("codename", flat=True)
    )
    assert perms == {"view_supplier", "view_product", "view_sku"}


@pytest.mark.parametrize("model", [Supplier, Product, Sku, CodeBatch, CardCode])
def test_ops_opens_every_catalog_changelist_and_change_page(ops_client, catalog_data, model):
    opts = model._meta
    assert ops_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    obj = model.objects.first()
    assert ops_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])).status_code == 200


def test_changelist_search_and_filters(ops_client, catalog_data):
    sku, batch = catalog_data
    url = reverse("admin:catalog_cardcode_changelist")
    assert ops_client.get(url, {"q": "nothing-like-this"}).context["cl"].result_count == 0
    assert ops_client.get(url, {"status__exact": "available", "sku__id__exact": sku.pk}).status_code == 200
    response = ops_client.get(reverse("admin:catalog_sku_changelist"), {"q": "ADM-SKU"})
    assert [s.code for s in response.context["cl"].result_list] == ["ADM-SKU"]
    # autocomplete for SKUs (used by filters and forms)
    response = ops_client.get(
        reverse("admin:autocomplete"), {"app_label": "catalog", "model_name": "cardcode", "field_name": "sku", "term": "ADM"}
    )
    assert response.status_code == 200 and response.json()["results"]


def test_card_code_admin_is_read_only(ops_client, catalog_data):
    code = CardCode.objects.first()
    response = ops_client.post(reverse("admin:catalog_cardcode_change", args=[code.pk]), {"status": "sold"})
    assert response.status_code == 403
    assert CardCode.objects.get(pk=code.pk).status == CardCode.Status.AVAILABLE
    assert ops_client.get(reverse("admin:catalog_cardcode_add")).status_code == 403


def test_finance_sees_skus_but_no_codes(finance_client, catalog_data):
    assert finance_client.get(reverse("admin:catalog_sku_changelist")).status_code == 200
    assert finance_client.get(reverse("admin:catalog_cardcode_changelist")).status_code == 403
    assert finance_client.get(reverse("admin:catalog_codebatch_changelist")).status_code == 403


def test_card_code_resource_exports_only_masked_fields(catalog_data):
    resource = CardCodeResource()
    names = {field.attribute for field in resource.get_export_fields()}
    assert not {"ciphertext", "blind_index", "key_id"} & names
    dataset = resource.export()
    assert len(dataset) == 6
    assert all(row[3].startswith("••••") for row in dataset)


def test_admin_export_of_card_codes(ops_client, catalog_data):
    url = reverse("admin:catalog_cardcode_export")
    page = ops_client.get(url)
    assert page.status_code == 200
    csv_index = next(value for value, label in page.context["form"].fields["format"].choices if label == "csv")
    response = ops_client.post(url, {"format": csv_index, "resource": 0, "cardcoderesource_id": True, "cardcoderesource_hint": True})
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").count("••••") == 6


def test_generate_action_on_several_skus(ops_client):
    skus = [factories.SkuFactory(), factories.SkuFactory()]
    url = reverse("admin:catalog_sku_changelist")
    response = action_post(ops_client, url, "generate_for_selected", [s.pk for s in skus], apply="1", count="3")
    assert response.status_code == 302
    assert [CardCode.objects.filter(sku=s).count() for s in skus] == [3, 3]
