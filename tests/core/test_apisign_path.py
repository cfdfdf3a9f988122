"""The signature covers the path and query exactly as the client sent them (docs/api-signing.md).

A WSGI server decodes the path (`/VH%3A1/` reaches Django as `/VH:1/`); the raw request target comes from
the server: RAW_URI (gunicorn), REQUEST_URI (uWSGI, mod_wsgi), an ASGI scope's raw_path. Django's test
client sets none of them, so these tests pass them in the environ as a server would; without them the
decoded path is percent-encoded again in the documented canonical form.
"""

import io

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import RequestFactory

from tests.core.test_apisign import SECRET, codes_of, lookup_for
from voucherhub.core import apisign

# Every reserved character of RFC 3986 (gen-delims and sub-delims), the percent sign itself and a space.
RESERVED = list(":/?#[]@!$&'()*+,;=") + ["%", " "]


def encoded(char: str) -> str:
    return f"%{ord(char):02X}"


def request_for(path: str, *, signed_as: str, method: str = "GET", **environ):
    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method=method, path=signed_as)
    return RequestFactory().generic(method, path, headers=headers, **environ)


def accepted(request) -> bool:
    return apisign.verify(request, lookup=lookup_for()).key_id == "key-1"


@pytest.mark.parametrize("server_key", ["RAW_URI", "REQUEST_URI"])
@pytest.mark.parametrize("char", RESERVED, ids=[f"{ord(c):02X}" for c in RESERVED])
def test_a_path_with_an_encoded_reserved_character_is_verified_as_sent(server_key, char):
    sent = f"/api/v1/orders/VH{encoded(char)}1/?note=a{encoded(char)}b"
    # signed exactly as sent: accepted
    assert accepted(request_for(sent, signed_as=sent, **{server_key: sent}))
    # signed in its decoded form: that is not what was sent
    decoded = f"/api/v1/orders/VH{char}1/?note=a{encoded(char)}b"
    assert codes_of(request_for(sent, signed_as=decoded, **{server_key: sent})) == "bad_signature"


@pytest.mark.parametrize("char", list(":@!$&'()*+,;="), ids=lambda c: f"{ord(c):02X}")
def test_a_reserved_character_sent_unencoded_is_verified_as_sent(char):
    sent = f"/api/v1/orders/VH{char}1/"
    assert accepted(request_for(sent, signed_as=sent, RAW_URI=sent))
    assert codes_of(request_for(sent, signed_as=f"/api/v1/orders/VH{encoded(char)}1/", RAW_URI=sent)) == "bad_signature"


def test_an_absolute_form_target_is_verified_by_its_path_and_query():
    path = "/api/v1/orders/VH%3A1/?limit=5"
    assert accepted(request_for(path, signed_as=path, RAW_URI="https://api.voucherhub.example" + path))


def test_a_header_cannot_stand_in_for_the_servers_raw_uri():
    # given: no raw target from the server, and a client header that tries to name one
    sent = "/api/v1/orders/VH%3A1/"
    headers = {**apisign.signed_headers(key_id="key-1", secret=SECRET, method="GET", path="/api/v1/other/"), "Raw-URI": "/api/v1/other/"}
    request = RequestFactory().get(sent, headers=headers)
    # then: it is an HTTP_ header, ignored
    assert codes_of(request) == "bad_signature"


@pytest.mark.parametrize("char", [c for c in RESERVED if c != "/"], ids=[f"{ord(c):02X}" for c in RESERVED if c != "/"])
def test_without_a_raw_uri_the_canonical_encoding_is_verified(char):
    """The fallback (a server that keeps no raw target): the decoded path encoded again as the docs say.
    (An encoded "/" cannot be told from a "/" there.)"""
    canonical = f"/api/v1/orders/VH{encoded(char)}1/?note=a{encoded(char)}b"
    assert accepted(request_for(canonical, signed_as=canonical))
    assert codes_of(request_for(canonical, signed_as=f"/api/v1/orders/VH{char}1/?note=a{encoded(char)}b")) == "bad_signature"


def test_without_a_raw_uri_a_non_ascii_path_is_utf8_percent_encoded():
    canonical = "/api/v1/catalog/%E5%92%96%E5%95%A1/"
    assert accepted(request_for(canonical, signed_as=canonical))


def test_an_asgi_request_is_verified_by_its_raw_path():
    sent = "/api/v1/orders/VH%3A1/"
    headers = apisign.signed_headers(key_id="key-1", secret=SECRET, method="GET", path=sent + "?limit=5")
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/orders/VH:1/",
        "raw_path": sent.encode(),
        "query_string": b"limit=5",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("10.0.0.5", 5000),
    }
    assert accepted(ASGIRequest(scope, io.BytesIO(b"")))
