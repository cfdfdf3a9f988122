"""The quality bar "the risk engine stops a scripted burst", end to end through the real entry points.

Each test runs with the demo's starting rules (riskcontrol/ruleset.py RULES and the default risk settings,
seeded by riskcontrol/demo.py) and drives the HTTP endpoints as a script would: the signed distributor
API, the storefront checkout, the POS terminal's verify API and the consumer order lookup. The rules one
by one are tested in test_rules.py and test_protection.py; here the question is whether a burst through
the front door is stopped where the rules say, and what it leaves behind.
"""

import io
import threading
from decimal import Decimal

import pytest
from captcha.models import CaptchaStore
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import CardCode
from catalog.services import codes_generate
from catalog.vault import keyring
from redemption.models import RedemptionAttempt
from redemption.services import terminal_credentials_forget
from riskcontrol import demo, engine
from riskcontrol.challenge import challenge_new
from riskcontrol.models import Outcome, RiskAlert, RiskEvent
from settlement.models import Order, OrderItem, Payment
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import wallet_account
from settlement.services.orders import order_number, order_pay
from settlement.services.payments import payment_for_order
from settlement.services.wallets import wallet_for
from tests.factories import SkuFactory, card_code, terminal_for
from tests.redemption.conftest import TerminalClient, shop_make
from tests.riskcontrol.conftest import settings_set
from tests.settlement.conftest import fund, tree_make
from tests.settlement.test_api import Api
from tests.settlement.test_concurrency import race
from tests.settlement.test_orders import storefront_order
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = 3600
IP_HOURLY = "同一 IP 每小时限购 20 件"  # purchase limit, storefront only, 20 items per IP per hour: challenge
DISTRIBUTOR_PER_MINUTE = "分销商每分钟最多 300 单"  # velocity, 300 orders per distributor per minute: review
PORTAL_ACCOUNT = "分销商门户同一账号每分钟最多下单 5 次"  # velocity, portal only, 5 orders per account per minute: review
EMAIL_DAILY = "同一邮箱每天限购 20 件"  # purchase limit, storefront only, 20 items per email per day: block


@pytest.fixture
def starting_rules(clock):
    """The demo's risk control as `make run` seeds it: the 21 starting rules, 6 lists, default settings
    (and the demo's own evaluations and alerts, which touch none of the values used here)."""
    demo.seed(io.StringIO())
    engine.rules_changed()


@pytest.fixture
def tree(db, finance_user, starting_rules):
    return tree_make()


def rule_names(event: RiskEvent) -> set[str]:
    return {reason.get("rule") for reason in event.reasons}


def assert_error_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"].strip()
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


# --- 1. A script orders through the signed distributor API ----------------------------------------------


@pytest.fixture
def api(client, tree, finance_user):
    codes_generate(sku=tree.sku, count=100)  # 130 codes: stock never refuses an order here
    fund(tree.seller, "5000.00", actor=finance_user)
    return Api(client, tree.seller)


def test_api_integration_from_one_address_is_not_held_to_a_consumers_limits(api, tree):
    """A distributor's server orders for its customers from one address: the limits per IP (20 an hour, 100 a
    day) are a consumer's and apply to the storefront only. (Before channel scopes the 21st code was
    challenged, which an API client cannot solve, and the 101st of the day blocked.)"""
    # (the codes in the answers count against the hourly reveal limit, whose default of 50 would withhold some)
    settings_set(reveal_limit_per_hour=500)
    balance = wallet_account(wallet_for(tree.seller), "wallet").balance

    # when: 60 one-code orders within the hour, then one order of 60 codes: 120 codes from one address
    responses = [api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key=f"burst-{n}") for n in range(60)]
    responses.append(api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 60}, idempotency_key="burst-big"))

    # then: every one is delivered and paid, and risk control let each through without a rule firing
    assert [r.status_code for r in responses] == [201] * 61
    assert all(r.json()["status"] == "delivered" and not r.json()["held_for_review"] for r in responses)
    assert sum(len(r.json()["codes"]) for r in responses) == 120
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).count() == 120
    assert wallet_account(wallet_for(tree.seller), "wallet").balance == balance - 120 * Decimal("26.00")
    assert ledger_check().ok
    ours = RiskEvent.objects.filter(action="purchase", distributor_id=tree.seller.pk, ip="127.0.0.1")
    assert ours.count() == 61 and set(ours.values_list("outcome", flat=True)) == {Outcome.ALLOW}
    assert not any(event.reasons for event in ours)


@pytest.fixture
def big_api(client, tree, finance_user):
    codes_generate(sku=tree.sku, count=300)  # 330 codes
    fund(tree.seller, "9000.00", actor=finance_user)
    return Api(client, tree.seller)


def test_api_script_bursting_past_the_distributor_velocity_is_held_for_review(big_api, tree, clock):
    # when: a script fires 300 one-code orders within one minute (the distributor rule's limit), then more
    responses = [big_api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key=f"flood-{n}") for n in range(302)]

    # then: the first 300 are delivered; from the 301st the orders are paid but held for review, without codes
    assert all(r.status_code == 201 and r.json()["status"] == "delivered" for r in responses[:300])
    held = [r.json() for r in responses[300:]]
    assert [r.status_code for r in responses[300:]] == [201, 201]
    assert all(body["held_for_review"] and body["status"] == "paid" and not body.get("codes") for body in held)
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).count() == 300
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.RESERVED).count() == 2
    assert ledger_check().ok
    # each hold waits in the review queue, naming the distributor rule and no consumer limit
    waiting = RiskEvent.objects.pending_review().filter(distributor_id=tree.seller.pk)
    assert sorted(waiting.values_list("reference", flat=True)) == sorted(body["number"] for body in held)
    assert all(rule_names(event) == {DISTRIBUTOR_PER_MINUTE} for event in waiting)

    # the rule is a rate: a minute later the next order is delivered at once
    clock.advance(61)
    response = big_api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="flood-later")
    assert response.status_code == 201 and response.json()["status"] == "delivered"


# --- 2. A script hammers the storefront checkout ---------------------------------------------------------


def checkout_url(tree) -> str:
    return reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])


def checkout(client, tree, *, contact: str, quantity: int = 1, **extra):
    data = {"quantity": quantity, "contact": contact, "lookup_password": "secret-123", "pay_method": "sandbox", **extra}
    return client.post(checkout_url(tree), data, REMOTE_ADDR="198.51.100.23")


def written(tree) -> tuple[int, int, int, int]:
    """What a checkout writes: orders, payments, order items, codes held for them."""
    held = CardCode.objects.filter(sku=tree.sku).exclude(status=CardCode.Status.AVAILABLE).count()
    return Order.objects.count(), Payment.objects.count(), OrderItem.objects.count(), held


def solved_challenge() -> dict:
    """What a person types after reading the picture of the challenge the page just showed."""
    challenge = CaptchaStore.objects.order_by("-id").first()
    return {"challenge_key": challenge.hashkey, "challenge_answer": challenge.response}


def test_storefront_script_from_one_address_is_challenged_and_nothing_is_half_written(client, tree, fast_hashing):
    # when: a script checks out 20 single codes from one address, a new contact each time (no rule per contact fires)
    for n in range(20):
        response = checkout(client, tree, contact=f"buyer{n}@example.test")
        assert response.status_code == 302 and "/pay/" in response["Location"]
    before = written(tree)
    assert before == (20, 20, 20, 20)

    # then: the 21st is stopped by the hourly limit per address: a challenge picture and a clear message, no order
    response = checkout(client, tree, contact="buyer20@example.test")
    page = response.content.decode()
    assert response.status_code == 428 and 'data-testid="challenge"' in page
    assert "请输入图中的字符后继续。" in page
    assert written(tree) == before

    # a script that cannot read the picture guesses: refused, a new picture, still nothing written
    guess = {"challenge_key": solved_challenge()["challenge_key"], "challenge_answer": "abcde"}
    response = checkout(client, tree, contact="buyer20@example.test", **guess)
    page = response.content.decode()
    assert response.status_code == 428 and 'data-testid="challenge"' in page
    assert "字符不匹配，请看新图片再试。" in page
    assert guess["challenge_key"] not in page and not CaptchaStore.objects.filter(hashkey=guess["challenge_key"]).exists()
    assert written(tree) == before
    # and going on without the picture gets the same challenge again
    response = checkout(client, tree, contact="buyer21@example.test")
    assert response.status_code == 428 and 'data-testid="challenge"' in response.content.decode()
    assert written(tree) == before

    challenged = RiskEvent.objects.filter(action="purchase", storefront_id=tree.storefront.pk, outcome=Outcome.CHALLENGE)
    assert challenged.count() == 2  # the guess never reached risk control: the picture was checked first
    assert all(rule_names(event) == {IP_HOURLY} and event.ip == "198.51.100.23" for event in challenged)

    # a person who reads the picture gets through: that one order is placed and waits for its payment
    response = checkout(client, tree, contact="buyer20@example.test", **solved_challenge())
    assert response.status_code == 302 and "/pay/" in response["Location"]
    assert written(tree) == (21, 21, 21, 21)


def test_storefront_script_reusing_one_contact_is_blocked_and_a_solved_picture_does_not_lift_it(client, tree, fast_hashing):
    for _n in range(20):
        assert checkout(client, tree, contact="scalper@example.test").status_code == 302
    before = written(tree)

    response = checkout(client, tree, contact="scalper@example.test")
    page = response.content.decode()
    # blocked: both reasons on the page in Chinese, no challenge offered (a block is not solved away)
    assert response.status_code == 403 and 'data-testid="challenge"' not in page
    assert "同一电子邮件地址在 1 天 内超过 20 件" in page and "同一IP 地址在 1 小时 内超过 20 件" in page
    assert written(tree) == before

    # a person's solved picture does not turn a block into an order
    challenge_new()
    response = checkout(client, tree, contact="scalper@example.test", **solved_challenge())
    assert response.status_code == 403 and "同一电子邮件地址在 1 天 内超过 20 件" in response.content.decode()
    assert written(tree) == before
    blocked = RiskEvent.objects.filter(action="purchase", storefront_id=tree.storefront.pk, outcome=Outcome.BLOCK)
    assert blocked.count() == 2
    assert all({EMAIL_DAILY, IP_HOURLY} <= rule_names(event) and event.email == "scalper@example.test" for event in blocked)


# --- 2b. A distributor's staff buys stock in the portal ----------------------------------------------------


@pytest.fixture
def seller_client(client, tree, finance_user):
    codes_generate(sku=tree.sku, count=100)
    fund(tree.seller, "5000.00", actor=finance_user)
    client.force_login(tree.seller_user)
    return client


def portal_order(client, tree, quantity: int) -> Order:
    response = client.post(
        reverse("settlement:portal-buy"), {"sku": tree.sku.code, "quantity": quantity, "step": "confirm"}, REMOTE_ADDR="192.0.2.80"
    )
    assert response.status_code == 302, response.content
    return Order.objects.filter(distributor=tree.seller).latest("id")


def test_portal_buyer_buys_stock_in_bulk_and_a_sixth_order_in_a_minute_is_held(seller_client, tree, clock):
    # when: a distributor's staff buys 50 codes in one order (past every consumer limit per account and IP)
    bulk = portal_order(seller_client, tree, 50)

    # then: delivered at once, not held for review
    assert bulk.status == Order.Status.DELIVERED and bulk.hold != Order.Hold.REVIEW and bulk.items.count() == 50
    # four more orders in the same minute are fine; the sixth is a script or a stolen login: held for review
    assert all(portal_order(seller_client, tree, 1).status == Order.Status.DELIVERED for _ in range(4))
    sixth = portal_order(seller_client, tree, 1)
    assert sixth.hold == Order.Hold.REVIEW and sixth.status == Order.Status.PAID
    event = RiskEvent.objects.get(reference=sixth.number)
    assert event.review_status == RiskEvent.ReviewStatus.PENDING and rule_names(event) == {PORTAL_ACCOUNT}
    assert ledger_check().ok


# --- 3. A script brute-forces the POS verify API --------------------------------------------------------
# Five wrong codes in a row lock the terminal, refused before any lookup, and the lockout expires: that is
# tests/redemption/test_bruteforce.py. A script that knows one good code (a voucher it bought) and slips it in
# after every four guesses gains nothing: a success forgets no failure (they decay with the window), so its
# fifth wrong guess locks the terminal. One terminal does not lock its store: the others go on working.


@pytest.fixture
def pos(client, starting_rules):
    shop = shop_make("星巴克")
    sku = SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[shop.merchant.pk])
    terminal_credentials_forget()
    yield shop, TerminalClient(client=client, terminal=shop.terminal, secret=shop.secret), sku
    terminal_credentials_forget()


def test_verify_script_that_slips_in_a_good_code_is_locked_out_at_its_fifth_guess(pos, client, clock):
    shop, api, sku = pos
    _code, good = card_code(sku=sku)

    # when: four wrong guesses, the good code, and one more wrong guess
    for guess in range(5):
        response = api.verify({"code": f"GUESS-{guess:04d}-XXXX"})
        assert response.status_code == 200 and response.json()["reason"]["code"] == "not_valid_here"
        if guess == 3:
            assert api.verify({"code": good}).json()["valid"] is True

    # then: the terminal is locked out: its own error code, and refused before the code is looked up at all
    with CaptureQueriesContext(connection) as queries:
        response = api.verify({"code": good})
    error = assert_error_envelope(response, 429, "locked_out")
    assert error["message"] == "失败次数过多，请 15 分钟后再试。" and response["Retry-After"] == "900"
    assert not any("catalog_cardcode" in q["sql"] for q in queries.captured_queries)
    assert RedemptionAttempt.objects.filter(reason="locked_out", code__isnull=True).count() == 1
    alert = RiskAlert.objects.get(kind=RiskAlert.Kind.LOCKOUT, source=f"terminal:{shop.terminal.key_id}")
    assert alert.severity == RiskAlert.Severity.CRITICAL
    # the store's other terminals are not locked by this one's guesses
    other, secret = terminal_for(shop.store, name="POS 2")
    second = TerminalClient(client=client, terminal=other, secret=secret)
    assert second.post("/api/v1/redemptions/verify/", {"code": good}, remote="10.9.9.9").json()["valid"] is True

    # the lockout ends after its 15 minutes
    clock.advance(15 * 60 + 1)
    assert api.verify({"code": good}).json()["valid"] is True


# --- 4. A script brute-forces the consumer order lookup -------------------------------------------------
# Guessing one order's lookup password locks that order number: tests/settlement/test_pages.py. Here the
# script walks through order numbers from one address instead, and then fires its guesses all at once.


@pytest.fixture
def delivered(tree):
    """A storefront order, paid and delivered: what a lookup opens with number, contact and lookup password."""
    order = storefront_order(tree, ip="192.0.2.10")
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    return order


def lookup(client, *, number: str, password: str = "secret-123", contact: str = "buyer@example.test", ip: str):
    data = {"number": number, "contact": contact, "lookup_password": password}
    return client.post(reverse("settlement:order-lookup"), data, REMOTE_ADDR=ip)


def test_lookup_script_walking_order_numbers_from_one_address_is_locked(client, delivered):
    item = delivered.items.select_related("code").get()
    code = keyring().open(ciphertext=item.code.ciphertext, key_id=item.code.key_id, blind_index=item.code.blind_index)

    # when: five made-up order numbers from one address: each one a plain "no such order" (which secret was wrong is not said)
    for _n in range(5):
        response = lookup(client, number=order_number(), ip="198.51.100.66")
        assert response.status_code == 404 and "没有与该订单号、联系方式和查询密码相符的订单。" in response.content.decode()

    # then: that address is refused, even with all three secrets of a real order, and is told to wait
    response = lookup(client, number=delivered.number, ip="198.51.100.66")
    page = response.content.decode()
    assert response.status_code == 429 and "尝试次数过多，请稍后再试。" in page and code not in page
    assert AuditLog.objects.filter(action="order.lookup_failed").count() == 5
    assert AuditLog.objects.filter(action="order.lookup_locked", ip="198.51.100.66").count() == 1
    # the buyer at another address is not locked out of the order by the script
    response = lookup(client, number=delivered.number, ip="192.0.2.10")
    assert response.status_code == 200 and code in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_lookup_guesses_fired_at_once_get_no_more_checks_than_the_limit(delivered):
    """Twelve guesses at one order's lookup password, in parallel and each from its own address: only the
    limit's five are checked, the rest are refused unchecked. (Counted after the check, all twelve were
    checked: each saw the count before any guess had failed.)"""
    addresses = iter(range(12))
    lock = threading.Lock()

    def guess():
        with lock:
            n = next(addresses)
        return lookup(Client(), number=delivered.number, password=f"guess-{n}", ip=f"198.51.100.{n + 1}").status_code

    results = race(12, guess)
    assert all(kind == "ok" for kind, _value in results), results
    assert sorted(value for _kind, value in results) == [404] * 5 + [429] * 7
    assert AuditLog.objects.filter(action="order.lookup_failed").count() == 5
    # the right answer is refused too until the window has passed
    assert lookup(Client(), number=delivered.number, ip="192.0.2.10").status_code == 429
