"""The admin's referral list says in words why a referral was refused (ops read it; the stored reason is a code)."""

import pytest
from django.urls import reverse
from django.utils import translation

from marketing.models import Campaign, Referral
from marketing.services.referral import REASONS, referral_link_for
from tests.marketing.factories import CampaignFactory, ConsumerFactory, coupon_campaign

pytestmark = pytest.mark.django_db


def test_a_refused_referral_shows_its_reason_in_words_not_its_code(admin_client):
    # given a self-referral refused with the reason code "self"
    reward = coupon_campaign(kind=Campaign.Kind.TARGETED)
    campaign = CampaignFactory(kind=Campaign.Kind.REFERRAL, reward_campaign=reward, refund_window_days=7)
    owner = ConsumerFactory()
    link = referral_link_for(campaign=campaign, consumer=owner)
    referral = Referral.objects.create(link=link, friend=owner, order_ref="VH-SELF", status=Referral.Status.REFUSED, reason="self")
    # when ops open the list and the referral, in Chinese
    admin_client.cookies["django_language"] = "zh-hans"
    listing = admin_client.get(reverse("admin:marketing_referral_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    detail = admin_client.get(reverse("admin:marketing_referral_change", args=[referral.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    # then both say why in words
    with translation.override("zh-hans"):
        reason = str(REASONS["self"])
    assert reason in listing and ">self<" not in listing
    assert detail.status_code == 200 and reason in detail.content.decode()
