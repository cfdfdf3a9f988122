"""The two entry points that serve the signed API: the site (voucherhub.wsgi) and the API entry
(voucherhub.api_wsgi, settings voucherhub/settings/api_only.py) that the proxy routes /api/ to.

The API entry skips sessions, CSRF, login, OTP, messages, htmx and axes and resolves against the API's
routes first, yet answers exactly as the site does: the same security headers, the same error bodies in the
caller's language. What Django answers by itself (an unknown path, an unreadable body, a crash) is in the
API's JSON error body on both entries, never the site's HTML error page. The equivalence tests call a WSGI
application (what gunicorn serves) next to django.test.Client.
"""

import io
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from channels import services as channel_services
from tests import factories
from voucherhub.core import apisign

ROOT = Path(__file__).resolve().parents[2]
SECURITY_HEADERS = {"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Content-Security-Policy"}
API_CHAIN = [
    "django.middleware.security.SecurityMiddleware",
    "riskcontrol.middleware.CSPMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


@pytest.fixture
def shop(db):
    merchant = factories.MerchantFactory(name="星巴克", code=f"m-{uuid.uuid4().hex[:8]}")
    store = factories.StoreFactory(merchant=merchant, name="星巴克 一号店")
    terminal, secret = factories.terminal_for(store)
    sku = factories.SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[merchant.pk])
    return terminal, secret, sku


@pytest.fixture(autouse=True)
def _forget_terminal_credentials():
    from redemption.services import terminal_credentials_forget

    terminal_credentials_forget()
    yield
    terminal_credentials_forget()


@pytest.fixture(params=["site", "api"])
def entry(request, settings):
    """Each test below runs on both entry points: the site's settings, then the API entry's (api_only.py)."""
    if request.param == "api":
        from voucherhub.settings import api_only

        settings.ROOT_URLCONF = api_only.ROOT_URLCONF
        settings.MIDDLEWARE = api_only.MIDDLEWARE
    return request.param


@pytest.fixture
def api_entry(settings):
    """The API entry's settings (voucherhub/settings/api_only.py) in this test process."""
    from voucherhub.settings import api_only

    settings.ROOT_URLCONF = api_only.ROOT_URLCONF
    settings.MIDDLEWARE = api_only.MIDDLEWARE


def wsgi_call(method: str, path: str, body: bytes = b"", headers: dict | None = None, remote: str = "127.0.0.1"):
    """(status code, headers dict, body) from a WSGI application on the current settings, as gunicorn serves it."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": remote,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started = []
    # Like django.test.Client: the test's transaction must survive the request's connection housekeeping.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = WSGIHandler()(environ, lambda status, response_headers, *exc: started.append((status, response_headers)))
        content = b"".join(result)
        result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, response_headers = started[0]
    return int(status.split()[0]), dict(response_headers), content


def signed_terminal_headers(terminal, secret, method, path, body=b""):
    headers = apisign.signed_headers(key_id=terminal.key_id, secret=secret, method=method, path=path, body=body)
    headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers


def test_the_api_entry_runs_the_site_chain_without_the_browser_parts(settings):
    from voucherhub.settings import api_only

    assert api_only.ROOT_URLCONF == "voucherhub.api_urls"
    assert api_only.MIDDLEWARE == API_CHAIN
    # Filtered from the site's one list, in its order: a middleware added to the site reaches the API too.
    assert [m for m in settings.MIDDLEWARE if m in api_only.MIDDLEWARE] == api_only.MIDDLEWARE
    assert not hasattr(api_only, "API_MIDDLEWARE")


def test_api_requests_on_the_api_entry_take_the_short_chain(client, shop, api_entry):
    terminal, secret, sku = shop
    code, plaintext = factories.card_code(sku=sku)
    body = json.dumps({"code": plaintext}).encode()
    path = "/api/v1/redemptions/"
    response = client.post(
        path, body, content_type="application/json", headers=signed_terminal_headers(terminal, secret, "POST", path, body)
    )
    assert response.status_code == 201, response.content
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "htmx")  # no session/htmx middleware ran
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    assert SECURITY_HEADERS <= set(response.headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_site_serves_the_api_too(client, shop):
    """`make run` and the tests run the site alone: /api/v1/ answers there through the site's chain."""
    terminal, secret, sku = shop
    code, plaintext = factories.card_code(sku=sku)
    body = json.dumps({"code": plaintext}).encode()
    path = "/api/v1/redemptions/"
    response = client.post(
        path, body, content_type="application/json", headers=signed_terminal_headers(terminal, secret, "POST", path, body)
    )
    assert response.status_code == 201, response.content
    assert hasattr(response.wsgi_request, "session")
    assert SECURITY_HEADERS <= set(response.headers)


def test_api_docs_on_both_entries_and_pages_on_the_site(client, db, entry):
    if entry == "site":
        login = client.get(reverse("login"))
        assert login.status_code == 200 and hasattr(login.wsgi_request, "session")
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "'unsafe-inline'" in docs.headers["Content-Security-Policy"]


def test_the_api_entry_tries_the_api_routes_first_and_reverses_pages(api_entry):
    from django.urls import get_resolver

    patterns = get_resolver().url_patterns
    assert str(patterns[0].pattern) == "api/v1/"
    assert reverse("login") == "/accounts/login/"  # an API answer may link to a page (a holder's link, a payment page)


def test_the_api_entry_module_serves_the_api_settings():
    """voucherhub.api_wsgi, imported as gunicorn imports it: the API entry's settings, JSON for an unknown path."""
    script = (
        "import io, json, sys\n"
        "from voucherhub.api_wsgi import application\n"
        "from django.conf import settings\n"
        "environ = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/api/v1/no-such-thing/', 'SERVER_NAME': 'testserver',\n"
        "           'SERVER_PORT': '80', 'HTTP_HOST': 'testserver', 'HTTP_ACCEPT_LANGUAGE': 'en', 'wsgi.input': io.BytesIO(),\n"
        "           'wsgi.url_scheme': 'http', 'wsgi.errors': sys.stderr, 'SERVER_PROTOCOL': 'HTTP/1.1', 'QUERY_STRING': ''}\n"
        "started = []\n"
        "body = b''.join(application(environ, lambda status, headers, *exc: started.append(status)))\n"
        "print(json.dumps([settings.SETTINGS_MODULE, settings.MIDDLEWARE, started[0], json.loads(body)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {"DEBUG": "false"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    module, middleware, status, body = json.loads(done.stdout.strip().splitlines()[-1])
    assert (module, middleware, status) == ("voucherhub.settings.api_only", API_CHAIN, "404 Not Found")
    assert body == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_the_api_entry_refuses_the_site_settings():
    """DJANGO_SETTINGS_MODULE=voucherhub.settings left in gunicorn's environment: a clear error, not the whole chain."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    done = subprocess.run(
        [sys.executable, "-c", "import voucherhub.api_wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "voucherhub.api_wsgi needs the API entry's settings" in done.stderr


def test_errors_keep_their_body_and_language(client, db, entry):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_signature"
    assert response.headers["Content-Language"] == "zh-hans"
    english = client.get("/api/v1/me/", headers={"Accept-Language": "en"})
    assert english.headers["Content-Language"] == "en"
    assert english.json()["error"]["message"] == "Signed headers X-VH-Key, X-VH-Timestamp, X-VH-Nonce and X-VH-Signature are required."
    assert english.json()["error"]["message"] != response.json()["error"]["message"]


def test_unknown_api_path_is_a_404_in_the_error_body(client, db, entry):
    for path in ("/api/v1/no-such-thing/", "/api/v1/downline/not-a-number/", "/api/v1/"):
        response = client.get(path, headers={"Accept-Language": "en"})
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
        assert SECURITY_HEADERS <= set(response.headers)
    chinese = client.get("/api/v1/no-such-thing/")
    assert chinese.json()["error"]["message"] != "Not found." and chinese.headers["Content-Language"] == "zh-hans"
    assert client.post("/api/v1/no-such-thing/", b"{", content_type="application/json").json()["error"]["code"] == "not_found"


def test_unknown_api_path_under_debug_is_djangos_own_page(client, db, entry, settings):
    """Development only: under DEBUG Django answers an unknown path with its technical 404 page, on either entry
    (plain Django; production, DEBUG off, answers the JSON 404 above)."""
    settings.DEBUG = True
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404


def distributor_signed(client, method: str, path: str, body: bytes = b""):
    key, secret = channel_services.api_key_issue(distributor=factories.DistributorFactory(), label="ERP")
    headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method=method, path=path, body=body)
    return client.generic(method, path, data=body, content_type="application/json", headers=headers)


def test_a_wrong_method_is_a_405_in_the_error_body(client, db, entry):
    response = distributor_signed(client, "DELETE", "/api/v1/me/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert "GET" in response.headers["Allow"]


def test_a_malformed_json_body_is_a_400_in_the_error_body(client, db, entry):
    response = distributor_signed(client, "POST", "/api/v1/storefront/items/", b'{"sku": "X", "retail_price": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_a_request_django_refuses_is_a_400_in_the_error_body(client, db, entry):
    # A Host outside ALLOWED_HOSTS: CommonMiddleware raises DisallowedHost before any view runs.
    response = client.get("/api/v1/me/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_crash_is_a_500_in_the_error_body_without_details(db, entry, monkeypatch):
    from channels.api import MeApi

    def crash(self, request):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(MeApi, "get", crash)
    response = distributor_signed(Client(raise_request_exception=False), "GET", "/api/v1/me/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert b"secret detail" not in response.content


def test_missing_slash_redirects_like_before(client, db, entry):
    response = client.get("/api/v1/me")
    assert response.status_code == 301 and response.headers["Location"] == "/api/v1/me/"


def _same(test_client_response, wsgi_answer, *, compare_body=True):
    status, headers, body = wsgi_answer
    assert status == test_client_response.status_code
    assert set(headers) == set(test_client_response.headers)
    for name in SECURITY_HEADERS | {"Content-Type", "Content-Language", "Vary"}:
        assert headers.get(name) == test_client_response.headers.get(name), name
    if compare_body:
        assert body == test_client_response.content


def test_wsgi_application_answers_like_the_test_client(client, shop, entry):
    """The WSGI application gunicorn serves and django.test.Client take the same stack: same status, headers, body."""
    terminal, secret, sku = shop
    # errors: unsigned, bad signature, unknown path
    _same(client.get("/api/v1/me/"), wsgi_call("GET", "/api/v1/me/"))
    bad = apisign.signed_headers(key_id=terminal.key_id, secret="wrong", method="GET", path="/api/v1/redemptions/")
    _same(client.get("/api/v1/redemptions/", headers=bad), wsgi_call("GET", "/api/v1/redemptions/", headers=bad))
    _same(client.get("/api/v1/no-such-thing/"), wsgi_call("GET", "/api/v1/no-such-thing/"))

    # a redemption each way (different codes: compare the shape, and both are stored)
    path = "/api/v1/redemptions/"
    _, first = factories.card_code(sku=sku)
    _, second = factories.card_code(sku=sku)
    body_1, body_2 = json.dumps({"code": first}).encode(), json.dumps({"code": second}).encode()
    via_client = client.post(
        path, body_1, content_type="application/json", headers=signed_terminal_headers(terminal, secret, "POST", path, body_1)
    )
    via_wsgi = wsgi_call("POST", path, body_2, headers=signed_terminal_headers(terminal, secret, "POST", path, body_2))
    _same(via_client, via_wsgi, compare_body=False)
    assert via_client.status_code == 201
    assert set(json.loads(via_wsgi[2])) == set(via_client.json())
    assert json.loads(via_wsgi[2])["status"] == "completed"

    # a replayed nonce is refused on the server's path too
    replay = signed_terminal_headers(terminal, secret, "GET", path)
    assert wsgi_call("GET", path, headers=replay)[0] == 200
    status, _, content = wsgi_call("GET", path, headers=replay)
    assert (status, json.loads(content)["error"]["code"]) == (401, "replayed_nonce")


def test_distributor_catalog_through_the_wsgi_application(db, entry):
    distributor = factories.DistributorFactory()
    key, secret = channel_services.api_key_issue(distributor=distributor, label="ERP")
    headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method="GET", path="/api/v1/catalog/")
    status, response_headers, body = wsgi_call("GET", "/api/v1/catalog/", headers=headers)
    assert status == 200, body
    assert response_headers["Content-Type"] == "application/json"
    assert SECURITY_HEADERS <= set(response_headers)
    assert "results" in json.loads(body) or isinstance(json.loads(body), list)


def test_distributor_key_is_touched_at_most_once_a_minute(client, db):
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from channels.models import ApiKey

    distributor = factories.DistributorFactory()
    key, secret = channel_services.api_key_issue(distributor=distributor, label="ERP")

    def me():
        headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method="GET", path="/api/v1/me/")
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/me/", headers=headers).status_code == 200
        return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "channels_apikey" in q["sql"]]

    assert len(me()) == 1  # never used: touched
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert me() == []  # within the minute: no write at all
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(seconds=61))
    assert len(me()) == 1
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_asgi_serves_the_api_through_the_site(db):
    import asyncio
    import threading

    from django.test import AsyncClient

    # In a thread of its own: a browser test earlier in this worker may have left an event loop here.
    answers = []
    worker = threading.Thread(
        target=lambda: answers.append(asyncio.run(AsyncClient().get("/api/v1/me/", headers={"Accept-Language": "en"})))
    )
    worker.start()
    worker.join()
    [response] = answers
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_signature"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
