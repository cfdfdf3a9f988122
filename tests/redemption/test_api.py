"""The terminal API: verify, redeem, reverse, list; error format; idempotency; no leaks across merchants."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from catalog import codegen
from catalog.models import CardCode, CodeEvent
from redemption.models import Redemption, RedemptionAttempt
from tests import factories
from voucherhub.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def test_redeem_a_single_use_code(api_a, sku_a, shop_a):
    code, plaintext = factories.card_code(sku=sku_a)
    response = api_a.redeem({"code": plaintext, "reference": "R-1001"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["amount"] == "35.00"
    assert body["store"]["id"] == shop_a.store.pk
    assert body["terminal"] == shop_a.terminal.key_id
    assert body["code"]["hint"] == code.hint
    assert plaintext not in response.content.decode()
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    assert CodeEvent.objects.filter(code=code, from_status="sold", to_status="redeemed").exists()
    attempt = RedemptionAttempt.objects.get(kind="redeem")
    assert attempt.outcome == "ok" and attempt.redemption_id == body["id"] and attempt.terminal_id == shop_a.terminal.pk


def test_code_typed_with_dashes_lowercase_and_confusable_letters_is_found(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a, plaintext="0123456789ABCDEF" + "X")
    typed = "o123-4567-89ab-cdef-x".replace("1", "l", 1)  # 0 typed as o, 1 as l
    response = api_a.verify({"code": typed})
    assert response.json()["valid"] is True


def test_second_redeem_says_where_and_when(api_a, sku_a, shop_a):
    code, plaintext = factories.card_code(sku=sku_a)
    assert api_a.redeem({"code": plaintext}).status_code == 201
    response = api_a.redeem({"code": plaintext})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_redeemed"
    assert shop_a.store.name in error["message"]
    assert timezone.localtime().strftime("%Y-%m-%d") in error["message"]


def test_verify_reports_value_and_changes_nothing(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    body = api_a.verify({"code": plaintext}).json()
    assert body["valid"] is True and body["reason"] is None
    assert body["code"]["face_value"] == "35.00" and body["code"]["status"] == "sold"
    assert body["code"]["expires_at"]
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    assert not Redemption.objects.exists()
    assert RedemptionAttempt.objects.filter(kind="verify", outcome="ok", code=code).exists()


def test_verify_does_not_tell_an_unknown_code_from_another_merchants(api_a, sku_b):
    _code, foreign = factories.card_code(sku=sku_b)
    unknown = api_a.verify({"code": "ZZZZ-ZZZZ-9999"}).json()
    other = api_a.verify({"code": foreign}).json()
    assert unknown == other == {"valid": False, "reason": {"code": "not_valid_here", "message": unknown["reason"]["message"]}, "code": None}
    reasons = set(RedemptionAttempt.objects.values_list("reason", flat=True))
    assert reasons == {"unknown_code", "other_merchant"}
    assert not RedemptionAttempt.objects.filter(code__isnull=False).exists()


def test_redeem_refusal_for_another_merchants_code_is_the_same_as_for_nonsense(api_a, sku_b):
    code, foreign = factories.card_code(sku=sku_b)
    a = api_a.redeem({"code": foreign})
    b = api_a.redeem({"code": "NOPE-NOPE-NOPE"})
    assert a.status_code == b.status_code == 422
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "not_valid_here"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD


def test_malformed_generated_code_is_named_as_a_typo(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    typo = plaintext[:-1] + ("0" if plaintext[-1] != "0" else "1")
    body = api_a.verify({"code": typo}).json()
    assert body["reason"]["code"] == "malformed"


def test_serial_and_code_must_match(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a, serial="SN-0001")
    assert api_a.verify({"code": plaintext, "serial": "SN-0001"}).json()["valid"] is True
    assert api_a.verify({"code": plaintext, "serial": "SN-9999"}).json()["reason"]["code"] == "not_valid_here"


def test_input_errors_use_the_common_error_format(api_a):
    response = api_a.redeem({})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "code" in response.json()["error"]["fields"]


def test_unsigned_and_revoked_terminals_are_refused(client, api_a, sku_a, shop_a):
    response = client.post("/api/v1/redemptions/verify/", {"code": "X"}, content_type="application/json")
    assert response.status_code in (401, 403)
    assert "error" in response.json()
    from redemption.services import terminal_revoke

    terminal_revoke(terminal=shop_a.terminal)
    response = api_a.verify({"code": "ABCD-EFGH"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_key"


# --- Idempotency ---------------------------------------------------------------------------


def test_idempotency_key_is_required(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    response = api_a.post("/api/v1/redemptions/", {"code": plaintext})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert not Redemption.objects.exists()


def test_a_replay_returns_the_first_answer(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    key = uuid.uuid4().hex
    first = api_a.redeem({"code": plaintext}, idem=key)
    again = api_a.redeem({"code": plaintext}, idem=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1
    assert RedemptionAttempt.objects.filter(kind="redeem").count() == 1


def test_a_replayed_refusal_is_the_first_refusal(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    api_a.redeem({"code": plaintext})
    key = uuid.uuid4().hex
    first = api_a.redeem({"code": plaintext}, idem=key)
    again = api_a.redeem({"code": plaintext}, idem=key)
    assert first.status_code == again.status_code == 409
    assert first.json() == again.json()


def test_same_key_with_another_body_is_a_conflict(api_a, sku_a):
    _one, first_code = factories.card_code(sku=sku_a)
    _two, second_code = factories.card_code(sku=sku_a)
    key = uuid.uuid4().hex
    assert api_a.redeem({"code": first_code}, idem=key).status_code == 201
    response = api_a.redeem({"code": second_code}, idem=key)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert Redemption.objects.count() == 1


def test_keys_are_per_terminal(api_a, sku_a, shop_a, client):
    from tests.redemption.conftest import TerminalClient

    other_terminal, secret = factories.terminal_for(shop_a.store, name="POS 2")
    api_a2 = TerminalClient(client=client, terminal=other_terminal, secret=secret)
    _one, c1 = factories.card_code(sku=sku_a)
    _two, c2 = factories.card_code(sku=sku_a)
    key = "shared-key"
    assert api_a.redeem({"code": c1}, idem=key).status_code == 201
    assert api_a2.redeem({"code": c2}, idem=key).status_code == 201


def test_fingerprint_does_not_store_the_code(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a, plaintext="12345678")
    api_a.redeem({"code": plaintext}, idem="k1")
    record = IdempotencyRecord.objects.get()
    import hashlib
    import json

    naive = hashlib.sha256(json.dumps({"code": plaintext}).encode()).hexdigest()
    assert record.scope.startswith("redemption:terminal:") and record.fingerprint != naive
    assert plaintext not in json.dumps(record.response)


# --- Reverse ----------------------------------------------------------------------------------------


def test_reverse_restores_the_code_and_twice_does_nothing(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    first = api_a.reverse(redemption_id, reason="顾客取消")
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "reversed"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    second = api_a.reverse(redemption_id)
    assert second.status_code == 200
    assert second.json()["reversed_at"] == first.json()["reversed_at"]
    assert CodeEvent.objects.filter(code=code, to_status="sold", from_status="redeemed").count() == 1
    # the code can be used again
    assert api_a.redeem({"code": plaintext}).status_code == 201


def test_reverse_replay_returns_the_first_answer(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    key = uuid.uuid4().hex
    first = api_a.reverse(redemption_id, idem=key)
    again = api_a.reverse(redemption_id, idem=key)
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"


def test_reversal_window_closes(api_a, sku_a, shop_a, settings):
    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    Redemption.objects.filter(pk=redemption_id).update(created_at=timezone.now() - timedelta(hours=25))
    response = api_a.reverse(redemption_id)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reversal_window_closed"
    # a merchant with a longer window may still reverse
    shop_a.merchant.reversal_window_hours = 48
    shop_a.merchant.save()
    assert api_a.reverse(redemption_id).status_code == 200


def test_reversal_window_setting(api_a, sku_a, settings):
    settings.REDEMPTION_REVERSAL_WINDOW_HOURS = 1
    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    Redemption.objects.filter(pk=redemption_id).update(created_at=timezone.now() - timedelta(minutes=61))
    assert api_a.reverse(redemption_id).status_code == 409


def test_reverse_of_a_stored_value_redemption_restores_the_balance(api_a, gift_card_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    first = api_a.redeem({"code": plaintext, "amount": "60.00"}).json()
    second = api_a.redeem({"code": plaintext, "amount": "40.00"}).json()
    assert second["balance_after"] == "0.00"
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    api_a.reverse(first["id"])
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    assert code.balance.remaining == Decimal("60.00")


# --- Merchants see only their own rows ------------------------------------------------------------


def test_terminal_of_merchant_b_cannot_see_or_reverse_merchant_a_redemptions(api_a, api_b, sku_a, shop_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    assert api_b.get(f"/api/v1/redemptions/{redemption_id}/").status_code == 404
    response = api_b.reverse(redemption_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Redemption.objects.get(pk=redemption_id).status == "completed"
    listing = api_b.get(f"/api/v1/redemptions/?store={shop_a.store.pk}").json()
    assert listing["count"] == 0
    assert api_a.get(f"/api/v1/redemptions/?store={shop_a.store.pk}").json()["count"] == 1


def test_list_filters_by_store_and_date(api_a, sku_a, shop_a):
    for _ in range(3):
        _code, plaintext = factories.card_code(sku=sku_a)
        api_a.redeem({"code": plaintext})
    old = Redemption.objects.order_by("id").first()
    Redemption.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    today = timezone.localdate().isoformat()
    body = api_a.get(f"/api/v1/redemptions/?store={shop_a.store.code}&date={today}").json()
    assert body["count"] == 2
    assert api_a.get("/api/v1/redemptions/").json()["count"] == 3
    bad = api_a.get("/api/v1/redemptions/?date=yesterday")
    assert bad.status_code == 400 and "date" in bad.json()["error"]["fields"]


@pytest.mark.parametrize("store", ["¹", "٣", "99999999999999999999999"])
def test_list_by_a_store_that_only_looks_like_an_id_is_empty_not_a_crash(api_a, sku_a, store):
    # "¹" and "٣" are digits to str.isdigit but not to int(); the long one is past any id the database holds
    _code, plaintext = factories.card_code(sku=sku_a)
    api_a.redeem({"code": plaintext})
    response = api_a.get(f"/api/v1/redemptions/?{urlencode({'store': store})}")
    assert response.status_code == 200 and response.json()["count"] == 0


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    text = (tmp_path / "schema.yml").read_text()
    assert "RedemptionVerifyInput" in text and "RedemptionReverseInput" in text


def test_schema_documents_the_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ["/api/v1/redemptions/verify/", "/api/v1/redemptions/{id}/reverse/", "Idempotency-Key"]:
        assert path in text


def test_a_reversal_replayed_after_the_cache_forgot_its_nonce_is_refused(client, api_a, sku_a):
    # given a redemption and its reversal, signed once (the terminal API's state-changing requests)
    import json

    from django.core.cache import cache

    from voucherhub.core import apisign

    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    path, body = f"/api/v1/redemptions/{redemption_id}/reverse/", json.dumps({"reason": "typo"}).encode()
    headers = apisign.signed_headers(key_id=api_a.terminal.key_id, secret=api_a.secret, method="POST", path=path, body=body)
    headers["Idempotency-Key"] = "rev-1"

    def send():
        return client.generic("POST", path, body, content_type="application/json", headers=headers, REMOTE_ADDR="10.1.1.1")

    assert send().status_code == 200
    # when the cache loses the nonce (only this key is deleted: the cache is shared with other tests)
    cache.delete(f"vh:apinonce:{api_a.terminal.key_id}:{headers['X-VH-Nonce']}")
    again = send()
    # then the same bytes are still a replay
    assert (again.status_code, again.json()["error"]["code"]) == (401, "replayed_nonce")


def test_a_reversal_reason_that_holds_a_code_is_refused(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    dotted = ".".join(plaintext[i : i + 4] for i in range(0, len(plaintext), 4))
    response = api_a.reverse(redemption_id, reason=f"customer gave back {dotted}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": [response.json()["error"]["message"]]}
    assert Redemption.objects.get(pk=redemption_id).status == Redemption.Status.COMPLETED
    assert plaintext[:8] not in json.dumps(list(Redemption.objects.values("reverse_reason")))


def test_a_receipt_reference_that_holds_the_code_is_refused_and_nothing_is_redeemed(api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    response = api_a.redeem({"code": plaintext, "reference": codegen.pretty(plaintext)})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["reference"]
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not Redemption.objects.exists()
    assert api_a.redeem({"code": plaintext, "reference": "POS-20261207-01"}).status_code == 201
