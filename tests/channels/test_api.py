import json
import re
import time
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from channels import services
from channels.models import ApiKey, PriceViolation, ProductPool, Quota
from tests import factories
from voucherhub.core import apisign, roles

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-signing.md"


@pytest.fixture
def key(tree):
    return services.api_key_issue(distributor=tree.top, label="ERP")


def signed(client, key_and_secret, method, path, payload=None, *, remote="127.0.0.1", idempotency_key=None, **sign):
    key, secret = key_and_secret
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method=method, path=path, body=body, **sign)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.generic(method, path, data=body, content_type="application/json", headers=headers, REMOTE_ADDR=remote)


def code_of(response):
    return response.json()["error"]["code"]


# --- the signature ---------------------------------------------------------------------------------


def test_a_valid_signed_request_is_accepted(client, key, tree):
    response = signed(client, key, "GET", "/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["name"] == tree.top.name
    key[0].refresh_from_db()
    assert key[0].last_used_at is not None


def test_each_failure_has_its_own_401_code(client, key, tree):
    api_key, secret = key

    def refused(response, code):
        assert (response.status_code, code_of(response)) == (401, code)

    refused(client.get("/api/v1/me/"), "missing_signature")
    # wrong secret
    refused(signed(client, (api_key, "not-the-secret"), "GET", "/api/v1/me/"), "bad_signature")
    # signed for another path (query tampered)
    headers = apisign.signed_headers(key_id=api_key.key_id, secret=secret, method="GET", path="/api/v1/downline/?status=active")
    refused(client.get("/api/v1/downline/?status=pending", headers=headers), "bad_signature")
    # body tampered
    body = json.dumps({"sku": "X", "retail_price": "30.00"}).encode()
    headers = apisign.signed_headers(key_id=api_key.key_id, secret=secret, method="POST", path="/api/v1/storefront/items/", body=body)
    response = client.post(
        "/api/v1/storefront/items/", data=b'{"sku": "X", "retail_price": "1.00"}', content_type="application/json", headers=headers
    )
    refused(response, "bad_signature")
    refused(signed(client, key, "GET", "/api/v1/me/", timestamp=time.time() - 301), "stale_timestamp")
    refused(signed(client, key, "GET", "/api/v1/me/", timestamp=time.time() + 301), "stale_timestamp")
    # reused nonce
    headers = apisign.signed_headers(key_id=api_key.key_id, secret=secret, method="GET", path="/api/v1/me/")
    assert client.get("/api/v1/me/", headers=headers).status_code == 200
    refused(client.get("/api/v1/me/", headers=headers), "replayed_nonce")
    stray = (ApiKey(key_id="vhk_nope"), secret)
    refused(signed(client, stray, "GET", "/api/v1/me/"), "unknown_key")
    services.api_key_update(key=api_key, ip_allowlist="10.0.0.0/8\n192.168.1.7")
    refused(signed(client, key, "GET", "/api/v1/me/", remote="203.0.113.9"), "ip_not_allowed")
    assert signed(client, key, "GET", "/api/v1/me/", remote="10.20.30.40").status_code == 200
    services.api_key_revoke(key=api_key)
    refused(signed(client, key, "GET", "/api/v1/me/", remote="10.20.30.40"), "revoked_key")


def test_a_replayed_request_is_refused(client, key):
    api_key, secret = key
    headers = apisign.signed_headers(key_id=api_key.key_id, secret=secret, method="GET", path="/api/v1/quotas/")
    assert client.get("/api/v1/quotas/", headers=headers).status_code == 200
    again = client.get("/api/v1/quotas/", headers=headers)
    assert (again.status_code, code_of(again)) == (401, "replayed_nonce")


def test_keys_of_a_suspended_distributor_stop(client, key, tree):
    services.distributor_suspend(distributor=tree.top, actor=None)
    response = signed(client, key, "GET", "/api/v1/me/")
    assert (response.status_code, code_of(response)) == (401, "revoked_key")


def test_rotation_with_and_without_grace(client, key):
    old, old_secret = key
    new, new_secret = services.api_key_rotate(key=old, grace_seconds=3600)
    assert signed(client, (old, old_secret), "GET", "/api/v1/me/").status_code == 200  # still in its grace hour
    assert signed(client, (new, new_secret), "GET", "/api/v1/me/").status_code == 200
    newer, newer_secret = services.api_key_rotate(key=new)
    assert code_of(signed(client, (new, new_secret), "GET", "/api/v1/me/")) == "revoked_key"
    assert signed(client, (newer, newer_secret), "GET", "/api/v1/me/").status_code == 200


def test_the_secret_is_stored_sealed(key):
    api_key, secret = key
    raw = bytes(ApiKey.objects.get(pk=api_key.pk).secret_sealed)
    assert secret.encode() not in raw
    assert services.api_key_secret(api_key) == secret


def test_session_login_does_not_open_the_api(client, tree):
    client.force_login(tree.top_user)
    response = client.get("/api/v1/me/")
    assert (response.status_code, code_of(response)) == (401, "missing_signature")


# --- the documented worked example -------------------------------------------------------------------


def test_the_worked_example_in_the_docs_is_right():
    text = DOC.read_text()

    def row(name):
        return re.search(rf"\| {name} \| `([^`]+)` \|", text).group(1)

    secret, timestamp, nonce, body = row("secret"), row("timestamp"), row("nonce"), row("body").encode()
    blocks = re.findall(r"```\n(.*?)\n```", text, re.S)
    digest, to_sign, expected = blocks[1], blocks[2], blocks[3]
    assert apisign.body_digest(body) == digest
    assert apisign.string_to_sign(method="POST", path="/api/v1/quotas/transfers/", timestamp=timestamp, nonce=nonce, body=body) == to_sign
    assert (
        apisign.signature(secret=secret, method="POST", path="/api/v1/quotas/transfers/", timestamp=timestamp, nonce=nonce, body=body)
        == expected
    )
    get_signature = apisign.signature(
        secret=secret, method="GET", path="/api/v1/downline/?status=active&limit=50", timestamp=timestamp, nonce=nonce, body=b""
    )
    assert f"give `{get_signature}`" in text


# --- endpoints -------------------------------------------------------------------------------------


def test_catalog_with_my_prices(client, key, tree, priced):
    hidden = factories.SkuFactory(code="HIDDEN-1")
    factories.PriceEntryFactory(level=tree.general, sku=hidden)
    pool = ProductPool.objects.create(name="独家")
    pool.skus.add(hidden)
    pool.distributors.add(tree.neighbour)
    response = signed(client, key, "GET", "/api/v1/catalog/")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["sku"] == "IQIYI-VIP-M1"
    assert (row["purchase_price"], row["suggested_retail"], row["price_floor"]) == ("19.50", "25.00", "23.00")
    assert row["sources"]["purchase_price"]["kind"] == "level_price_list"
    quote = signed(client, key, "GET", "/api/v1/catalog/IQIYI-VIP-M1/?quantity=3").json()
    assert (quote["quantity"], quote["total"]) == (3, "58.50")
    assert signed(client, key, "GET", "/api/v1/catalog/HIDDEN-1/").status_code == 404
    bad = signed(client, key, "GET", "/api/v1/catalog/IQIYI-VIP-M1/?quantity=0")
    assert (bad.status_code, code_of(bad), list(bad.json()["error"]["fields"])) == (400, "invalid", ["quantity"])


def test_quotas_and_transfer(client, key, tree, sku):
    ops = factories.UserFactory(username="ops-api", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=30, actor=ops)
    services.quota_allocate(distributor=tree.neighbour, sku=sku, quantity=30, actor=ops)
    results = signed(client, key, "GET", "/api/v1/quotas/").json()["results"]
    assert [(r["sku"], r["balance"]) for r in results] == [("IQIYI-VIP-M1", 30)]
    transfer = {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 12}
    response = signed(client, key, "POST", "/api/v1/quotas/transfers/", transfer, idempotency_key="t-1")
    assert response.status_code == 201, response.json()
    assert Quota.objects.get(distributor=tree.leaf).balance == 12
    assert response.json()["reference"] == f"api:{key[0].key_id}"
    too_much = {"to_distributor": tree.mid.pk, "sku": sku.code, "quantity": 19}
    refused = signed(client, key, "POST", "/api/v1/quotas/transfers/", too_much, idempotency_key="t-2")
    assert (refused.status_code, code_of(refused)) == (409, "quota_exceeded")
    invalid = signed(client, key, "POST", "/api/v1/quotas/transfers/", {"sku": sku.code, "quantity": -1}, idempotency_key="t-3")
    assert set(invalid.json()["error"]["fields"]) == {"to_distributor", "quantity"}


def test_a_quota_transfer_needs_an_idempotency_key(client, key, tree, sku):
    ops = factories.UserFactory(username="ops-idem", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=5, actor=ops)
    transfer = {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 2}
    for missing in (None, "", "x" * 101):
        response = signed(client, key, "POST", "/api/v1/quotas/transfers/", transfer, idempotency_key=missing)
        assert (response.status_code, code_of(response)) == (400, "idempotency_key_required")
        assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert not Quota.objects.filter(distributor=tree.leaf).exists()


def test_a_retried_quota_transfer_moves_quota_once(client, key, tree, sku):
    ops = factories.UserFactory(username="ops-retry", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=5, actor=ops)
    transfer = {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 2}
    first = signed(client, key, "POST", "/api/v1/quotas/transfers/", transfer, idempotency_key="retry-1")
    # the same body with its keys in another order and other whitespace is the same request
    path, body = "/api/v1/quotas/transfers/", b'{ "quantity": 2, "sku": "%s", "to_distributor": %d }' % (sku.code.encode(), tree.leaf.pk)
    headers = apisign.signed_headers(key_id=key[0].key_id, secret=key[1], method="POST", path=path, body=body)
    retry = client.post(path, data=body, content_type="application/json", headers={**headers, "Idempotency-Key": "retry-1"})
    assert (first.status_code, retry.status_code, retry.json(), retry.headers["Idempotent-Replayed"]) == (201, 201, first.json(), "true")
    assert Quota.objects.get(distributor=tree.leaf).balance == 2
    other = signed(client, key, "POST", "/api/v1/quotas/transfers/", {**transfer, "quantity": 3}, idempotency_key="retry-1")
    assert (other.status_code, code_of(other), list(other.json()["error"]["fields"])) == (409, "idempotency_conflict", ["Idempotency-Key"])
    assert Quota.objects.get(distributor=tree.leaf).balance == 2


def test_a_refused_quota_transfer_keeps_no_answer(client, key, tree, sku):
    ops = factories.UserFactory(username="ops-refused", role=roles.OPS, is_staff=True)
    transfer = {"to_distributor": tree.leaf.pk, "sku": sku.code, "quantity": 2}
    refused = signed(client, key, "POST", "/api/v1/quotas/transfers/", transfer, idempotency_key="later-1")
    assert (refused.status_code, code_of(refused)) == (409, "quota_exceeded")
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=5, actor=ops)
    # a retry under the same key runs again once the quota is there
    retried = signed(client, key, "POST", "/api/v1/quotas/transfers/", transfer, idempotency_key="later-1")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert Quota.objects.get(distributor=tree.leaf).balance == 2


def test_downline(client, key, tree):
    body = signed(client, key, "GET", "/api/v1/downline/").json()
    assert [(r["name"], r["depth"]) for r in body["results"]] == [("浙江省代", 1), ("杭州推广员", 2), ("江苏省代", 1)]
    assert signed(client, key, "GET", f"/api/v1/downline/{tree.leaf.pk}/").json()["parent_id"] == tree.mid.pk
    limited = signed(client, key, "GET", "/api/v1/downline/?limit=1&offset=1").json()
    assert (limited["count"], [r["name"] for r in limited["results"]]) == (3, ["杭州推广员"])


def test_storefront_item_below_the_floor_is_refused(client, key, tree, priced):
    services.storefront_save(distributor=tree.top, slug="top-shop", title="Top")
    low = signed(client, key, "POST", "/api/v1/storefront/items/", {"sku": priced.code, "retail_price": "22.00"})
    assert (low.status_code, code_of(low)) == (422, "price_below_floor")
    assert "retail_price" in low.json()["error"]["fields"]
    assert PriceViolation.objects.get().channel == PriceViolation.Channel.API
    ok = signed(client, key, "POST", "/api/v1/storefront/items/", {"sku": priced.code, "retail_price": "24.00"})
    assert ok.status_code == 200 and ok.json()["sellable"] is True


# --- a neighbour's ids: 404 everywhere ---------------------------------------------------------------


def test_a_neighbours_ids_are_not_found(client, key, tree, sku):
    ops = factories.UserFactory(username="ops-idor", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=5, actor=ops)
    for other in (tree.neighbour, tree.neighbour_child, tree.top):
        response = signed(client, key, "GET", f"/api/v1/downline/{other.pk}/")
        assert (response.status_code, code_of(response)) == (404, "not_in_downline")
        payload = {"to_distributor": other.pk, "sku": sku.code, "quantity": 1}
        transfer = signed(client, key, "POST", "/api/v1/quotas/transfers/", payload, idempotency_key=f"to-{other.pk}")
        assert transfer.status_code == 404
    names = [r["name"] for r in signed(client, key, "GET", "/api/v1/downline/").json()["results"]]
    assert tree.neighbour_child.name not in names
    # the mid distributor's key sees only its own subtree, not its upline or sibling
    mid_key = services.api_key_issue(distributor=tree.mid)
    for other in (tree.top, tree.sibling):
        assert signed(client, mid_key, "GET", f"/api/v1/downline/{other.pk}/").status_code == 404
    assert signed(client, mid_key, "GET", "/api/v1/quotas/").json()["results"] == []


def test_storefront_items_list_only_my_own(client, key, tree, priced):
    from channels.models import StorefrontItem

    other = factories.SkuFactory(code="YOUKU-VIP-M1")
    factories.PriceEntryFactory(level=tree.general, sku=other, price_floor=Decimal("1.00"))
    # no storefront yet: an empty list, nothing of anyone else's
    assert signed(client, key, "GET", "/api/v1/storefront/items/").json()["results"] == []
    services.storefront_save(distributor=tree.top, slug="top-shop", title="Top")
    services.storefront_save(distributor=tree.neighbour, slug="neighbour-shop", title="N")
    services.storefront_save(distributor=tree.mid, slug="mid-shop", title="M")
    mine = services.storefront_item_set(distributor=tree.top, sku=priced, retail_price=Decimal("24.00"))
    services.storefront_item_set(distributor=tree.neighbour, sku=priced, retail_price=Decimal("24.50"))
    services.storefront_item_set(distributor=tree.neighbour, sku=other, retail_price=Decimal("9.00"))
    services.storefront_item_set(distributor=tree.mid, sku=priced, retail_price=Decimal("24.80"))

    body = signed(client, key, "GET", "/api/v1/storefront/items/").json()
    assert (body["count"], [(r["id"], r["sku"], r["retail_price"]) for r in body["results"]]) == (1, [(mine.pk, priced.code, "24.00")])
    # my downline's storefront is its own, not mine; and the mid key sees only the mid's item, not its upline's
    mid_rows = signed(client, services.api_key_issue(distributor=tree.mid), "GET", "/api/v1/storefront/items/").json()["results"]
    assert [(r["sku"], r["retail_price"]) for r in mid_rows] == [(priced.code, "24.80")]

    # listing a SKU the neighbour also lists writes to my storefront only
    response = signed(client, key, "POST", "/api/v1/storefront/items/", {"sku": priced.code, "retail_price": "23.50"})
    assert response.status_code == 200 and response.json()["id"] == mine.pk
    neighbour_prices = StorefrontItem.objects.filter(storefront__distributor=tree.neighbour).values_list("retail_price", flat=True)
    assert sorted(neighbour_prices) == [Decimal("9.00"), Decimal("24.50")]


def test_a_sku_of_a_neighbours_exclusive_pool_cannot_be_listed(client, key, tree, neighbours_exclusive):
    from channels.models import StorefrontItem

    exclusive = neighbours_exclusive
    services.storefront_save(distributor=tree.top, slug="top-shop", title="Top")
    services.storefront_save(distributor=tree.neighbour, slug="neighbour-shop", title="N")
    assert services.storefront_item_set(distributor=tree.neighbour, sku=exclusive, retail_price=Decimal("24.00"))  # theirs to sell

    response = signed(client, key, "POST", "/api/v1/storefront/items/", {"sku": exclusive.code, "retail_price": "24.00"})
    assert (response.status_code, code_of(response)) == (404, "sku_not_available")
    assert not StorefrontItem.objects.filter(storefront__distributor=tree.top).exists()
    assert not PriceViolation.objects.exists()  # refused as invisible, not as a price
    assert exclusive.code not in json.dumps(signed(client, key, "GET", "/api/v1/storefront/items/").json())
    assert exclusive.code not in [r["sku"] for r in signed(client, key, "GET", "/api/v1/catalog/").json()["results"]]


# --- the command and the schema ---------------------------------------------------------------------


def test_issue_api_key_command_prints_a_working_key(client, tree):
    out = StringIO()
    call_command("issue_api_key", "--user", tree.top_user.username, stdout=out)
    match = re.fullmatch(r"key=(vhk_\w+) secret=(\S+)\n", out.getvalue())
    assert match
    api_key = ApiKey.objects.get(key_id=match.group(1))
    assert api_key.distributor == tree.top
    assert signed(client, (api_key, match.group(2)), "GET", "/api/v1/me/").status_code == 200
    with pytest.raises(CommandError):
        call_command("issue_api_key", "--user", "nobody-here")
    with pytest.raises(CommandError):
        call_command("issue_api_key", "--user", factories.UserFactory().username)


def test_schema_declares_the_signature_scheme(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["components"]["securitySchemes"]["VHSignature"]["name"] == "X-VH-Key"
    for path in ("/api/v1/catalog/", "/api/v1/quotas/", "/api/v1/downline/", "/api/v1/quotas/transfers/"):
        assert path in schema["paths"]
    assert client.get("/api/docs/").status_code == 200


def test_money_is_decimal_in_quotes(client, key, priced):
    row = signed(client, key, "GET", "/api/v1/catalog/").json()["results"][0]
    assert Decimal(row["purchase_price"]) == Decimal("19.50") and isinstance(row["purchase_price"], str)
