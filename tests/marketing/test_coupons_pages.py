"""Consumers' coupon pages: claim page, code claim, share link, referral landing; only one's own coupons
shown; drafts hidden; refusals answered with their status; Chinese with no English left."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.consumer_session import SESSION_KEY
from marketing.models import Campaign, Coupon, ReferralLink
from marketing.services.coupons import coupon_claim, coupons_issue
from marketing.services.referral import referral_link_for
from riskcontrol import engine
from riskcontrol.models import Action, Dimension, RiskRule
from tests.browser.pagecheck import ISO_TIMESTAMP, foreign_dates, money_misformatted
from tests.marketing.factories import CampaignFactory, ConsumerFactory, coupon_campaign, shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def sign_in(client, consumer):
    session = client.session
    session[SESSION_KEY] = consumer.pk
    session.save()
    return consumer


def page_url(campaign):
    return reverse("marketing:coupon-campaign", args=[campaign.pk])


def test_a_visitor_sees_the_offer_and_a_sign_in_link(client):
    campaign = coupon_campaign(name="满50减10", min_spend=Decimal("50.00"), coupons_total=100)
    page = client.get(page_url(campaign))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="claim-sign-in"' in body and "/me/login/?next=" in body
    assert "¥10.00" in body and "¥50.00" in body
    assert client.post(page_url(campaign)).status_code == 302
    assert not Coupon.objects.exists()


def test_a_consumer_claims_once_and_sees_only_their_own_coupons(client):
    campaign = coupon_campaign(per_consumer_limit=1)
    neighbours = coupon_claim(campaign=campaign, consumer=ConsumerFactory())
    consumer = sign_in(client, ConsumerFactory())
    done = client.post(page_url(campaign))
    assert done.status_code == 302
    mine = Coupon.objects.get(consumer=consumer)
    page = client.get(page_url(campaign)).content.decode()
    assert mine.code in page and neighbours.code not in page
    assert 'data-testid="claim-limit"' in page
    again = client.post(page_url(campaign))
    assert again.status_code == 409
    assert Coupon.objects.filter(consumer=consumer).count() == 1


def test_a_draft_or_another_kind_of_campaign_is_not_found(client):
    assert client.get(page_url(coupon_campaign(status=Campaign.Status.DRAFT))).status_code == 404
    assert client.get(page_url(CampaignFactory(kind=Campaign.Kind.NEW_USER))).status_code == 404


def test_a_paused_campaign_shows_no_claim_button(client):
    sign_in(client, ConsumerFactory())
    page = client.get(page_url(coupon_campaign(status=Campaign.Status.PAUSED))).content.decode()
    assert 'data-testid="campaign-not-live"' in page and 'data-testid="claim-button"' not in page


def test_a_claim_refused_by_risk_control_answers_403(client):
    rule = RiskRule(
        name="封设备", kind=RiskRule.Kind.VELOCITY, applies_to=Action.COUPON_CLAIM, dimension=Dimension.ACCOUNT,
        window_seconds=3600, limit=0 or 1, measure=RiskRule.Measure.ORDERS, action=RiskRule.RuleAction.BLOCK,
    )  # fmt: skip
    rule.full_clean()
    rule.save()
    engine.rules_changed()
    campaign = coupon_campaign(per_consumer_limit=5)
    sign_in(client, ConsumerFactory())
    assert client.post(page_url(campaign)).status_code == 302
    refused = client.post(page_url(campaign))
    assert refused.status_code == 403
    assert Coupon.objects.count() == 1


def test_claiming_a_code(client):
    coupon = coupons_issue(campaign=coupon_campaign(), count=1)[0]
    url = reverse("marketing:coupon-code-claim")
    assert client.get(url).status_code == 302  # sign in first
    consumer = sign_in(client, ConsumerFactory())
    assert client.get(url).status_code == 200
    wrong = client.post(url, {"code": "NOPE-NOPE"})
    assert wrong.status_code == 400 and "is-invalid" in wrong.content.decode()
    assert client.post(url, {"code": coupon.code.lower()}).status_code == 302
    coupon.refresh_from_db()
    assert coupon.consumer == consumer
    # the neighbour cannot take it any more
    sign_in(client, ConsumerFactory())
    assert client.post(url, {"code": coupon.code}).status_code == 400


def referral_setup():
    _distributor, storefront, _sku = shop()
    reward = coupon_campaign(kind=Campaign.Kind.TARGETED, discount_amount=Decimal("5.00"))
    return CampaignFactory(kind=Campaign.Kind.REFERRAL, reward_campaign=reward, storefront=storefront), storefront


def test_a_consumer_gets_a_share_link_and_a_friend_lands_on_it(client):
    campaign, storefront = referral_setup()
    owner = sign_in(client, ConsumerFactory())
    assert 'data-testid="share-make"' in client.get(page_url(campaign)).content.decode()
    assert client.post(page_url(campaign)).status_code == 302
    link = ReferralLink.objects.get(consumer=owner)
    page = client.get(page_url(campaign)).content.decode()
    assert f"/r/{link.token}/" in page
    # a friend follows it: the token is kept for checkout, the shop is one tap away
    client.logout()
    landing = client.get(reverse("marketing:referral-landing", args=[link.token]))
    body = landing.content.decode()
    assert landing.status_code == 200 and owner.phone not in body and owner.phone_masked in body
    assert client.session["vh_referral"] == link.token
    assert f"/s/{storefront.slug}/" in body


def test_an_unknown_or_ended_share_link(client):
    campaign, _storefront = referral_setup()
    link = referral_link_for(campaign=campaign, consumer=ConsumerFactory())
    assert client.get(reverse("marketing:referral-landing", args=["nope"])).status_code == 404
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=now - timedelta(minutes=1), starts_at=now - timedelta(days=1))
    ended = client.get(reverse("marketing:referral-landing", args=[link.token]))
    assert ended.status_code == 410 and "vh_referral" not in client.session


@pytest.mark.parametrize("which", ["claim", "code", "share", "landing"])
def test_pages_read_in_chinese_with_no_english_left(client, which):
    campaign = coupon_campaign(name="新客券", description="全场通用", coupons_total=10)
    referral, _storefront = referral_setup()
    consumer = sign_in(client, ConsumerFactory())
    coupon_claim(campaign=campaign, consumer=consumer)
    link = referral_link_for(campaign=referral, consumer=consumer)
    url = {
        "claim": page_url(campaign),
        "code": reverse("marketing:coupon-code-claim"),
        "share": page_url(referral),
        "landing": reverse("marketing:referral-landing", args=[link.token]),
    }[which]
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    main = re.search(r"<main.*?</main>", body, re.S).group(0)
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style|code)\b.*?</\1>", " ", main, flags=re.S))
    words = [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in {"VoucherHub"}]
    assert not words, words
    assert not ISO_TIMESTAMP.search(text) and not foreign_dates(text, "zh-hans")
    assert not money_misformatted(text)


def test_the_owner_opening_their_own_share_link_is_told_it_earns_them_nothing(client):
    campaign, _storefront = referral_setup()
    owner = sign_in(client, ConsumerFactory())
    link = referral_link_for(campaign=campaign, consumer=owner)
    own = client.get(reverse("marketing:referral-landing", args=[link.token])).content.decode()
    assert 'data-testid="landing-own"' in own
    sign_in(client, ConsumerFactory())
    theirs = client.get(reverse("marketing:referral-landing", args=[link.token])).content.decode()
    assert 'data-testid="landing-own"' not in theirs
