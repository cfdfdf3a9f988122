"""`make run`'s marketing data: a campaign of every kind with results that read like a real one, loaded once."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from marketing.models import Campaign, CampaignUse, FlashSlot, GroupBuy
from marketing.selectors_results import campaign_results

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_every_campaign_kind_real_looking_results_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    assert set(Campaign.objects.values_list("kind", flat=True)) == set(Campaign.Kind.values)
    flash = Campaign.objects.get(kind=Campaign.Kind.FLASH_SALE)
    running, later = FlashSlot.objects.filter(campaign=flash).order_by("starts_at")
    assert running.starts_at <= timezone.now() < running.ends_at and later.starts_at > running.ends_at
    assert set(GroupBuy.objects.values_list("status", flat=True)) == {GroupBuy.Status.OPEN, GroupBuy.Status.COMPLETE}
    results = campaign_results(campaign=Campaign.objects.filter(kind=Campaign.Kind.COUPON, distributor=None).order_by("pk").first())
    assert results.issued > results.claimed > results.used > 0
    assert results.cost > 0 and results.revenue > 0 and results.codes_sold > results.codes_redeemed > 0
    assert Campaign.objects.filter(funding=Campaign.Funding.DISTRIBUTOR, distributor__isnull=False).count() == 1
    uses = CampaignUse.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert CampaignUse.objects.count() == uses
