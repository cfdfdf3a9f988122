"""The review queue: approve / reject reach the caller, reasons read in both languages, the ops pages."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from catalog.codetext import CodeInText
from riskcontrol.errors import ReviewAlreadyDecided
from riskcontrol.models import Dimension, RiskEvent, RiskList, RiskRule
from riskcontrol.services import review_decide, risk_evaluate
from riskcontrol.signals import review_decided
from tests import factories
from tests.riskcontrol.conftest import make_list, make_rule, purchase
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls = []

    def receiver(sender, event, decision, reference, note, actor, **kwargs):
        calls.append({"event": event.pk, "decision": decision, "reference": reference, "note": note, "actor": actor})

    review_decided.connect(receiver, dispatch_uid="test-review-receiver")
    yield calls
    review_decided.disconnect(dispatch_uid="test-review-receiver")


@pytest.fixture
def held(clock):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1000"), action=RiskRule.RuleAction.REVIEW, score=20)
    decision = risk_evaluate(ctx=purchase(amount=Decimal("1500"), reference="ORD-900", account_id="acc-1", device="dev-1"))
    assert decision.held_for_review
    return decision


def test_approve_reaches_the_caller(held, received, ops_user):
    event = review_decide(event_id=held.event_id, approve=True, actor=ops_user, note="known customer")
    assert event.review_status == RiskEvent.ReviewStatus.APPROVED
    assert received == [
        {"event": held.event_id, "decision": "approved", "reference": "ORD-900", "note": "known customer", "actor": ops_user}
    ]
    assert AuditLog.objects.filter(action="risk.review.approve", object_id=str(held.event_id)).exists()


def test_reject_reaches_the_caller_and_can_block(held, received, ops_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(event_id=held.event_id, approve=False, actor=ops_user, note="stolen card", block=("device", "account"))
    assert received[0]["decision"] == "rejected"
    assert received[0]["reference"] == "ORD-900"
    event = RiskEvent.objects.get(pk=held.event_id)
    assert event.review_status == RiskEvent.ReviewStatus.REJECTED
    assert event.released_at is not None
    devices = RiskList.objects.get(list_type="block", dimension=Dimension.DEVICE)
    assert list(devices.entries.values_list("value", flat=True)) == ["dev-1"]
    # the lists it made and the values it added are audited like any other list change
    assert AuditLog.objects.filter(action="risk.list.create", object_id=str(devices.pk), actor=ops_user).exists()
    assert AuditLog.objects.filter(action="risk.list.add").count() == 2
    # the blocklist works at once, with a rule on it
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=devices)
    assert risk_evaluate(ctx=purchase(device="dev-1")).blocked


def test_a_receiver_that_fails_rolls_the_decision_back(held, ops_user):
    def refuse(sender, **kwargs):
        raise RuntimeError("order service down")

    review_decided.connect(refuse, dispatch_uid="test-refuse")
    try:
        with pytest.raises(RuntimeError):
            review_decide(event_id=held.event_id, approve=True, actor=ops_user)
    finally:
        review_decided.disconnect(dispatch_uid="test-refuse")
    assert RiskEvent.objects.get(pk=held.event_id).review_status == RiskEvent.ReviewStatus.PENDING


def test_a_decision_is_taken_once(held, ops_user):
    review_decide(event_id=held.event_id, approve=True, actor=ops_user)
    with pytest.raises(ReviewAlreadyDecided):
        review_decide(event_id=held.event_id, approve=False, actor=ops_user, note="changed my mind")


def test_block_reasons_read_in_chinese_and_english():
    risk_list = make_list(dimension=Dimension.IP, values=["203.0.113.0/24"], name="scalper IPs")
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=risk_list)
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=3600, limit=1, priority=200)
    decision = risk_evaluate(ctx=purchase(ip="203.0.113.9"))
    with translation.override("en"):
        assert decision.messages() == ["The IP address is on the blocklist “scalper IPs”."]
    with translation.override("zh-hans"):
        assert decision.messages() == ["该IP 地址在黑名单“scalper IPs”中。"]
    # a limit reason, from the stored event
    risk_evaluate(ctx=purchase(ip="198.51.100.1"))
    second = risk_evaluate(ctx=purchase(ip="198.51.100.1"))
    event = RiskEvent.objects.get(pk=second.event_id)
    with translation.override("en"):
        assert event.reason_messages() == ["The same IP address exceeded 1 items within 1 hour (now 2)."]
    with translation.override("zh-hans"):
        assert event.reason_messages() == ["同一IP 地址在 1 小时 内超过 1 件（当前 2）。"]


def test_review_queue_pages(held, ops_client):
    other = risk_evaluate(ctx=purchase(account_id="acc-1", reference="ORD-1"))
    listing = ops_client.get(reverse("riskcontrol:review-list"))
    assert listing.status_code == 200
    assert "ORD-900" in listing.content.decode()
    detail = ops_client.get(reverse("riskcontrol:review-detail", args=[held.event_id]))
    body = detail.content.decode()
    assert detail.status_code == 200
    assert 'data-testid="related-events"' in body
    assert f">{other.event_id}<" in body  # the other event of the same account is listed
    # reject without a note: the form says why
    response = ops_client.post(reverse("riskcontrol:review-detail", args=[held.event_id]), {"decision": "reject"})
    assert response.status_code == 200
    assert response.context["form"].errors["note"]
    # reject with a note: decided, back to the queue
    response = ops_client.post(reverse("riskcontrol:review-detail", args=[held.event_id]), {"decision": "reject", "note": "fraud"})
    assert response.status_code == 302
    assert RiskEvent.objects.get(pk=held.event_id).review_status == "rejected"


def test_review_queue_is_for_ops_only(held, finance_client, client):
    assert finance_client.get(reverse("riskcontrol:review-list")).status_code == 403
    assert finance_client.post(reverse("riskcontrol:review-detail", args=[held.event_id]), {"decision": "approve"}).status_code == 403
    assert RiskEvent.objects.get(pk=held.event_id).review_status == "pending"
    plain = factories.UserFactory(username="nobody")
    client.force_login(plain)
    assert client.get(reverse("riskcontrol:review-list")).status_code == 403


def test_ops_home_shows_the_review_count(held, ops_client):
    body = ops_client.get(reverse("dashboards:ops-home")).content.decode()
    assert 'data-testid="risk-panel"' in body
    assert reverse("riskcontrol:review-list") in body


def test_ops_home_risk_card_says_what_each_figure_counts(held, ops_client):
    body = ops_client.get(reverse("dashboards:ops-home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-testid="risk-panel-note"' in body
    assert "24 小时被拦截的检查" in body and "激增告警统计的是同一批检查" in body


def test_a_review_note_that_holds_a_code_is_refused(held, received, ops_user):
    code, plaintext = factories.card_code(sku=factories.SkuFactory())
    with pytest.raises(CodeInText) as refused:
        review_decide(event_id=held.event_id, approve=True, actor=ops_user, note=f"buyer sent {plaintext[:-1].lower()}")
    assert refused.value.field == "note"
    assert RiskEvent.objects.get(pk=held.event_id).review_status == RiskEvent.ReviewStatus.PENDING and received == []


def test_the_review_page_puts_a_code_in_the_note_on_the_note_field(held, ops_client):
    _code, plaintext = factories.card_code(sku=factories.SkuFactory())
    url = reverse("riskcontrol:review-detail", args=[held.event_id])
    response = ops_client.post(url, {"decision": "approve", "note": "\u200b".join(plaintext)})
    assert response.status_code == 200 and response.context["form"].errors["note"]
    assert RiskEvent.objects.get(pk=held.event_id).review_status == RiskEvent.ReviewStatus.PENDING
