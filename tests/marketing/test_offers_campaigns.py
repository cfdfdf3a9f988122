"""Campaign lifecycle: settings checked per kind (every bad field named), floors, status moves audited,
the end job, bundles' components."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketing.errors import CampaignError, CampaignInvalid
from marketing.models import Campaign
from marketing.services.bundles import bundle_items_set
from marketing.services.campaigns import (
    campaign_activate,
    campaign_budget_give_back,
    campaign_budget_take,
    campaign_end,
    campaign_pause,
    campaign_save,
    campaigns_end_due,
)
from tests import factories
from tests.marketing.factories import CampaignFactory, shop
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

D = Decimal


def draft(**kwargs) -> Campaign:
    now = timezone.now()
    values = {"name": "新人价", "kind": Campaign.Kind.NEW_USER, "starts_at": now, "ends_at": now + timedelta(days=3)}
    values.update(kwargs)
    return Campaign(**values)


def test_each_kind_names_the_fields_it_needs(ops_user):
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(), actor=ops_user)
    assert set(refused.value.errors) == {"sku", "price"}
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(kind=Campaign.Kind.GROUP_BUY, group_size=1), actor=ops_user)
    assert {"sku", "price", "group_size", "group_hours"} <= set(refused.value.errors)
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(kind=Campaign.Kind.COUPON, discount_kind="percent", discount_percent=D("1.5")), actor=ops_user)
    assert set(refused.value.errors) == {"discount_percent"}
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(kind=Campaign.Kind.REFERRAL), actor=ops_user)
    assert set(refused.value.errors) == {"reward_campaign"}
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(name="", ends_at=timezone.now() - timedelta(days=1), price=D("-1")), actor=ops_user)
    assert {"name", "ends_at", "price"} <= set(refused.value.errors)
    assert refused.value.as_fields()["name"]
    assert not Campaign.objects.exists()


def test_a_saved_campaign_is_a_draft_and_audited(ops_user):
    sku = factories.SkuFactory()
    campaign = campaign_save(campaign=draft(sku=sku, price=D("9.90"), status=Campaign.Status.ACTIVE), actor=ops_user, ip="10.0.0.9")
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.created_by == ops_user
    entry = AuditLog.objects.get(action="marketing.campaign.create")
    assert (entry.object_id, entry.ip) == (str(campaign.pk), "10.0.0.9")


def test_a_change_never_writes_the_counters_or_the_status(ops_user):
    sku = factories.SkuFactory()
    campaign = campaign_save(campaign=draft(sku=sku, price=D("9.90"), budget_kind="money", budget_amount=D("100.00")), actor=ops_user)
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_budget_take(campaign=campaign, amount=D("30.00"), count=1)
    stale.name = "新名字"
    stale.status = Campaign.Status.ACTIVE
    campaign_save(campaign=stale, actor=ops_user)
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status, campaign.spent_amount) == ("新名字", Campaign.Status.DRAFT, D("30.00"))
    assert AuditLog.objects.get(action="marketing.campaign.change").data["fields"] == ["name"]


def test_a_distributor_funded_price_never_below_the_floor(ops_user):
    distributor, storefront, sku = shop(price_floor=D("25.00"))
    values = {"kind": Campaign.Kind.GROUP_BUY, "sku": sku, "group_size": 3, "group_hours": 24}
    values.update(distributor=distributor, funding=Campaign.Funding.DISTRIBUTOR)
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(price=D("24.99"), **values), actor=ops_user)
    assert set(refused.value.errors) == {"price"}
    campaign = campaign_save(campaign=draft(price=D("25.00"), **values), actor=ops_user)
    assert campaign.storefront == storefront  # a distributor's campaign runs on its own shop


def test_a_distributor_runs_coupon_and_group_campaigns_only_funded_by_itself(ops_user):
    distributor, _storefront, sku = shop()
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=draft(sku=sku, price=D("26.00"), distributor=distributor), actor=ops_user)
    assert {"kind", "funding"} <= set(refused.value.errors)
    _other, neighbour_shop, _sku = shop()
    coupon = draft(
        kind=Campaign.Kind.COUPON, discount_kind="fixed", discount_amount=D("5.00"), distributor=distributor,
        funding=Campaign.Funding.DISTRIBUTOR, storefront=neighbour_shop,
    )  # fmt: skip
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(campaign=coupon, actor=ops_user)
    assert set(refused.value.errors) == {"storefront"}


def test_status_moves_follow_the_transitions_and_are_audited(ops_user):
    sku = factories.SkuFactory()
    campaign = campaign_save(campaign=draft(sku=sku, price=D("9.90")), actor=ops_user)
    with pytest.raises(CampaignError):
        campaign_pause(campaign=campaign, actor=ops_user)
    campaign_activate(campaign=campaign, actor=ops_user)
    campaign_pause(campaign=campaign, actor=ops_user, reason="库存核对")
    campaign_activate(campaign=campaign, actor=ops_user)
    campaign_end(campaign=campaign, actor=ops_user)
    with pytest.raises(CampaignError) as refused:
        campaign_activate(campaign=campaign, actor=ops_user)
    assert refused.value.field == "status"
    with pytest.raises(CampaignError):
        campaign_save(campaign=campaign, actor=ops_user)
    actions = list(AuditLog.objects.filter(action__startswith="marketing.campaign.").order_by("pk").values_list("action", flat=True))
    assert actions == [
        "marketing.campaign.create",
        "marketing.campaign.activate",
        "marketing.campaign.pause",
        "marketing.campaign.activate",
        "marketing.campaign.end",
    ]


def test_a_campaign_past_its_end_cannot_be_activated(ops_user):
    campaign = CampaignFactory(
        kind=Campaign.Kind.NEW_USER, sku=factories.SkuFactory(), price=D("1.00"), status=Campaign.Status.DRAFT,
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    with pytest.raises(CampaignInvalid) as refused:
        campaign_activate(campaign=campaign, actor=ops_user)
    assert "ends_at" in refused.value.errors


def test_the_end_job_ends_campaigns_past_their_end_once():
    past = CampaignFactory(starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(minutes=1))
    paused = CampaignFactory(
        status=Campaign.Status.PAUSED, starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(minutes=1)
    )
    running = CampaignFactory()
    assert campaigns_end_due() == 2
    assert campaigns_end_due() == 0
    statuses = dict(Campaign.objects.values_list("pk", "status"))
    assert statuses == {past.pk: "ended", paused.pk: "ended", running.pk: "active"}


def test_a_count_budget_and_its_give_back():
    campaign = CampaignFactory(budget_kind=Campaign.BudgetKind.COUNT, budget_count=2)
    campaign_budget_take(campaign=campaign, amount=D("1.00"), count=2)
    with pytest.raises(Exception) as refused:
        campaign_budget_take(campaign=campaign, amount=D("0.00"), count=1)
    assert refused.value.code == "budget_exhausted"
    campaign_budget_give_back(campaign=campaign, amount=D("5.00"), count=5)
    campaign.refresh_from_db()
    assert (campaign.spent_amount, campaign.spent_count) == (D("0.00"), 0)


def test_a_bundles_shares_add_up_to_its_price_before_it_goes_live(ops_user):
    one, two = factories.SkuFactory(), factories.SkuFactory()
    bundle = campaign_save(campaign=draft(kind=Campaign.Kind.BUNDLE, price=D("50.00")), actor=ops_user)
    with pytest.raises(CampaignInvalid) as refused:
        campaign_activate(campaign=bundle, actor=ops_user)
    assert "bundle_items" in refused.value.errors
    with pytest.raises(CampaignInvalid):
        bundle_items_set(campaign=bundle, items=[(one, 1, D("30.00")), (two, 1, D("10.00"))], actor=ops_user)
    assert not bundle.bundle_items.exists()
    bundle_items_set(campaign=bundle, items=[(one, 1, D("30.00")), (two, 2, D("10.00"))], actor=ops_user)
    campaign_activate(campaign=bundle, actor=ops_user)
    with pytest.raises(CampaignError):
        bundle_items_set(campaign=bundle, items=[(one, 1, D("50.00"))], actor=ops_user)
