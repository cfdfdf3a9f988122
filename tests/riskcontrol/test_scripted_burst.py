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
from riskcontrol.services import risk_events_flush
from settlement.models import IdempotencyRecord, Order, OrderItem, Payment
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import wallet_account
from settlement.services.orders import order_number, order_pay
from settlement.services.payments import payment_for_order
from settlement.services.wallets import wallet_for
from tests.factories import SkuFactory, card_code, terminal_for
from tests.redemption.conftest import TerminalClient, shop_make
from tests.settlement.conftest import fund, tree_make
from tests.settlement.test_api import Api
from tests.settlement.test_concurrency import race
from tests.settlement.test_orders import storefront_order
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = 3600
IP_HOURLY = "同一 IP 每小时限购 20 件"  # purchase limit, 20 items per IP per hour: challenge
IP_DAILY = "同一 IP 每天限购 100 件"  # purchase limit, 100 items per IP per day: block
EMAIL_DAILY = "同一邮箱每天限购 20 件"  # purchase limit, 20 items per email per day: block


@pytest.fixture
def starting_rules(clock):
    """The demo's risk control as `make run` seeds it: the 20 starting rules, 6 lists, default settings
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


def test_api_script_is_challenged_past_the_ip_hourly_limit_and_refused_orders_cost_nothing(api, tree, clock):
    balance = wallet_account(wallet_for(tree.seller), "wallet").balance
    available = CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count()

    # when: a script fires 26 one-code orders with fresh Idempotency-Keys from one address, as fast as it can
    responses = [api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key=f"burst-{n}") for n in range(26)]

    # then: the first 20 (the rule's limit) are delivered, every later one is refused with the error envelope
    delivered, refused = responses[:20], responses[20:]
    assert all(r.status_code == 201 and r.json()["status"] == "delivered" and len(r.json()["codes"]) == 1 for r in delivered)
    errors = [assert_error_envelope(r, 428, "challenge_required") for r in refused]
    assert errors[0]["message"] == "请完成验证后重试。" and errors[0]["fields"] == {}

    # no code was reserved or delivered for a refused order, and the wallet paid for 20 codes only
    assert Order.objects.filter(distributor=tree.seller).count() == 20
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.SOLD).count() == 20
    assert not CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.RESERVED).exists()
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == available - 20
    assert wallet_account(wallet_for(tree.seller), "wallet").balance == balance - 20 * Decimal("26.00")
    assert ledger_check().ok
    # a refused request keeps no idempotency record: retrying its key is refused again, not replayed
    assert IdempotencyRecord.objects.count() == 20
    again = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="burst-20")
    assert_error_envelope(again, 428, "challenge_required")

    # each refusal is a RiskEvent naming the rule, the address and the distributor
    risk_events_flush()
    ours = RiskEvent.objects.filter(action="purchase", distributor_id=tree.seller.pk, ip="127.0.0.1")
    challenged = ours.filter(outcome=Outcome.CHALLENGE)
    assert challenged.count() == 7
    for event in challenged:
        assert rule_names(event) == {IP_HOURLY} and event.quantity == 1
        assert not Order.objects.filter(number=event.reference).exists()
    assert ours.filter(outcome=Outcome.ALLOW).count() == 20

    # the limit is a rate, not a ban: two hours later the window has slid past the burst
    clock.advance(2 * HOUR)
    retry = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 20}, idempotency_key="burst-20")
    assert retry.status_code == 201 and len(retry.json()["codes"]) == 20


def test_api_script_spread_over_the_day_is_blocked_at_the_ip_daily_limit(api, tree, clock):
    # given: a script that stays under the hourly limit (20 codes, then two hours' pause) five times: 100 codes
    for n in range(5):
        response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 20}, idempotency_key=f"day-{n}")
        assert response.status_code == 201, response.content
        clock.advance(2 * HOUR)
    balance = wallet_account(wallet_for(tree.seller), "wallet").balance

    # when: it orders again the same day
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="day-5")

    # then: blocked (403), the message says why, nothing is reserved or charged, and the block is recorded
    error = assert_error_envelope(response, 403, "risk_blocked")
    assert "超过 100" in error["message"]
    assert Order.objects.count() == 5 and not CardCode.objects.filter(status=CardCode.Status.RESERVED).exists()
    assert wallet_account(wallet_for(tree.seller), "wallet").balance == balance
    risk_events_flush()
    blocked = RiskEvent.objects.get(action="purchase", outcome=Outcome.BLOCK, distributor_id=tree.seller.pk, ip="127.0.0.1")
    assert rule_names(blocked) == {IP_DAILY}
    # a block is not lifted by waiting out the hour
    clock.advance(2 * HOUR)
    assert_error_envelope(api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="day-6"), 403, "risk_blocked")


# --- 2. A script hammers the storefront checkout ---------------------------------------------------------


@pytest.fixture
def fast_hashing(settings):
    # Each checkout hashes its lookup password; the real hasher's cost is no part of what is tested here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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

    risk_events_flush()
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
    risk_events_flush()
    blocked = RiskEvent.objects.filter(action="purchase", storefront_id=tree.storefront.pk, outcome=Outcome.BLOCK)
    assert blocked.count() == 2
    assert all({EMAIL_DAILY, IP_HOURLY} <= rule_names(event) and event.email == "scalper@example.test" for event in blocked)


# --- 3. A script brute-forces the POS verify API --------------------------------------------------------
# Five wrong codes in a row lock the terminal, refused before any lookup, and the lockout expires: that is
# tests/redemption/test_bruteforce.py. A script that knows one good code (a voucher it bought) does better:
# every success restarts the terminal's and the address's failure counts. The store's count does not restart.


@pytest.fixture
def pos(client, starting_rules):
    shop = shop_make("星巴克")
    sku = SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[shop.merchant.pk])
    terminal_credentials_forget()
    yield shop, TerminalClient(client=client, terminal=shop.terminal, secret=shop.secret), sku
    terminal_credentials_forget()


def test_verify_script_that_slips_in_a_good_code_is_locked_out_by_its_store(pos, client, clock):
    shop, api, sku = pos
    _code, good = card_code(sku=sku)

    # when: four wrong guesses, then the good code (the terminal never reaches its 5), until the store's 30th failure
    guesses = 0
    while guesses < 30:
        for _ in range(4 if guesses < 28 else 2):
            response = api.verify({"code": f"GUESS-{guesses:04d}-XXXX"})
            assert response.status_code == 200 and response.json()["reason"]["code"] == "not_valid_here"
            guesses += 1
        if guesses < 30:
            assert api.verify({"code": good}).json()["valid"] is True

    # then: the store is locked out: its own error code, and refused before the code is looked up at all
    with CaptureQueriesContext(connection) as queries:
        response = api.verify({"code": good})
    error = assert_error_envelope(response, 429, "locked_out")
    assert error["message"] == "失败次数过多，请 15 分钟后再试。" and response["Retry-After"] == "900"
    assert not any("catalog_cardcode" in q["sql"] for q in queries.captured_queries)
    # every terminal of the store, with a fresh address too
    other, secret = terminal_for(shop.store, name="POS 2")
    second = TerminalClient(client=client, terminal=other, secret=secret)
    assert_error_envelope(second.post("/api/v1/redemptions/verify/", {"code": good}, remote="10.9.9.9"), 429, "locked_out")
    assert RedemptionAttempt.objects.filter(reason="locked_out", code__isnull=True).count() == 2
    alert = RiskAlert.objects.get(kind=RiskAlert.Kind.LOCKOUT, source=f"store:{shop.store.pk}")
    assert alert.severity == RiskAlert.Severity.CRITICAL

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
