"""Risk control's "review" on a coupon claim and "challenge" on the consumer's sign-in (issue 16, wave-2 fixes):
a claim under review hands out nothing and gives its counters back; a challenged sign-in sends a code only after
the picture is solved."""

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse
from django.utils import translation

from marketing.errors import UnderReview
from marketing.models import Coupon, PhoneCode
from marketing.services.coupons import coupon_claim
from redemption.notify import ConsoleSmsBackend
from riskcontrol.models import Action, Dimension, RiskEvent, RiskRule
from tests.marketing.factories import ConsumerFactory, coupon_campaign
from tests.marketing.test_consumers import IP, PHONE, send
from tests.riskcontrol.conftest import make_list, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_and_empty_outbox():
    ConsoleSmsBackend.outbox.clear()
    with translation.override("en"):
        yield
    ConsoleSmsBackend.outbox.clear()


def test_a_claim_under_review_hands_out_no_coupon_and_gives_its_counters_back():
    risk_list = make_list(dimension=Dimension.DEVICE, values=["farm-phone"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.COUPON_CLAIM, risk_list=risk_list, score=10,
              action=RiskRule.RuleAction.REVIEW, name="review farm claims")  # fmt: skip
    campaign = coupon_campaign(per_consumer_limit=1)
    who = ConsumerFactory()
    with pytest.raises(UnderReview) as refused:
        coupon_claim(campaign=campaign, consumer=who, device="farm-phone")
    assert refused.value.field == "campaign" and "under review" in str(refused.value.message)
    assert not Coupon.objects.exists()
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 0
    event = RiskEvent.objects.get(action=Action.COUPON_CLAIM)
    assert event.outcome == "review" and event.released_at is not None
    # the same consumer from an ordinary phone gets the coupon
    assert coupon_claim(campaign=campaign, consumer=who, device="phone-a").consumer == who


def test_the_claim_page_says_under_review_with_409(client):
    risk_list = make_list(dimension=Dimension.IP, values=["203.0.113.9"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.COUPON_CLAIM, risk_list=risk_list, score=10,
              action=RiskRule.RuleAction.REVIEW, name="review this address")  # fmt: skip
    campaign = coupon_campaign(per_consumer_limit=1)
    session = client.session
    session["vh_consumer"] = ConsumerFactory().pk
    session.save()
    url = reverse("marketing:coupon-campaign", args=[campaign.pk])
    response = client.post(url, REMOTE_ADDR="203.0.113.9", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 409 and not Coupon.objects.exists()
    assert "Your claim is under review" not in response.content.decode()  # said in Chinese


def challenge_rule():
    risk_list = make_list(dimension=Dimension.IP, values=[IP])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.LOGIN, risk_list=risk_list, score=10,
              action=RiskRule.RuleAction.CHALLENGE, name="challenge this address")  # fmt: skip


def test_a_challenged_sign_in_sends_no_code_until_the_picture_is_solved(client):
    challenge_rule()
    # when the number is sent from a challenged address
    asked = send(client)
    # then the page shows the picture (428) and no code went out
    page = asked.content.decode()
    assert asked.status_code == 428 and 'data-testid="challenge"' in page and 'data-step="phone"' in page
    assert not ConsoleSmsBackend.outbox and not PhoneCode.objects.exists()
    key = CaptchaStore.objects.order_by("-pk").first()
    # a wrong answer: a new picture, still no code
    wrong = send(client, challenge_key=key.hashkey, challenge_answer="not-it")
    assert wrong.status_code == 428 and "do not match" in wrong.content.decode() and not ConsoleSmsBackend.outbox
    # the right answer: the code is sent, the code step shown
    key = CaptchaStore.objects.order_by("-pk").first()
    solved = send(client, challenge_key=key.hashkey, challenge_answer=key.response)
    assert solved.status_code == 200 and 'data-step="code"' in solved.content.decode()
    assert [m.to for m in ConsoleSmsBackend.outbox] == [PHONE]


def test_the_challenge_reads_in_chinese(client):
    challenge_rule()
    response = client.post("/me/login/", {"action": "send", "phone": PHONE}, REMOTE_ADDR=IP, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 428 and "Type the characters" not in response.content.decode()
