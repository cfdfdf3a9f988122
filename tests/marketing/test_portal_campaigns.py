"""Distributors' own campaigns in the portal: only their own rows (a neighbour's id is 404), within the limits ops
set, funded from their margin and never below their price floor."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.models import Campaign
from tests.marketing.ops_setup import campaign, distributor_with_shop, local_input, sku_priced
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def shops(client):
    """Two neighbouring distributors, each with a storefront listing the same SKU at ¥30.00 (floor ¥25.00); the
    client is signed in as the first."""
    sku = sku_priced(face_value="30.00", cost_price="20.00", floor="25.00")
    user, mine, shop = distributor_with_shop(username="east-owner", slug="east-shop", sku=sku)
    _other_user, theirs, their_shop = distributor_with_shop(username="west-owner", slug="west-shop", sku=sku)
    client.force_login(user)
    return {"client": client, "user": user, "mine": mine, "shop": shop, "theirs": theirs, "their_shop": their_shop, "sku": sku}


def post_new(client, kind: str, data: dict, days: int = 7):
    now = timezone.now()
    body = {
        "kind": kind,
        "name": "店铺满减",
        "starts_at": local_input(now + timedelta(hours=1)),
        "ends_at": local_input(now + timedelta(days=days)),
        "budget_kind": "money",
        "budget_amount": "500.00",
        "per_consumer_limit": "1",
        **data,
    }
    return client.post(reverse("marketing:portal-campaign-new") + f"?kind={kind}", body, HTTP_ACCEPT_LANGUAGE="en")


def errors_of(response) -> dict:
    return {name: [str(e) for e in errs] for name, errs in response.context["form"].errors.items()}


COUPON = {"discount_kind": "fixed", "discount_amount": "10.00", "min_spend": "50.00", "coupon_valid_days": "7"}


def test_a_distributor_sees_and_opens_only_its_own_campaigns(shops):
    client = shops["client"]
    mine = campaign(name="我的券", distributor=shops["mine"], storefront=shops["shop"], funding="distributor")
    theirs = campaign(name="邻居的券", distributor=shops["theirs"], storefront=shops["their_shop"], funding="distributor")
    platform = campaign(name="平台的券")
    body = client.get(reverse("marketing:portal-campaigns")).content.decode()
    assert "我的券" in body and "邻居的券" not in body and "平台的券" not in body
    assert client.get(reverse("marketing:portal-campaign-results", args=[mine.pk])).status_code == 200
    for other in (theirs, platform):
        assert client.get(reverse("marketing:portal-campaign-results", args=[other.pk])).status_code == 404
        assert client.get(reverse("marketing:portal-campaign-xlsx", args=[other.pk])).status_code == 404
        assert client.post(reverse("marketing:portal-campaign-state", args=[other.pk]), {"to": "activate"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Campaign.Status.DRAFT


def test_a_coupon_campaign_within_the_limits_runs_on_the_own_storefront_from_the_own_margin(shops):
    response = post_new(shops["client"], "coupon", COUPON)
    created = Campaign.objects.get()
    assert response.status_code == 302
    assert (created.distributor, created.storefront, created.funding) == (shops["mine"], shops["shop"], Campaign.Funding.DISTRIBUTOR)
    assert created.status == Campaign.Status.DRAFT
    assert AuditLog.objects.filter(action="marketing.campaign.create", actor=shops["user"]).exists()


@pytest.mark.parametrize(
    ("data", "days", "field"),
    [
        ({**COUPON, "discount_kind": "percent", "discount_percent": "0.5000", "discount_amount": ""}, 7, "discount_percent"),
        ({**COUPON, "discount_amount": "20.00"}, 7, "discount_amount"),  # more than 30% of the ¥50.00 minimum spend
        ({**COUPON, "min_spend": ""}, 7, "min_spend"),
        ({**COUPON, "budget_amount": "5000.01"}, 7, "budget_amount"),
        ({**COUPON, "budget_kind": "none", "budget_amount": ""}, 7, "budget_kind"),
        (COUPON, 40, "ends_at"),
    ],
)
def test_a_coupon_campaign_past_a_limit_is_refused_on_its_field(shops, data, days, field):
    response = post_new(shops["client"], "coupon", data, days=days)
    assert response.status_code == 200
    assert field in errors_of(response), errors_of(response)
    assert not Campaign.objects.exists()


def test_the_limits_follow_the_settings(shops, settings):
    settings.MARKETING_DISTRIBUTOR_MAX_BUDGET = "100.00"
    response = post_new(shops["client"], "coupon", COUPON)
    assert "budget_amount" in errors_of(response) and "¥100.00" in errors_of(response)["budget_amount"][0]


def test_a_group_price_below_the_floor_is_refused_even_within_the_discount_limit(shops):
    group = {"sku": shops["sku"].pk, "group_size": "3", "group_hours": "24"}
    # ¥22.00 is within 30% off ¥30.00 (¥21.00 or more) but under the ¥25.00 floor
    response = post_new(shops["client"], "group_buy", {**group, "price": "22.00"})
    assert "price" in errors_of(response) and "floor" in errors_of(response)["price"][0]
    assert not Campaign.objects.exists()
    post_new(shops["client"], "group_buy", {**group, "price": "25.00"})
    assert Campaign.objects.get().price == Decimal("25.00")


def test_a_group_price_past_the_discount_limit_is_refused_even_above_the_floor(client):
    sku = sku_priced(face_value="30.00", cost_price="10.00", floor="15.00")
    user, _mine, _shop = distributor_with_shop(username="low-floor", slug="low-floor", sku=sku)
    client.force_login(user)
    # ¥20.00 keeps the ¥15.00 floor but is more than 30% off the ¥30.00 retail price (¥21.00 or more)
    response = post_new(client, "group_buy", {"sku": sku.pk, "group_size": "3", "group_hours": "24", "price": "20.00"})
    assert "price" in errors_of(response) and "¥21.00" in errors_of(response)["price"][0]
    assert not Campaign.objects.exists()


def test_a_group_buy_of_a_product_not_on_the_own_storefront_is_refused(shops):
    elsewhere = sku_priced()
    data = {"sku": elsewhere.pk, "price": "29.00", "group_size": "3", "group_hours": "24"}
    response = post_new(shops["client"], "group_buy", data)
    assert "sku" in errors_of(response)
    assert not Campaign.objects.exists()


def test_kinds_only_ops_run_are_not_offered(shops):
    response = shops["client"].get(reverse("marketing:portal-campaign-new"), {"kind": "flash_sale"})
    assert response.status_code == 302 and response.url == reverse("marketing:portal-campaigns")


def test_a_distributor_starts_and_pauses_its_campaign_audited(shops):
    rules = {"discount_kind": "fixed", "discount_amount": Decimal("5.00"), "min_spend": Decimal("50.00")}
    mine = campaign(distributor=shops["mine"], storefront=shops["shop"], funding="distributor", **rules)
    url = reverse("marketing:portal-campaign-state", args=[mine.pk])
    shops["client"].post(url, {"to": "activate"})
    shops["client"].post(url, {"to": "pause"})
    mine.refresh_from_db()
    assert mine.status == Campaign.Status.PAUSED
    actions = AuditLog.objects.filter(object_id=str(mine.pk), actor=shops["user"]).values_list("action", flat=True)
    assert set(actions) == {"marketing.campaign.activate", "marketing.campaign.pause"}


def test_the_portal_menu_links_the_campaigns_page(shops):
    body = shops["client"].get(reverse("channels:portal-home")).content.decode()
    assert reverse("marketing:portal-campaigns") in body
