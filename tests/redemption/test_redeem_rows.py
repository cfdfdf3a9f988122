"""What one redemption writes, each row by its owner's service in one transaction: the code's status and
event (catalog), the balance, redemption and attempt (redemption), the idempotency answer (core)."""

import json
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import salted_hmac

from catalog.models import CardCode, CodeEvent
from redemption.models import CodeBalance, Redemption, RedemptionAttempt
from tests import factories
from voucherhub.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def test_single_use_rows(api_a, sku_a, shop_a):
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
    assert record.scope == f"redemption:terminal:{shop_a.terminal.pk}" and record.key == "k-1"
    assert record.status_code == 201 and record.response == body


def test_stored_value_rows(api_a, gift_card_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    first = api_a.redeem({"code": plaintext, "amount": "60.00"}).json()
    assert first["balance_after"] == "40.00"
    assert IdempotencyRecord.objects.get(response__id=first["id"]).response["balance_after"] == "40.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not CodeEvent.objects.filter(code=code).exists()
    last = api_a.redeem({"code": plaintext, "amount": "40.00"}).json()
    assert last["balance_after"] == "0.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert CodeBalance.objects.get(code=code).remaining == Decimal("0.00")
    assert CodeEvent.objects.filter(code=code, to_status="redeemed").count() == 1
    assert api_a.redeem({"code": plaintext, "amount": "1.00"}).status_code == 409


def test_replay_and_conflict(api_a, sku_a):
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


def test_a_refusal_is_kept_and_replayed_but_a_lockout_is_not(api_a, sku_a):
    # given a code that does not exist
    first = api_a.redeem({"code": "NOPE-NOPE-NOPE"}, idem="r-1")
    # when the same request comes again under the key
    again = api_a.redeem({"code": "NOPE-NOPE-NOPE"}, idem="r-1")
    # then the first refusal is the answer, and only one attempt was recorded
    assert first.status_code == again.status_code >= 400
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert RedemptionAttempt.objects.filter(outcome=RedemptionAttempt.Outcome.REFUSED).count() == 1


def _legacy_hash(action: str, data: dict) -> str:
    """redemption's hashing before its records moved to core (what migration 0002 copied)."""
    canonical = json.dumps({"action": action, **data}, sort_keys=True, default=str, ensure_ascii=False)
    return salted_hmac("redemption.idempotency", canonical, algorithm="sha256").hexdigest()


def test_a_key_answered_before_the_move_to_core_still_replays(api_a, sku_a, shop_a):
    # given a redeem answered before the move: its record copied to core with the old fingerprint
    code, plaintext = factories.card_code(sku=sku_a)
    data = {"store": shop_a.store.pk, "code": plaintext, "serial": "", "qr": "", "amount": None, "spend": None, "ref": ""}
    stored = {"id": 12345, "status": "completed"}
    IdempotencyRecord.objects.create(
        scope=f"redemption:terminal:{shop_a.terminal.pk}",
        key="old-1",
        fingerprint=_legacy_hash("redeem", data),
        fingerprint_legacy=True,
        status_code=201,
        response=stored,
    )
    # when the terminal retries it
    response = api_a.redeem({"code": plaintext}, idem="old-1")
    # then it gets the first answer and nothing is redeemed again
    assert response.status_code == 201 and response.json() == stored and response.headers["Idempotent-Replayed"] == "true"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not Redemption.objects.exists()
    # and another body under that key is still refused
    _other, other = factories.card_code(sku=sku_a)
    assert api_a.redeem({"code": other}, idem="old-1").status_code == 409


def test_the_fingerprint_is_cores_keyed_hmac_of_the_request(api_a, sku_a, shop_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    api_a.redeem({"code": plaintext}, idem="f-1")
    data = {"store": shop_a.store.pk, "code": plaintext, "serial": "", "qr": "", "amount": None, "spend": None, "ref": ""}
    from voucherhub.core.idempotency import request_fingerprint

    expected = request_fingerprint(scope="redemption.redeem", body=json.dumps(data, cls=DjangoJSONEncoder).encode())
    assert IdempotencyRecord.objects.get().fingerprint == expected


@pytest.mark.postgres
def test_a_plain_redeem_is_a_short_list_of_statements(api_a, sku_a):
    # given a terminal that has redeemed once (its credentials and the risk rules are warm)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api_a.redeem({"code": factories.card_code(sku=sku_a)[1]})
    _code, plaintext = factories.card_code(sku=sku_a)
    # when it redeems a code
    with CaptureQueriesContext(connection) as statements:
        assert api_a.redeem({"code": plaintext}).status_code == 201
    # then: the nonce; the idempotency claim; the code read, locked; catalog's status change with its event;
    # the redemption with its attempt (one statement, redemption/writes.py); the kept answer; the test's
    # savepoint pair around the transaction (BEGIN and COMMIT in production). A new statement here is a cost
    # on the busiest request: say why when raising it.
    sql = [s["sql"] for s in statements.captured_queries]
    assert len(sql) <= 8, "\n".join(sql)
    # and the one statement wrote both rows, the attempt pointing at its redemption
    redemption = Redemption.objects.get(code=_code)
    attempt = RedemptionAttempt.objects.get(redemption=redemption)
    assert (attempt.kind, attempt.outcome, attempt.code_id, attempt.terminal_id) == ("redeem", "ok", _code.pk, redemption.terminal_id)
    assert redemption.status == "completed" and redemption.amount == sku_a.face_value


@pytest.mark.parametrize("prepared", [True, False])
def test_a_redemption_and_its_attempt_are_written_alike_by_the_statement_and_the_orm(api_a, sku_a, settings, prepared):
    # given prepared statements on (PostgreSQL: one statement) or off (the ORM's two INSERTs, as on SQLite)
    settings.PREPARED_STATEMENTS = prepared
    code, plaintext = factories.card_code(sku=sku_a)
    # when a terminal redeems a code
    response = api_a.redeem({"code": plaintext}, idem=f"w-{prepared}")
    # then the redemption answered is the one stored, and its attempt points at it
    assert response.status_code == 201, response.content
    redemption = Redemption.objects.get(pk=response.json()["id"])
    assert (redemption.code_id, redemption.status, redemption.reversed_at, redemption.reverse_reason) == (code.pk, "completed", None, "")
    attempt = RedemptionAttempt.objects.get(redemption=redemption)
    assert (attempt.outcome, attempt.code_id, attempt.channel, attempt.created_at) == ("ok", code.pk, "api", redemption.created_at)
