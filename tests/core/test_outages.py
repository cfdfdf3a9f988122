"""A dependency that is away for a moment is a 503 with Retry-After and its own code, never a 500: PostgreSQL
refusing connections, Redis unreachable (each injected for real: a connection to a closed port), for the signed
API (JSON, code `unavailable`) and for pages (the branded "try again in a moment" page, in both languages).
A deadlock or any other bug stays a 500. See voucherhub/core/outages.py."""

import json
import socket
from contextlib import contextmanager

import psycopg
import pytest
from django.db import OperationalError, connections
from django.test import Client
from django.utils import translation

from channels import services as channel_services
from tests import factories
from voucherhub.core import apisign, roles
from voucherhub.core.outages import is_outage

PAGE = "/account/"


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_refusing_connections():
    """The default database's next connection goes to a closed port (as while PostgreSQL restarts)."""
    conn = connections["default"]
    conn.close()
    saved = conn.settings_dict["HOST"], conn.settings_dict["PORT"]
    conn.settings_dict["HOST"], conn.settings_dict["PORT"] = "127.0.0.1", str(closed_port())
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["HOST"], conn.settings_dict["PORT"] = saved


@pytest.fixture
def api_key(db):
    level = factories.DistributorLevelFactory(name="总代", position=1)
    distributor = factories.DistributorFactory(name="华东总代", level=level)
    return channel_services.api_key_issue(distributor=distributor, label="ERP")


@pytest.fixture
def people(db, api_key):
    """A logged-in page client and a signed-API caller, none of which raises the server's exceptions."""
    user = factories.UserFactory(username="finance-outage", role=roles.FINANCE, is_staff=True)
    page = Client(raise_request_exception=False)
    page.force_login(user)
    key, secret = api_key

    def api_get(path: str):
        headers = apisign.signed_headers(key_id=key.key_id, secret=secret, method="GET", path=path)
        return Client(raise_request_exception=False).get(path, headers=headers)

    return page, api_get


def assert_unavailable_page(response, language: str) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert 'data-testid="unavailable"' in html and "VoucherHub" in html
    with translation.override(language):
        assert translation.gettext("Try again in a moment") in html
    assert "Server Error" not in html and "Traceback" not in html


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("application/json")
    error = json.loads(response.content)["error"]
    assert error["code"] == "unavailable" and error["fields"] == {}
    assert "Idempotency-Key" in error["message"]  # the client retries the same request under the same key


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refusing_connections_is_a_503_for_pages_and_the_api(people):
    page, api_get = people
    assert page.get(PAGE).status_code == 200 and api_get("/api/v1/me/").status_code == 200

    with database_refusing_connections():
        for language in ("zh-hans", "en"):
            assert_unavailable_page(page.get(PAGE, HTTP_ACCEPT_LANGUAGE=language), language)
        assert_unavailable_json(api_get("/api/v1/me/"))

    # the database is back: so is the service, with nothing to restart
    assert page.get(PAGE).status_code == 200 and api_get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
def test_redis_unreachable_is_a_503_for_pages_and_the_api(people, settings):
    page, api_get = people
    finance_home = "/dashboards/finance/"  # reads the ledger check from the cache
    assert page.get(finance_home).status_code == 200

    settings.CACHES = {
        "default": {"BACKEND": "voucherhub.core.cache.ReusedClientRedisCache", "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}
    }

    for language in ("zh-hans", "en"):
        assert_unavailable_page(page.get(finance_home, HTTP_ACCEPT_LANGUAGE=language), language)
    assert_unavailable_json(api_get("/api/v1/me/"))  # the signature's nonce is spent in Redis


@pytest.mark.parametrize(
    "error, outage",
    [
        (psycopg.OperationalError("connection refused"), True),  # no SQLSTATE: the connection itself failed
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.TooManyConnections("sorry, too many clients already"), True),
        (psycopg.errors.ConnectionFailure("connection failure"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),  # retried by the code that meets it
        (psycopg.errors.SerializationFailure("could not serialize access"), False),
        (psycopg.errors.LockNotAvailable("lock timeout"), False),
        (psycopg.errors.QueryCanceled("statement timeout"), False),
    ],
)
def test_only_connection_level_database_errors_are_outages(error, outage):
    wrapped = OperationalError(str(error))
    wrapped.__cause__ = error  # as Django's DatabaseErrorWrapper raises them
    assert is_outage(wrapped) is outage
    assert is_outage(ValueError("a bug")) is False


def test_the_api_handler500_tells_a_deadlock_500_from_a_lost_connection_503(rf):
    """The API stack's handler500: `server_error` for anything that is not an outage."""
    from voucherhub.core import api

    request = rf.get("/api/v1/me/")
    try:
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")
    except OperationalError:
        response = api.server_error(request)
    assert response.status_code == 500 and json.loads(response.content)["error"]["code"] == "server_error"
    assert "Retry-After" not in response
    # the same handler, for a connection that failed (raised in a middleware, before any DRF view)
    try:
        raise OperationalError("connection refused") from psycopg.OperationalError("connection refused")
    except OperationalError:
        response = api.server_error(request)
    assert response.status_code == 503 and json.loads(response.content)["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "5"
