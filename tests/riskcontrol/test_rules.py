"""Each rule kind: under the limit allowed, over it the configured action, and the window (or expiry) frees it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from riskcontrol.errors import ChallengeRequired, RiskBlocked
from riskcontrol.models import Dimension, Outcome, RiskEvent, RiskList, RiskRule
from riskcontrol.services import RiskContext, risk_evaluate, risk_release
from tests import factories
from tests.riskcontrol.conftest import make_list, make_rule, purchase, settings_set

pytestmark = pytest.mark.django_db

HOUR = 3600


def outcomes(n, **ctx):
    return [risk_evaluate(ctx=purchase(**ctx)).outcome for _ in range(n)]


@pytest.mark.parametrize(
    ("dimension", "ctx_a", "ctx_b"),
    [
        (Dimension.IP, {"ip": "198.51.100.7"}, {"ip": "198.51.100.8"}),
        (Dimension.DEVICE, {"device": "fp-aaa"}, {"device": "fp-bbb"}),
        (Dimension.ACCOUNT, {"account_id": 41}, {"account_id": 42}),
        (Dimension.PHONE, {"phone": "+86 138-0013-8000"}, {"phone": "13900139000"}),
        (Dimension.EMAIL, {"email": "A@Example.com"}, {"email": "b@example.com"}),
    ],
)
def test_purchase_limit_per_value(clock, dimension, ctx_a, ctx_b):
    # given: at most 3 items per <dimension> per hour, over it: block
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=dimension, window_seconds=HOUR, limit=3, measure=RiskRule.Measure.UNITS)
    # when the same value buys 3 times, then a 4th time
    assert outcomes(3, **ctx_a) == [Outcome.ALLOW] * 3
    fourth = risk_evaluate(ctx=purchase(**ctx_a))
    # then the 4th is blocked with a readable reason, another value is not affected
    assert fourth.outcome == Outcome.BLOCK
    assert fourth.reasons[0].code == "limit"
    assert risk_evaluate(ctx=purchase(**ctx_b)).outcome == Outcome.ALLOW
    # and once the window has passed the value may buy again
    clock.advance(2 * HOUR)
    assert risk_evaluate(ctx=purchase(**ctx_a)).outcome == Outcome.ALLOW


def test_normalized_values_share_a_counter(clock):
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.PHONE, window_seconds=HOUR, limit=1)
    assert risk_evaluate(ctx=purchase(phone="+86 138 0013 8000")).allowed
    assert risk_evaluate(ctx=purchase(phone="13800138000")).blocked


def test_purchase_limit_counts_items_and_is_per_sku(clock):
    sku, other = factories.SkuFactory(), factories.SkuFactory()
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.ACCOUNT, sku=sku, window_seconds=HOUR, limit=5)
    assert risk_evaluate(ctx=purchase(account_id=7, sku_id=sku.pk, quantity=4)).allowed
    # 4 + 2 > 5 items of this SKU
    assert risk_evaluate(ctx=purchase(account_id=7, sku_id=sku.pk, quantity=2)).blocked
    assert risk_evaluate(ctx=purchase(account_id=7, sku_id=sku.pk, quantity=1)).allowed
    # another SKU is not limited by this rule
    assert risk_evaluate(ctx=purchase(account_id=7, sku_id=other.pk, quantity=50)).allowed


def test_any_sku_limit_counts_all_skus(clock):
    a, b = factories.SkuFactory(), factories.SkuFactory()
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=HOUR, limit=2)
    assert risk_evaluate(ctx=purchase(sku_id=a.pk)).allowed
    assert risk_evaluate(ctx=purchase(sku_id=b.pk)).allowed
    assert risk_evaluate(ctx=purchase(sku_id=a.pk)).blocked


def test_only_allowed_purchases_count(clock):
    # given a limit of 2 and a blocklist hit in between
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.ACCOUNT, window_seconds=HOUR, limit=2, priority=1)
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1000"), action=RiskRule.RuleAction.BLOCK, priority=2)
    assert risk_evaluate(ctx=purchase(account_id=1)).allowed
    # a purchase blocked for its amount does not use the allowance
    assert risk_evaluate(ctx=purchase(account_id=1, amount=Decimal("5000"))).blocked
    assert risk_evaluate(ctx=purchase(account_id=1)).allowed
    assert risk_evaluate(ctx=purchase(account_id=1)).blocked


def test_risk_release_gives_the_allowance_back(clock):
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=HOUR, limit=1)
    first = risk_evaluate(ctx=purchase())
    assert first.allowed
    assert risk_evaluate(ctx=purchase()).blocked
    # the first purchase failed later (out of stock): give it back, once
    assert risk_release(decision=first) is True
    assert risk_release(decision=first) is False
    assert RiskEvent.objects.get(pk=first.event_id).released_at is not None
    assert risk_evaluate(ctx=purchase()).allowed
    assert risk_evaluate(ctx=purchase()).blocked


def test_sliding_window_smooths_the_bucket_edge(clock):
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=HOUR, limit=4)
    clock.advance(HOUR - 60)  # the last minute of a bucket
    assert outcomes(4) == [Outcome.ALLOW] * 4
    clock.advance(120)  # one minute into the next bucket: the previous one still weighs ~98 %
    assert risk_evaluate(ctx=purchase()).blocked
    clock.advance(HOUR // 2)  # half way: half of the 4 still counts, so 2 more fit
    assert outcomes(3) == [Outcome.ALLOW, Outcome.ALLOW, Outcome.BLOCK]


@pytest.mark.parametrize(("dimension", "field"), [(Dimension.DISTRIBUTOR, "distributor_id"), (Dimension.STOREFRONT, "storefront_id")])
def test_velocity_per_distributor_or_storefront(clock, dimension, field):
    make_rule(
        kind=RiskRule.Kind.VELOCITY,
        dimension=dimension,
        window_seconds=60,
        limit=3,
        measure=RiskRule.Measure.ORDERS,
        action=RiskRule.RuleAction.REVIEW,
    )
    # orders count, not items
    assert outcomes(3, quantity=10, **{field: 9}) == [Outcome.ALLOW] * 3
    held = risk_evaluate(ctx=purchase(quantity=1, **{field: 9}))
    assert held.outcome == Outcome.REVIEW
    assert RiskEvent.objects.get(pk=held.event_id).review_status == RiskEvent.ReviewStatus.PENDING
    assert risk_evaluate(ctx=purchase(**{field: 10})).allowed
    clock.advance(120)
    assert risk_evaluate(ctx=purchase(**{field: 9})).allowed


def test_velocity_by_amount(clock):
    make_rule(
        kind=RiskRule.Kind.VELOCITY,
        dimension=Dimension.DISTRIBUTOR,
        window_seconds=HOUR,
        measure=RiskRule.Measure.AMOUNT,
        amount_threshold=Decimal("1000.00"),
        action=RiskRule.RuleAction.CHALLENGE,
    )
    assert risk_evaluate(ctx=purchase(distributor_id=3, amount=Decimal("600.00"))).allowed
    decision = risk_evaluate(ctx=purchase(distributor_id=3, amount=Decimal("400.01")))
    assert decision.needs_challenge
    with translation.override("en"):
        assert "¥1000.00" in decision.messages()[0]
    assert risk_evaluate(ctx=purchase(distributor_id=3, amount=Decimal("400.00"))).allowed
    clock.advance(2 * HOUR)
    assert risk_evaluate(ctx=purchase(distributor_id=3, amount=Decimal("999.00"))).allowed


def test_velocity_applies_to_other_actions(clock):
    make_rule(kind=RiskRule.Kind.VELOCITY, dimension=Dimension.IP, applies_to="redeem", window_seconds=60, limit=2, measure="orders")
    ctx = RiskContext(action="redeem", ip="203.0.113.9")
    assert [risk_evaluate(ctx=ctx).outcome for _ in range(3)] == [Outcome.ALLOW, Outcome.ALLOW, Outcome.BLOCK]
    # purchases are not counted by a redeem rule
    assert risk_evaluate(ctx=purchase(ip="203.0.113.9")).allowed


def test_amount_threshold():
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("2000.00"), action=RiskRule.RuleAction.REVIEW, score=30)
    assert risk_evaluate(ctx=purchase(amount=Decimal("1999.99"))).allowed
    held = risk_evaluate(ctx=purchase(amount=Decimal("2000.00")))
    assert held.outcome == Outcome.REVIEW
    assert held.score == 30
    assert held.reasons[0].code == "amount"


def test_new_account_restriction_and_its_expiry():
    make_rule(kind=RiskRule.Kind.NEW_ACCOUNT, account_age_hours=24, amount_threshold=Decimal("200"), action=RiskRule.RuleAction.CHALLENGE)
    young = timezone.now() - timedelta(hours=2)
    old = timezone.now() - timedelta(hours=25)
    assert risk_evaluate(ctx=purchase(account_created_at=young, amount=Decimal("199"))).allowed
    assert risk_evaluate(ctx=purchase(account_created_at=young, amount=Decimal("300"))).needs_challenge
    # once the account is older than the restriction, the same purchase passes
    assert risk_evaluate(ctx=purchase(account_created_at=old, amount=Decimal("300"))).allowed
    # unknown age: not restricted
    assert risk_evaluate(ctx=purchase(amount=Decimal("300"))).allowed


def test_new_account_quantity_restriction():
    make_rule(kind=RiskRule.Kind.NEW_ACCOUNT, account_age_hours=72, limit=2, action=RiskRule.RuleAction.BLOCK)
    young = timezone.now() - timedelta(hours=1)
    assert risk_evaluate(ctx=purchase(account_created_at=young, quantity=2)).allowed
    assert risk_evaluate(ctx=purchase(account_created_at=young, quantity=3)).blocked


@pytest.mark.parametrize(
    ("dimension", "entry", "hit", "miss"),
    [
        (Dimension.IP, "203.0.113.5", {"ip": "203.0.113.5"}, {"ip": "203.0.113.6"}),
        (Dimension.IP, "203.0.113.0/24", {"ip": "203.0.113.77"}, {"ip": "203.0.114.1"}),
        (Dimension.IP, "2001:db8::/32", {"ip": "2001:db8::1"}, {"ip": "2001:db9::1"}),
        (Dimension.PHONE, "+86 170 0000 0001", {"phone": "17000000001"}, {"phone": "17000000002"}),
        (Dimension.EMAIL_DOMAIN, "Mailinator.com", {"email": "x@mailinator.com"}, {"email": "x@example.com"}),
        (Dimension.EMAIL, "bad@example.com", {"email": "BAD@example.com"}, {"email": "good@example.com"}),
        (Dimension.DEVICE, "emulator-01", {"device": "emulator-01"}, {"device": "iphone-15"}),
        (Dimension.ACCOUNT, "1001", {"account_id": 1001}, {"account_id": 1002}),
    ],
)
def test_blocklist(dimension, entry, hit, miss):
    risk_list = make_list(dimension=dimension, values=[entry])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=risk_list, applies_to=RiskRule.ANY, score=100)
    blocked = risk_evaluate(ctx=purchase(**hit))
    assert blocked.blocked
    assert blocked.reasons[0].code == "blocklist"
    assert risk_evaluate(ctx=purchase(**miss)).allowed


def test_blocklist_entry_expires():
    risk_list = make_list(dimension=Dimension.IP, values=["198.51.100.7"], expires_at=timezone.now() + timedelta(hours=1))
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=risk_list)
    assert risk_evaluate(ctx=purchase()).blocked
    risk_list.entries.update(expires_at=timezone.now() - timedelta(seconds=1))
    from riskcontrol import engine

    engine.rules_changed()
    assert risk_evaluate(ctx=purchase()).allowed


def test_allowlist_skips_limits_but_not_blocklists(clock):
    office = make_list(dimension=Dimension.IP, values=["10.8.0.0/16"], list_type=RiskList.ListType.ALLOW, name="office")
    make_rule(kind=RiskRule.Kind.ALLOWLIST, risk_list=office, applies_to=RiskRule.ANY, priority=1)
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=HOUR, limit=1, priority=2)
    banned = make_list(dimension=Dimension.ACCOUNT, values=["666"], name="banned accounts")
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=banned, priority=3)
    # the office buys over the limit
    assert outcomes(3, ip="10.8.3.4") == [Outcome.ALLOW] * 3
    assert risk_evaluate(ctx=purchase(ip="10.8.3.4")).reasons[0].code == "allowlist"
    # but a banned account stays banned even from the office
    assert risk_evaluate(ctx=purchase(ip="10.8.3.4", account_id=666)).blocked
    # elsewhere the limit holds
    assert outcomes(2, ip="198.51.100.1") == [Outcome.ALLOW, Outcome.BLOCK]


def test_scores_add_up_to_the_thresholds():
    settings_set(challenge_score=30, review_score=60, block_score=90)
    make_rule(name="big", kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("500"), action=RiskRule.RuleAction.SCORE, score=35)
    make_rule(name="young", kind=RiskRule.Kind.NEW_ACCOUNT, account_age_hours=24, action=RiskRule.RuleAction.SCORE, score=30)
    young = timezone.now() - timedelta(hours=1)
    assert risk_evaluate(ctx=purchase(amount=Decimal("10"))).allowed
    challenged = risk_evaluate(ctx=purchase(amount=Decimal("600")))
    assert (challenged.outcome, challenged.score) == (Outcome.CHALLENGE, 35)
    assert challenged.reasons[-1].code == "score"
    held = risk_evaluate(ctx=purchase(amount=Decimal("600"), account_created_at=young))
    assert (held.outcome, held.score) == (Outcome.REVIEW, 65)


def test_a_passed_challenge_lets_the_request_through(clock):
    make_rule(
        kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.DEVICE, window_seconds=HOUR, limit=1, action=RiskRule.RuleAction.CHALLENGE
    )
    assert risk_evaluate(ctx=purchase(device="d1")).allowed
    challenged = risk_evaluate(ctx=purchase(device="d1"))
    assert challenged.needs_challenge
    with pytest.raises(ChallengeRequired):
        challenged.raise_if_refused()
    assert risk_evaluate(ctx=purchase(device="d1", challenge_passed=True)).allowed


def test_the_strongest_action_wins_and_raise_if_refused():
    make_rule(name="review big", kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=RiskRule.RuleAction.REVIEW, score=0)
    make_rule(name="block huge", kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1000"), action=RiskRule.RuleAction.BLOCK, score=0)
    decision = risk_evaluate(ctx=purchase(amount=Decimal("5000")))
    assert decision.blocked
    assert [r.rule_name for r in decision.reasons] == ["review big", "block huge"]
    with pytest.raises(RiskBlocked) as caught:
        decision.raise_if_refused()
    assert caught.value.status == 403
    risk_evaluate(ctx=purchase(amount=Decimal("500"))).raise_if_refused()  # review: the caller holds it, nothing raised


def test_rules_of_other_actions_and_inactive_rules_are_ignored():
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1"), applies_to="withdrawal")
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1"), active=False)
    assert risk_evaluate(ctx=purchase(amount=Decimal("100"))).allowed
    assert risk_evaluate(ctx=RiskContext(action="withdrawal", amount=Decimal("100"))).blocked


def test_every_evaluation_is_recorded_with_its_context():
    sku = factories.SkuFactory()
    created = timezone.now() - timedelta(days=3)
    decision = risk_evaluate(
        ctx=purchase(
            sku_id=sku.pk,
            quantity=2,
            amount=Decimal("60.00"),
            ip="198.51.100.20",
            device="fp-1",
            account_id="u-9",
            phone="13800138000",
            email="Buyer@Example.com",
            distributor_id=5,
            storefront_id=6,
            account_created_at=created,
            reference="ORD-77",
            extra={"channel": "h5"},
        )
    )
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.action, event.outcome, event.reference, event.sku_id, event.quantity) == ("purchase", "allow", "ORD-77", sku.pk, 2)
    assert (event.ip, event.device, event.account_id, event.phone, event.email) == (
        "198.51.100.20",
        "fp-1",
        "u-9",
        "13800138000",
        "buyer@example.com",
    )
    assert (event.amount, event.distributor_id, event.storefront_id, event.extra) == (Decimal("60.00"), 5, 6, {"channel": "h5"})


def test_a_bad_ip_is_kept_aside_not_crashing():
    decision = risk_evaluate(ctx=purchase(ip="not-an-ip"))
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert event.ip is None
    assert event.extra["ip_raw"] == "not-an-ip"


def test_a_rule_change_is_seen_at_once():
    rule = make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("10"))
    assert risk_evaluate(ctx=purchase(amount=Decimal("50"))).blocked
    rule.amount_threshold = Decimal("100")
    rule.save()
    from riskcontrol import engine

    engine.rules_changed()
    assert risk_evaluate(ctx=purchase(amount=Decimal("50"))).allowed


def test_float_amounts_are_refused():
    with pytest.raises(TypeError):
        RiskContext(action="purchase", amount=1.5)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "purchase_limit", "dimension": "ip", "limit": 3}, "window_seconds"),
        ({"kind": "purchase_limit", "dimension": "distributor", "window_seconds": 60, "limit": 3}, "dimension"),
        ({"kind": "velocity", "dimension": "ip", "window_seconds": 60}, "limit"),
        ({"kind": "amount"}, "amount_threshold"),
        ({"kind": "new_account"}, "account_age_hours"),
        ({"kind": "blocklist"}, "risk_list"),
    ],
)
def test_rule_validation_names_the_field(fields, field):
    with pytest.raises(ValidationError) as caught:
        RiskRule(name="x", **fields).full_clean()
    assert field in caught.value.message_dict


def test_an_allowlist_rule_needs_an_allowlist():
    blocklist = make_list(dimension=Dimension.IP, values=["1.2.3.4"])
    with pytest.raises(ValidationError) as caught:
        RiskRule(name="x", kind=RiskRule.Kind.ALLOWLIST, risk_list=blocklist).full_clean()
    assert "risk_list" in caught.value.message_dict
