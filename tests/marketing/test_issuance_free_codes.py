"""Targeted issuance of free codes through settlement: a zero-price order per recipient, its list price booked
to marketing expense (balanced), idempotent per recipient, the budget stop exact and given back on a refusal."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from catalog.models import CardCode
from marketing.models import Campaign, CampaignUse, Issuance, IssuanceRecipient
from marketing.selectors_issuance import issuance_results
from marketing.services import issuance as service
from redemption.models import HolderLink
from settlement.models import Account, Order
from settlement.selectors.ledger import ledger_check
from settlement.services.giveaways import giveaway_place
from settlement.services.ledger import platform_account
from tests.settlement.conftest import tree, tree_make  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

PHONES = ["13800138000", "13900139000", "15000150000"]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def free_campaign(tree, **fields) -> Campaign:  # noqa: F811
    now = timezone.now()
    values = {
        "name": "老客赠卡",
        "kind": Campaign.Kind.TARGETED,
        "status": Campaign.Status.ACTIVE,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=3),
        "sku": tree.sku,
        "storefront": tree.storefront,
    }
    values.update(fields)
    return Campaign.objects.create(**values)


def issued(ops_user, campaign, phones=PHONES) -> Issuance:
    file = SimpleUploadedFile("p.csv", ("phone\n" + "\n".join(phones)).encode())
    issuance = service.issuance_prepare(
        campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.FREE_CODE, file=file, actor=ops_user
    )
    service.issuance_confirm(issuance=issuance, actor=ops_user)
    return service.issuance_run(issuance_id=issuance.pk)


def test_each_recipient_gets_a_zero_price_order_booked_to_marketing_expense(tree, ops_user, django_capture_on_commit_callbacks):  # noqa: F811
    campaign = free_campaign(tree)
    with django_capture_on_commit_callbacks(execute=True):
        issuance = issued(ops_user, campaign)
    assert (issuance.status, issuance.done, issuance.failed) == (Issuance.Status.DONE, 3, 0)
    refs = list(issuance.recipients.values_list("order_ref", flat=True))
    assert all(refs)
    orders = Order.objects.filter(number__in=refs)
    assert sorted(orders.values_list("contact", flat=True)) == sorted(PHONES)
    for order in orders:
        assert order.status == Order.Status.DELIVERED
        assert (order.total, order.list_total, order.discount_platform) == (Decimal("0.00"), Decimal("29.90"), Decimal("29.90"))
        assert order.promotion_id == campaign.pk
    assert CardCode.objects.filter(order_ref__in=refs, status=CardCode.Status.SOLD).count() == 3
    expense = platform_account(Account.Kind.MARKETING_EXPENSE, currency="CNY")
    assert expense.balance == Decimal("-89.70")
    assert ledger_check().ok
    uses = CampaignUse.objects.filter(campaign=campaign)
    assert uses.count() == 3 and {u.discount for u in uses} == {Decimal("29.90")}
    # claimed = the private link opened
    HolderLink.objects.filter(order_ref=refs[0]).update(last_opened_at=timezone.now())
    assert issuance_results(issuance).claimed == 1


def test_a_money_budget_stops_free_codes_exactly(tree, ops_user, django_capture_on_commit_callbacks):  # noqa: F811
    campaign = free_campaign(tree, budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("60.00"))  # two codes of 29.90
    with django_capture_on_commit_callbacks(execute=True):
        issuance = issued(ops_user, campaign)
    assert (issuance.done, issuance.failed) == (2, 1)
    assert issuance.recipients.get(status=IssuanceRecipient.Status.FAILED).error == service.BUDGET_USED_UP
    campaign.refresh_from_db()
    assert campaign.spent_amount == Decimal("59.80")


def test_a_refused_giveaway_fails_the_recipient_and_gives_the_budget_back(tree, ops_user, django_capture_on_commit_callbacks):  # noqa: F811
    campaign = free_campaign(tree, budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("100.00"))
    CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).exclude(
        pk__in=CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).order_by("pk").values("pk")[:2]
    ).update(status=CardCode.Status.VOID)  # two codes left for three recipients
    with django_capture_on_commit_callbacks(execute=True):
        issuance = issued(ops_user, campaign)
    issuance.refresh_from_db()
    assert (issuance.done, issuance.failed) == (2, 1)
    assert issuance.recipients.get(status=IssuanceRecipient.Status.FAILED).error
    campaign.refresh_from_db()
    assert campaign.spent_amount == Decimal("59.80")
    assert ledger_check().ok


def test_asking_twice_for_one_recipient_places_one_order(tree, ops_user):  # noqa: F811
    campaign = free_campaign(tree)
    first = giveaway_place(campaign_id=campaign.pk, issuance_recipient_id=999, sku_id=tree.sku.pk, quantity=1, phone=PHONES[0])
    again = giveaway_place(campaign_id=campaign.pk, issuance_recipient_id=999, sku_id=tree.sku.pk, quantity=1, phone=PHONES[0])
    assert first.pk == again.pk
    assert Order.objects.filter(promotion=campaign).count() == 1
    assert ledger_check().ok


def test_free_codes_need_the_campaigns_storefront_listing_the_sku(tree, ops_user):  # noqa: F811
    from marketing.errors import CampaignError

    campaign = free_campaign(tree, storefront=None)
    with pytest.raises(CampaignError) as caught:
        issued(ops_user, campaign)
    assert caught.value.field == "campaign"
