import pytest
from django.test import RequestFactory

from voucherhub.core import apisign, sealing

SECRET = "s3cr3t-value"


def lookup_for(**overrides):
    def lookup(key_id):
        if key_id != "key-1":
            return None
        return apisign.Credential(**{"key_id": "key-1", "secret": SECRET, "active": True, **overrides})

    return lookup


def signed_request(method="POST", path="/api/v1/orders/?x=1", body=b'{"a": 1}', remote="10.0.0.5", **kw):
    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method=method, path=path, body=body, **kw)
    factory = RequestFactory()
    return factory.generic(method, path, data=body, content_type="application/json", REMOTE_ADDR=remote, headers=headers)


def codes_of(request, **overrides):
    with pytest.raises(apisign.SignatureError) as info:
        apisign.verify(request, lookup=lookup_for(**overrides))
    return info.value.get_codes()


def test_valid_request_is_accepted(db):  # a POST: its nonce is kept in the database too
    assert apisign.verify(signed_request(), lookup=lookup_for()).key_id == "key-1"


def test_each_failure_has_its_own_code():
    request = signed_request()
    request.META["HTTP_X_VH_SIGNATURE"] = "0" * 64
    assert codes_of(request) == "bad_signature"
    assert codes_of(signed_request(timestamp=1_000_000)) == "stale_timestamp"
    assert codes_of(signed_request(), active=False) == "revoked_key"
    assert codes_of(signed_request(), ip_allowlist=("192.168.0.0/16",)) == "ip_not_allowed"
    stray = signed_request()
    stray.META["HTTP_X_VH_KEY"] = "other"
    assert codes_of(stray) == "unknown_key"
    bare = RequestFactory().get("/api/v1/catalog/")
    assert codes_of(bare) == "missing_signature"


def test_tampered_body_or_query_fails():
    request = signed_request()
    request._body = b'{"a": 2}'
    assert codes_of(request) == "bad_signature"


def test_replayed_nonce_is_refused():
    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method="GET", path="/api/v1/catalog/")
    first = RequestFactory().get("/api/v1/catalog/", headers=headers)
    apisign.verify(first, lookup=lookup_for())
    again = RequestFactory().get("/api/v1/catalog/", headers=headers)
    assert codes_of(again) == "replayed_nonce"


def test_a_state_changing_replay_is_refused_after_the_cache_forgot_its_nonce(db):
    # given a signed POST that was accepted, whose nonce the cache then lost (this test deletes only that key)
    from django.core.cache import cache

    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method="POST", path="/api/v1/orders/", body=b"{}")

    def send():
        return RequestFactory().post("/api/v1/orders/", data=b"{}", content_type="application/json", headers=headers)

    apisign.verify(send(), lookup=lookup_for())
    cache.delete(f"vh:apinonce:key-1:{headers['X-VH-Nonce']}")

    # then the same request is still a replay: the database kept the nonce
    assert codes_of(send()) == "replayed_nonce"


def test_a_read_keeps_its_nonce_in_the_cache_only(db):
    from voucherhub.core.models import SpentNonce

    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method="GET", path="/api/v1/catalog/")
    apisign.verify(RequestFactory().get("/api/v1/catalog/", headers=headers), lookup=lookup_for())
    assert not SpentNonce.objects.exists()


def test_allowlist_accepts_cidr_and_single_addresses():
    assert apisign.ip_allowed("10.1.2.3", ["10.0.0.0/8"])
    assert apisign.ip_allowed("2001:db8::1", ["2001:db8::/32"])
    assert apisign.ip_allowed("8.8.8.8", [])
    assert not apisign.ip_allowed("8.8.8.8", ["10.0.0.1"])
    assert not apisign.ip_allowed("not-an-ip", ["10.0.0.1"])


def test_sealed_secret_round_trip_and_purpose_binding():
    blob = sealing.seal_text("hello", purpose="api-secret")
    assert b"hello" not in blob
    assert sealing.open_text(blob, purpose="api-secret") == "hello"
    with pytest.raises(sealing.SealError):
        sealing.open_text(blob, purpose="webhook-secret")


def test_a_bad_signature_spends_no_nonce():
    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method="GET", path="/api/v1/catalog/")
    forged = RequestFactory().get("/api/v1/catalog/", headers={**headers, apisign.HEADER_SIGNATURE: "0" * 64})
    assert codes_of(forged) == "bad_signature"
    assert apisign.verify(RequestFactory().get("/api/v1/catalog/", headers=headers), lookup=lookup_for()).key_id == "key-1"
