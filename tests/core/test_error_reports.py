"""A server error in a request that carries a plaintext card code never shows or reports the code.

Each view that takes a code (in a form or a JSON body) crashes here on purpose, in the service it hands the
code to, so the code sits in POST and in local variables of several frames. Then the three ways Django
tells about a crash are read: the DEBUG error page (technical_500_response: every frame's variables and
the POST data), the error mail to ADMINS (ExceptionReporter's text report: the POST data) and the
`django.request` log record. Each must show the traceback and the forced failure, and never the code; the
POST field is there, starred.
"""

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from redemption.services import clerk_link
from tests import factories
from voucherhub.core import apisign, roles

pytestmark = pytest.mark.django_db

FAILURE = "forced failure in the service"
STARS = "********************"  # SafeExceptionReporterFilter.cleansed_substitute


def explode(*args, **kwargs):
    """Stands in for the service the view hands the code to: the code is among its arguments (a local)."""
    raise RuntimeError(FAILURE)


@dataclass
class Case:
    service: str  # "module.function" the view calls with the code
    method: str
    path: str
    form: dict | None = None  # a form post
    json_body: dict | None = None  # a signed terminal request
    user: str = "ops"
    posted_field: str | None = "code"  # the form field that carries the code (a JSON body is not POST data)


@pytest.fixture
def shop(db):
    merchant = factories.MerchantFactory(name="星巴克", code=f"m-{uuid.uuid4().hex[:8]}")
    store = factories.StoreFactory(merchant=merchant)
    terminal, secret = factories.terminal_for(store)
    sku = factories.SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[merchant.pk])
    clerk = factories.UserFactory(username="clerk-errors", role=roles.MERCHANT)
    clerk_link(user=clerk, merchant=merchant, stores=())
    return store, terminal, secret, sku, clerk


@pytest.fixture(autouse=True)
def _forget_terminal_credentials():
    from redemption.services import terminal_credentials_forget

    terminal_credentials_forget()
    yield
    terminal_credentials_forget()


def cases(plaintext: str, store) -> dict[str, Case]:
    return {
        "console verify": Case(
            "redemption.services.redemption_verify", "POST", "/merchant/verify/", {"code": plaintext, "store": store.pk}, user="clerk"
        ),
        "console redeem": Case(
            "redemption.services.redemption_redeem",
            "POST",
            "/merchant/redeem/",
            {"code": plaintext, "serial": "", "idempotency_key": uuid.uuid4().hex, "store": store.pk},
            user="clerk",
        ),
        "ops trace": Case("channels.selectors.trace_code", "POST", reverse("channels:ops-trace"), {"q": plaintext}, posted_field="q"),
        "admin find by code": Case(
            "catalog.services.code_lookup", "POST", reverse("admin:catalog_cardcode_find_by_code"), {"apply": "1", "code": plaintext}
        ),
        "terminal verify": Case(
            "redemption.services.redemption_verify", "POST", "/api/v1/redemptions/verify/", json_body={"code": plaintext}, posted_field=None
        ),
        "terminal redeem": Case(
            "redemption.services.redemption_redeem", "POST", "/api/v1/redemptions/", json_body={"code": plaintext}, posted_field=None
        ),
    }


def send(case: Case, *, shop, ops_user):
    store, terminal, secret, _sku, clerk = shop
    client = Client(raise_request_exception=False)
    if case.json_body is not None:
        body = json.dumps(case.json_body).encode()
        headers = apisign.signed_headers(key_id=terminal.key_id, secret=secret, method=case.method, path=case.path, body=body)
        headers["Idempotency-Key"] = uuid.uuid4().hex
        return client.generic(case.method, case.path, body, content_type="application/json", headers=headers)
    client.force_login(clerk if case.user == "clerk" else ops_user)
    return client.post(case.path, case.form)


def shapes(plaintext: str) -> list[str]:
    return [plaintext, plaintext.replace("-", ""), plaintext.lower(), plaintext.replace("-", "").lower()]


@pytest.mark.parametrize(
    "name", ["console verify", "console redeem", "ops trace", "admin find by code", "terminal verify", "terminal redeem"]
)
def test_a_crash_with_a_code_in_the_request_never_shows_or_reports_it(name, shop, ops_user, settings, monkeypatch, caplog):
    from catalog import codegen

    _store, _terminal, _secret, sku, _clerk = shop
    _code, raw = factories.card_code(sku=sku)
    plaintext = codegen.pretty(raw)  # as printed on the card: ABCD-EFGH-…
    case = cases(plaintext, shop[0])[name]
    module, function = case.service.rsplit(".", 1)
    monkeypatch.setattr(f"{module}.{function}", explode)

    # the DEBUG error page, as `make run` serves it
    settings.DEBUG = True
    page = send(case, shop=shop, ops_user=ops_user)
    html = page.content.decode()
    assert page.status_code == 500 and "RuntimeError" in html and FAILURE in html, html[:500]
    assert "Local vars" in html  # the page lists frame variables: the scan below means something
    if case.posted_field:
        assert case.posted_field in html and STARS in html
    for shape in shapes(plaintext):
        assert shape not in html, f"{name}: the code is on the DEBUG error page"

    # production: the error mail to ADMINS (the text report) and the log record
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    caplog.clear()
    response = send(case, shop=shop, ops_user=ops_user)
    assert response.status_code == 500
    assert plaintext not in response.content.decode()
    (report,) = mail.outbox
    assert FAILURE in report.body and "Traceback" in report.body
    if case.posted_field:
        assert f"{case.posted_field} = '{STARS}'" in report.body
    records = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert records
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {getattr(r, 'request', '')!r}" for r in records)
    for shape in shapes(plaintext):
        assert shape not in report.body, f"{name}: the code is in the error mail"
        assert shape not in logged, f"{name}: the code is in the error log"
