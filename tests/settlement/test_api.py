import json
from decimal import Decimal

import pytest

from channels.services import api_key_issue
from settlement.models import Order
from tests.settlement.conftest import fund
from voucherhub.core.apisign import signed_headers
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, distributor):
        self.client = client
        self.key, self.secret = api_key_issue(distributor=distributor)

    def _headers(self, method, path, body=b"", extra=None):
        headers = signed_headers(key_id=self.key.key_id, secret=self.secret, method=method, path=path, body=body)
        headers.update(extra or {})
        return headers

    def get(self, path):
        return self.client.get(path, headers=self._headers("GET", path))

    def post(self, path, data, idempotency_key=None):
        body = json.dumps(data).encode()
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.client.post(path, data=body, content_type="application/json", headers=self._headers("POST", path, body, extra))


@pytest.fixture
def api(client, tree, finance_user):
    fund(tree.seller, "500.00", actor=finance_user)
    return Api(client, tree.seller)


def test_api_order_returns_its_codes_and_a_replay_returns_the_same_order(api, tree):
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2, "customer_ref": "C-1"}, idempotency_key="k-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "delivered" and len(body["codes"]) == 2
    replay = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2, "customer_ref": "C-1"}, idempotency_key="k-1")
    assert replay.status_code == 201 and replay.json()["number"] == body["number"]
    assert replay["Idempotent-Replayed"] == "true"
    assert [c["code"] for c in replay.json()["codes"]] == [c["code"] for c in body["codes"]]
    assert Order.objects.count() == 1
    # the same key with another body is refused
    other = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 3}, idempotency_key="k-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    # every reveal is audited, and no plaintext code is in the idempotency store or the audit log
    assert AuditLog.objects.filter(action="code.reveal").count() == 4
    from voucherhub.core.models import IdempotencyRecord

    stored = json.dumps(list(IdempotencyRecord.objects.values("response"))) + json.dumps(list(AuditLog.objects.values("data", "reason")))
    for code in body["codes"]:
        assert code["code"] not in stored


def test_api_requires_an_idempotency_key(api, tree):
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1})
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"


def test_api_lists_gets_and_filters_own_orders_and_shows_the_wallet(api, tree):
    number = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="k-2").json()["number"]
    assert api.get(f"/api/v1/orders/{number}/").json()["status"] == "delivered"
    assert "codes" not in api.get(f"/api/v1/orders/{number}/").json()
    assert [o["number"] for o in api.get("/api/v1/orders/?status=delivered").json()["results"]] == [number]
    assert api.get("/api/v1/orders/?status=pending").json()["results"] == []
    codes = api.get(f"/api/v1/orders/{number}/codes/").json()
    assert len(codes) == 1
    wallet = api.get("/api/v1/wallet/").json()
    assert Decimal(wallet["balance"]) == Decimal("474.00")


def test_api_refuses_another_distributors_orders(client, api, tree, finance_user):
    number = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="k-3").json()["number"]
    neighbour = Api(client, tree.other)
    for path in (f"/api/v1/orders/{number}/", f"/api/v1/orders/{number}/codes/"):
        response = neighbour.get(path)
        assert response.status_code == 404, path
    assert neighbour.get("/api/v1/orders/").json()["results"] == []


def test_api_out_of_stock_and_insufficient_funds_are_clean_errors(api, tree):
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 31}, idempotency_key="k-4")
    assert response.status_code == 409 and response.json()["error"]["code"] == "out_of_stock"
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 25}, idempotency_key="k-5")
    assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_funds"
    # a refused request leaves no record: the same key may be used again
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="k-5")
    assert response.status_code == 201


def test_a_replay_after_a_refund_returns_the_first_answer_exactly(api, tree, finance_user):
    """The stored answer, not the order as it is now: a refund since changes nothing in a replay."""
    from settlement.services.orders import order_refund
    from voucherhub.core.models import IdempotencyRecord

    request = {"sku": tree.sku.code, "quantity": 2, "customer_ref": "C-7"}
    first = api.post("/api/v1/orders/", request, idempotency_key="k-r")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    order = Order.objects.get(number=first.json()["number"])
    order_refund(order=order, actor=finance_user, reason="customer changed their mind")
    assert api.get(f"/api/v1/orders/{order.number}/").json()["status"] == "refunded"

    reveals = AuditLog.objects.filter(action="code.reveal").count()
    replay = api.post("/api/v1/orders/", request, idempotency_key="k-r")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.content == first.content  # byte for byte: status delivered, the same codes, as first sent
    assert replay.json()["status"] == "delivered" and [c["status"] for c in replay.json()["codes"]] == ["sold", "sold"]
    # the codes were opened again from the vault, and that reveal is audited
    assert AuditLog.objects.filter(action="code.reveal", reason="api order replay").count() == 2
    assert AuditLog.objects.filter(action="code.reveal").count() == reveals + 2
    # stored by id, never as plaintext
    stored = IdempotencyRecord.objects.get(key="k-r").response
    assert sorted(c["id"] for c in stored["codes"]) == sorted(order.items.values_list("code_id", flat=True))
    for code in first.json()["codes"]:
        assert code["code"] not in json.dumps(stored)
    # the same key with another body is still refused
    other = api.post("/api/v1/orders/", {**request, "quantity": 1}, idempotency_key="k-r")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert Order.objects.count() == 1


def test_a_replay_of_a_held_order_answers_as_first_without_codes(api, tree, ops_user):
    from riskcontrol import engine
    from riskcontrol.models import RiskRule
    from riskcontrol.services import review_decide
    from tests.riskcontrol.conftest import make_rule

    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("40"), action=RiskRule.RuleAction.REVIEW, score=20)
    engine.rules_changed()
    try:
        first = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2}, idempotency_key="k-h")
    finally:
        engine.rules_changed()
    assert first.status_code == 201 and first.json()["status"] == "paid" and first.json()["held_for_review"] is True
    assert "codes" not in first.json()
    order = Order.objects.get(number=first.json()["number"])
    review_decide(event_id=order.risk_event_id, approve=True, actor=ops_user)
    replay = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2}, idempotency_key="k-h")
    assert replay["Idempotent-Replayed"] == "true" and replay.content == first.content


def test_api_codes_endpoint_audits_who_which_order_and_masked_hints_only(api, tree):
    from catalog.vault import keyring

    number = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2}, idempotency_key="k-audit").json()["number"]
    order = Order.objects.get(number=number)
    before = AuditLog.objects.order_by("-id").values_list("id", flat=True).first()  # the order response's reveal came before
    response = api.get(f"/api/v1/orders/{number}/codes/")
    assert response.status_code == 200
    codes = {c["code"] for c in response.json()}
    rows = list(AuditLog.objects.filter(action="code.reveal", id__gt=before).order_by("object_id"))
    items = list(order.items.select_related("code").order_by("code_id"))
    assert len(rows) == len(items) == 2
    who = f"api:{api.key.key_id}"
    for row, item in zip(rows, items, strict=True):
        assert row.actor is None and row.actor_repr == who  # the API key, not "system"
        assert (row.object_type, row.object_id) == ("catalog.cardcode", str(item.code_id))
        assert row.data == {"order": number, "by": who, "hint": item.code.hint} and row.reason == "api codes"
        assert row.ip == "127.0.0.1"
        plain = keyring().open(ciphertext=item.code.ciphertext, key_id=item.code.key_id, blind_index=item.code.blind_index)
        assert plain in codes and plain not in str(row.data) + row.object_repr + row.reason
        assert item.code.hint != plain
    # another distributor's key: 404 and nothing audited
    from django.test import Client

    neighbour = Api(Client(), tree.other)
    assert neighbour.get(f"/api/v1/orders/{number}/codes/").status_code == 404
    assert AuditLog.objects.filter(action="code.reveal", id__gt=before).count() == 2


def test_a_record_kept_by_settlement_before_issue_14_is_still_replayed(api, tree):
    """settlement's own records were copied into core's table with their unkeyed SHA-256 fingerprint
    (migration settlement 0010): a replay of such a key gets its order, another body under it a 409."""
    import hashlib

    from voucherhub.core.models import IdempotencyRecord

    request = {"sku": tree.sku.code, "quantity": 1, "customer_ref": "OLD"}
    first = api.post("/api/v1/orders/", request, idempotency_key="k-new")
    number = first.json()["number"]
    # given: a record as settlement kept it (its answer the order's number only, from before answers were kept)
    old = hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    IdempotencyRecord.objects.create(
        scope=f"api-order:{tree.seller.pk}",
        key="k-old",
        fingerprint=old,
        fingerprint_legacy=True,
        status_code=201,
        response={"order": number},
    )
    # when: the same request under the old key, with a challenge answer this time (never part of the fingerprint)
    replay = api.post("/api/v1/orders/", {**request, "challenge_key": "", "challenge_answer": ""}, idempotency_key="k-old")
    # then: its order, with its codes, and nothing placed again
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["number"] == number and replay.json()["codes"] == first.json()["codes"]
    assert Order.objects.count() == 1
    other = api.post("/api/v1/orders/", {**request, "quantity": 2}, idempotency_key="k-old")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
