"""Both ways a redemption is written give the same rows: one statement (PostgreSQL) and step by step
(SQLite, or REDEMPTION_ONE_STATEMENT_WRITES=False)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from catalog.models import CardCode, CodeEvent
from redemption.models import CodeBalance, IdempotencyRecord, Redemption, RedemptionAttempt
from tests import factories
from tests.redemption.conftest import TerminalClient, shop_make
from tests.redemption.test_concurrency import run_together

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["one_statement", "step_by_step"])
def write_path(request, settings):
    settings.REDEMPTION_ONE_STATEMENT_WRITES = request.param == "one_statement"
    if request.param == "one_statement" and connection.vendor != "postgresql":
        pytest.skip("the one-statement write is PostgreSQL's")
    return request.param


def test_single_use_rows(write_path, api_a, sku_a, shop_a):
    code, plaintext = factories.card_code(sku=sku_a)
    body = api_a.redeem({"code": plaintext}, idem="k-1").json()
    redemption = Redemption.objects.get()
    assert body["id"] == redemption.pk and redemption.balance_after is None
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    event = CodeEvent.objects.get(code=code)
    assert (event.from_status, event.to_status, event.reference) == ("sold", "redeemed", "redemption")
    assert RedemptionAttempt.objects.get(redemption=redemption).ip == "10.1.1.1"
    record = IdempotencyRecord.objects.get()
    assert record.redemption == redemption and record.status_code == 201 and record.response == body


def test_stored_value_rows(write_path, api_a, gift_card_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    first = api_a.redeem({"code": plaintext, "amount": "60.00"}).json()
    assert first["balance_after"] == "40.00"
    assert IdempotencyRecord.objects.get(redemption_id=first["id"]).response["balance_after"] == "40.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not CodeEvent.objects.filter(code=code).exists()
    last = api_a.redeem({"code": plaintext, "amount": "40.00"}).json()
    assert last["balance_after"] == "0.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert CodeBalance.objects.get(code=code).remaining == Decimal("0.00")
    assert CodeEvent.objects.filter(code=code, to_status="redeemed").count() == 1
    assert api_a.redeem({"code": plaintext, "amount": "1.00"}).status_code == 409


def test_replay_and_conflict(write_path, api_a, sku_a):
    _one, first = factories.card_code(sku=sku_a)
    _two, second = factories.card_code(sku=sku_a)
    a = api_a.redeem({"code": first}, idem="same")
    b = api_a.redeem({"code": first}, idem="same")
    assert a.json() == b.json() and b.headers["Idempotent-Replayed"] == "true"
    c = api_a.redeem({"code": second}, idem="same")
    assert c.status_code == 409 and c.json()["error"]["code"] == "idempotency_conflict"
    assert Redemption.objects.count() == 1
    _two.refresh_from_db()
    assert _two.status == CardCode.Status.SOLD


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_partial_redemptions_race_on_both_paths(write_path):
    shop = shop_make("两条路")
    card = factories.SkuFactory(face_value=Decimal("50.00"), is_stored_value=True, allowed_merchant_ids=[shop.merchant.pk])
    code, plaintext = factories.card_code(sku=card)
    clients = []
    for index in range(10):
        terminal, secret = factories.terminal_for(shop.store, name=f"POS {index}")
        clients.append(TerminalClient(client=Client(), terminal=terminal, secret=secret))

    results = run_together([lambda c=c: c.redeem({"code": plaintext, "amount": "9.00"}) for c in clients])

    assert [r.status_code for r in results].count(201) == 5
    assert CodeBalance.objects.get(code=code).remaining == Decimal("5.00")
    assert sum(r.amount for r in Redemption.objects.filter(code=code)) == Decimal("45.00")
