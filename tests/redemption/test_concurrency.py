"""Races on one code: PostgreSQL, real threads, each with its own connection."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from catalog.models import CardCode
from redemption.models import CodeBalance, Redemption, RedemptionAttempt
from tests import factories
from tests.redemption.conftest import TerminalClient, shop_make

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def run_together(jobs):
    """Start every job at the same moment; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # surfaced by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def terminals(shop, count):
    clients = []
    for index in range(count):
        terminal, secret = factories.terminal_for(shop.store, name=f"POS {index}")
        clients.append(TerminalClient(client=Client(), terminal=terminal, secret=secret))
    return clients


def test_twenty_terminals_one_code_exactly_one_wins():
    shop = shop_make("并发")
    sku = factories.SkuFactory(allowed_merchant_ids=[shop.merchant.pk])
    code, plaintext = factories.card_code(sku=sku)
    clients = terminals(shop, THREADS)

    results = run_together([lambda c=c: c.redeem({"code": plaintext}) for c in clients])

    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == THREADS - 1, statuses
    losers = [r.json()["error"] for r in results if r.status_code == 409]
    assert all(e["code"] == "already_redeemed" and shop.store.name in e["message"] for e in losers)
    assert Redemption.objects.filter(code=code).count() == 1
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert RedemptionAttempt.objects.filter(kind="redeem").count() == THREADS


def test_twenty_partial_redemptions_never_overdraw():
    shop = shop_make("储值并发")
    card = factories.SkuFactory(face_value=Decimal("100.00"), is_stored_value=True, allowed_merchant_ids=[shop.merchant.pk])
    code, plaintext = factories.card_code(sku=card)
    clients = terminals(shop, THREADS)

    # 20 × 7.00 = 140.00 asked of a 100.00 balance: 14 fit, 6 must be refused.
    results = run_together([lambda c=c: c.redeem({"code": plaintext, "amount": "7.00"}) for c in clients])

    statuses = [r.status_code for r in results]
    assert statuses.count(201) == 14, statuses
    assert sorted({r.json()["error"]["code"] for r in results if r.status_code != 201}) == ["balance_insufficient"]
    taken = sum(r.amount for r in Redemption.objects.filter(code=code))
    assert taken == Decimal("98.00")
    assert CodeBalance.objects.get(code=code).remaining == Decimal("2.00")
    balances_after = sorted(Decimal(r.json()["balance_after"]) for r in results if r.status_code == 201)
    assert balances_after == [Decimal("2.00") + 7 * i for i in range(14)]


def test_same_idempotency_key_at_once_redeems_once():
    shop = shop_make("幂等并发")
    card = factories.SkuFactory(face_value=Decimal("100.00"), is_stored_value=True, allowed_merchant_ids=[shop.merchant.pk])
    code, plaintext = factories.card_code(sku=card)
    key = uuid.uuid4().hex
    clients = [TerminalClient(client=Client(), terminal=shop.terminal, secret=shop.secret) for _ in range(8)]

    results = run_together([lambda c=c: c.redeem({"code": plaintext, "amount": "10.00"}, idem=key) for c in clients])

    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert Redemption.objects.filter(code=code).count() == 1
    assert CodeBalance.objects.get(code=code).remaining == Decimal("90.00")


def test_reverse_and_redeem_race_keeps_the_books_straight():
    shop = shop_make("冲正并发")
    card = factories.SkuFactory(face_value=Decimal("100.00"), is_stored_value=True, allowed_merchant_ids=[shop.merchant.pk])
    code, plaintext = factories.card_code(sku=card)
    api = TerminalClient(client=Client(), terminal=shop.terminal, secret=shop.secret)
    first = api.redeem({"code": plaintext, "amount": "60.00"}).json()
    clients = terminals(shop, 6)

    jobs = [lambda c=c: c.reverse(first["id"]) for c in clients[:3]] + [
        lambda c=c: c.redeem({"code": plaintext, "amount": "50.00"}) for c in clients[3:]
    ]
    run_together(jobs)

    completed = sum(r.amount for r in Redemption.objects.filter(code=code, status="completed"))
    assert CodeBalance.objects.get(code=code).remaining == Decimal("100.00") - completed
    assert Redemption.objects.get(pk=first["id"]).status == "reversed"
