from decimal import Decimal

import pytest
import tablib
from django.urls import reverse

from channels.models import Distributor, PriceEntry, Quota, QuotaMovement
from channels.resources import PriceEntryResource
from tests import factories
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

HEADERS = ["level", "distributor", "sku", "min_quantity", "purchase_price", "suggested_retail", "price_floor"]


@pytest.fixture
def ops_admin(client, db):
    user = factories.UserFactory(username="ops-admin", role=roles.OPS, is_staff=True)
    client.force_login(user)
    return client


def dataset(*rows):
    return tablib.Dataset(*rows, headers=HEADERS)


def test_price_sheet_import_reports_every_bad_row_and_stores_none(tree, sku):
    rows = dataset(
        ["省代", "", sku.code, 1, "21.00", "25.00", "23.00"],  # good
        ["", "", sku.code, 1, "21.00", "25.00", "23.00"],  # neither level nor distributor
        ["省代", "浙江省代", sku.code, 5, "21.00", "25.00", "23.00"],  # both
        ["省代", "", "NO-SUCH-SKU", 1, "21.00", "25.00", "23.00"],  # unknown SKU
        ["推广员", "", sku.code, 1, "22.00", "22.00", "23.00"],  # retail below floor
        ["推广员", "", sku.code, 10, "22.00", "", ""],  # level rows need retail and floor
        ["不存在的级别", "", sku.code, 1, "22.00", "25.00", "23.00"],  # unknown level
    )
    result = PriceEntryResource().import_data(rows, dry_run=True, raise_errors=False)
    assert result.has_validation_errors() or result.has_errors()
    bad_rows = {row.number for row in result.invalid_rows} | {number for number, _errors in result.row_errors()}
    assert bad_rows == {2, 3, 4, 5, 6, 7}
    assert PriceEntry.objects.count() == 0


def test_price_sheet_import_creates_and_updates(tree, sku):
    factories.PriceEntryFactory(level=tree.province, sku=sku, purchase_price=Decimal("21.50"))
    rows = dataset(
        ["省代", "", sku.code, 1, "21.00", "25.00", "23.00"],  # updates the existing row
        ["省代", "", sku.code, 100, "20.50", "25.00", "23.00"],  # a new tier
        ["", "浙江省代", sku.code, "", "20.00", "", ""],  # an override with the level's retail and floor
    )
    result = PriceEntryResource().import_data(rows, dry_run=False, raise_errors=True)
    assert not result.has_errors() and not result.has_validation_errors()
    assert PriceEntry.objects.get(level=tree.province, min_quantity=1).purchase_price == Decimal("21.00")
    assert PriceEntry.objects.get(level=tree.province, min_quantity=100).purchase_price == Decimal("20.50")
    override = PriceEntry.objects.get(distributor=tree.mid)
    assert (override.min_quantity, override.purchase_price, override.price_floor) == (1, Decimal("20.00"), None)
    exported = PriceEntryResource().export()
    assert exported.headers == HEADERS
    assert ["", "浙江省代", sku.code, "1", "20.00", "", ""] in [[str(v) if v is not None else "" for v in row] for row in exported]


def test_price_sheet_import_page_shows_row_errors(ops_admin, tree, sku):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv = "level,distributor,sku,min_quantity,purchase_price,suggested_retail,price_floor\n省代,,NO-SUCH,1,21.00,25.00,23.00\n"
    response = ops_admin.post(
        reverse("admin:channels_priceentry_import"),
        {"format": "0", "import_file": SimpleUploadedFile("prices.csv", csv.encode(), "text/csv"), "resource": "0"},
    )
    assert response.status_code == 200
    assert "NO-SUCH" in response.content.decode()
    assert PriceEntry.objects.count() == 0


def test_admin_approves_moves_and_allocates_through_services(ops_admin, tree, sku):
    pending = factories.DistributorFactory(name="待审核", level=tree.promoter, parent=tree.mid, status=Distributor.Status.PENDING)
    response = ops_admin.post(
        reverse("admin:channels_distributor_changelist"), {"action": "approve", "_selected_action": [pending.pk]}, follow=True
    )
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == Distributor.Status.ACTIVE
    # move: refused into the own subtree, then done
    move_url = reverse("admin:channels_distributor_move_subtree", args=[tree.mid.pk])
    assert ops_admin.get(move_url).status_code == 200
    refused = ops_admin.post(move_url, {"new_parent": tree.leaf.pk, "reason": "test"})
    assert refused.status_code == 200 and Distributor.objects.get(pk=tree.mid.pk).parent == tree.top
    assert ops_admin.post(move_url, {"new_parent": tree.sibling.pk, "reason": "区域合并"}).status_code == 302
    assert Distributor.objects.get(pk=tree.leaf.pk).path.startswith(tree.sibling.path)
    assert AuditLog.objects.filter(action="distributor.move", reason="区域合并").exists()
    # quota
    quota_url = reverse("admin:channels_distributor_quota", args=[tree.top.pk])
    assert ops_admin.post(quota_url, {"sku": sku.pk, "quantity": 25, "direction": "allocate"}).status_code == 302
    too_much = ops_admin.post(quota_url, {"sku": sku.pk, "quantity": 26, "direction": "revoke"})
    assert too_much.status_code == 200
    assert Quota.objects.get(distributor=tree.top).balance == 25
    assert QuotaMovement.objects.count() == 1
    # level
    level_url = reverse("admin:channels_distributor_change_level", args=[tree.leaf.pk])
    assert ops_admin.post(level_url, {"level": tree.province.pk, "note": "表现优秀"}).status_code == 302
    assert tree.leaf.level_changes.latest("id").note == "表现优秀"


def test_admin_add_builds_the_tree_path(ops_admin, tree):
    response = ops_admin.post(
        reverse("admin:channels_distributor_add"),
        {
            "name": "新省代",
            "kind": "b_end",
            "level": tree.province.pk,
            "parent": tree.top.pk,
            "status": "active",
            "region": "安徽",
            "staff-TOTAL_FORMS": "0",
            "staff-INITIAL_FORMS": "0",
            "price_entries-TOTAL_FORMS": "0",
            "price_entries-INITIAL_FORMS": "0",
            "quotas-TOTAL_FORMS": "0",
            "quotas-INITIAL_FORMS": "0",
            "level_changes-TOTAL_FORMS": "0",
            "level_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    created = Distributor.objects.get(name="新省代")
    assert created.path == f"{tree.top.path}{Distributor.path_segment(created.pk)}"


def test_commission_preview_page(ops_admin, tree, sku):
    from channels.models import CommissionRule

    CommissionRule.objects.create(depth=1, kind=CommissionRule.Kind.PERCENT, percent=Decimal("5"))
    response = ops_admin.post(
        reverse("admin:channels_commissionrule_preview"), {"seller": tree.leaf.pk, "sku": sku.pk, "quantity": 1, "sale_amount": "100.00"}
    )
    assert response.status_code == 200
    assert [(line.beneficiary, line.amount) for line in response.context["lines"]] == [(tree.mid, Decimal("5.00"))]


@pytest.mark.parametrize(
    "model",
    [
        "distributor",
        "distributorlevel",
        "invitation",
        "priceentry",
        "productpool",
        "commissionrule",
        "quota",
        "quotamovement",
        "storefront",
        "apikey",
        "priceviolation",
        "codesale",
        "levelchange",
        "distributorstaff",
    ],
)
def test_admin_lists_open(ops_admin, tree, model):
    assert ops_admin.get(reverse(f"admin:channels_{model}_changelist")).status_code == 200


def test_admin_links_to_the_ops_pages(ops_admin):
    assert ops_admin.get(reverse("admin:channels_codesale_trace")).url == reverse("channels:ops-trace")
    assert ops_admin.get(reverse("admin:channels_priceviolation_report")).url == reverse("channels:ops-violations")
