from io import StringIO

from django.contrib.auth import authenticate
from django.core.management import call_command

from channels import selectors
from channels.models import ApiKey, Distributor, Invitation, PriceEntry, PriceViolation
from voucherhub.core.demo import DEMO_PASSWORD


def test_demo_tree_storefront_and_login(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())  # idempotent
    assert Distributor.objects.count() == 6
    user = authenticate(username="distributor", password=DEMO_PASSWORD)
    top = selectors.distributor_for_user(user)
    assert top.parent is None and top.level.name == "总代"
    assert selectors.downline_summary(top)["total"] == 5
    shop = selectors.storefront_public("demo")
    assert shop.distributor == top
    rows = selectors.storefront_skus(shop)
    assert len(rows) == 7 and all(row.sellable for row in rows)
    # one of each kind, so the demo shop shows its categories and a placeholder per kind; a support contact
    assert {row.item.sku.product.category for row in rows} == {"video", "music", "coffee", "movie", "gift_card"}
    assert shop.support_contact
    assert selectors.quota_check() == []
    assert all(e.purchase_price >= e.sku.cost_price for e in PriceEntry.objects.select_related("sku"))
    assert ApiKey.objects.filter(distributor=top).count() == 1
    assert Invitation.objects.filter(revoked_at__isnull=True).exists()
    assert Invitation.objects.filter(distributor=top, revoked_at__isnull=True).exists()  # the portal's login invites too
    assert PriceViolation.objects.count() == 4  # the ops violations report, recorded once
    assert [row["distributor__name"] for row in selectors.violations_report()][0] == "宁波推广员阿强"
    assert "secret" not in out.getvalue()
