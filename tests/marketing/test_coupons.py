"""Coupons: claiming (limit, sign-in, risk), claiming a code, unique readable codes, expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketing.errors import CampaignNotLive, CouponInvalid, LimitReached, SignInRequired, SoldOut
from marketing.models import Campaign, Coupon
from marketing.services.coupons import CODE_ALPHABET, coupon_claim, coupon_claim_code, coupons_expire, coupons_issue
from riskcontrol import engine
from riskcontrol.errors import RiskBlocked
from riskcontrol.models import Action, Dimension, RiskEvent, RiskRule
from tests.marketing.factories import ConsumerFactory, coupon_campaign

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_claim_needs_a_consumer_and_a_live_coupon_campaign():
    campaign = coupon_campaign()
    with pytest.raises(SignInRequired):
        coupon_claim(campaign=campaign, consumer=None)
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    with pytest.raises(CampaignNotLive):
        coupon_claim(campaign=campaign, consumer=ConsumerFactory())


def test_the_per_consumer_limit_counts_every_coupon_ever_claimed():
    campaign = coupon_campaign(per_consumer_limit=2)
    consumer, neighbour = ConsumerFactory(), ConsumerFactory()
    first = coupon_claim(campaign=campaign, consumer=consumer)
    Coupon.objects.filter(pk=first.pk).update(status=Coupon.Status.USED, order_ref="X1")
    coupon_claim(campaign=campaign, consumer=consumer)
    with pytest.raises(LimitReached) as refused:
        coupon_claim(campaign=campaign, consumer=consumer)
    assert refused.value.field == "campaign"
    assert coupon_claim(campaign=campaign, consumer=neighbour).consumer == neighbour


def test_coupons_run_out_at_the_campaigns_total():
    campaign = coupon_campaign(coupons_total=1)
    coupon_claim(campaign=campaign, consumer=ConsumerFactory())
    with pytest.raises(SoldOut):
        coupon_claim(campaign=campaign, consumer=ConsumerFactory())


def test_codes_are_unique_and_readable():
    coupons = coupons_issue(campaign=coupon_campaign(), count=2500)
    codes = {coupon.code for coupon in coupons}
    assert len(codes) == 2500
    assert all(set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert {coupon.status for coupon in coupons} == {Coupon.Status.ISSUED}


def test_a_coupon_valid_days_run_from_its_issue():
    coupon = coupons_issue(campaign=coupon_campaign(coupon_valid_days=3), count=1)[0]
    assert timedelta(days=3) - timedelta(minutes=1) < coupon.valid_until - timezone.now() <= timedelta(days=3)


def test_claiming_an_issued_code():
    campaign = coupon_campaign(per_consumer_limit=1)
    one, two = coupons_issue(campaign=campaign, count=2)
    consumer, other = ConsumerFactory(), ConsumerFactory()
    typed = f" {one.code[:5].lower()}-{one.code[5:]} "
    claimed = coupon_claim_code(code=typed, consumer=consumer)
    assert (claimed.pk, claimed.status, claimed.consumer) == (one.pk, Coupon.Status.CLAIMED, consumer)
    assert coupon_claim_code(code=one.code, consumer=consumer).pk == one.pk  # a replay answers the same
    with pytest.raises(CouponInvalid) as refused:
        coupon_claim_code(code=one.code, consumer=other)
    assert refused.value.field == "code"
    with pytest.raises(LimitReached):
        coupon_claim_code(code=two.code, consumer=consumer)
    with pytest.raises(CouponInvalid):
        coupon_claim_code(code="NOSUCHCODE", consumer=consumer)


def test_the_expiry_job():
    campaign = coupon_campaign()
    old, fresh = coupons_issue(campaign=campaign, count=2)
    Coupon.objects.filter(pk=old.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    assert coupons_expire() == 1
    assert coupons_expire() == 0
    assert dict(Coupon.objects.values_list("pk", "status")) == {old.pk: "expired", fresh.pk: "issued"}
    with pytest.raises(CouponInvalid):
        coupon_claim_code(code=old.code, consumer=ConsumerFactory())


def test_risk_control_sees_claims_and_ops_can_limit_them_per_device():
    rule = RiskRule(
        name="一台设备每小时领一次", kind=RiskRule.Kind.VELOCITY, applies_to=Action.COUPON_CLAIM, dimension=Dimension.DEVICE,
        window_seconds=3600, limit=1, measure=RiskRule.Measure.ORDERS, action=RiskRule.RuleAction.BLOCK,
    )  # fmt: skip
    rule.full_clean()
    rule.save()
    engine.rules_changed()
    campaign = coupon_campaign(per_consumer_limit=1)
    coupon_claim(campaign=campaign, consumer=ConsumerFactory(), device="farm-phone")
    with pytest.raises(RiskBlocked):
        coupon_claim(campaign=campaign, consumer=ConsumerFactory(), device="farm-phone")
    assert Coupon.objects.count() == 1
    # a claim refused for another reason gives its risk counter back
    second = coupon_campaign(per_consumer_limit=1)
    twin = ConsumerFactory()
    coupon_claim(campaign=second, consumer=twin, device="phone-a")
    with pytest.raises(LimitReached):
        coupon_claim(campaign=second, consumer=twin, device="phone-b")
    coupon_claim(campaign=second, consumer=ConsumerFactory(), device="phone-b")
    assert RiskEvent.objects.filter(action=Action.COUPON_CLAIM).exists()
