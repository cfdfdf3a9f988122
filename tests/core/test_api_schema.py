"""The OpenAPI schema at /api/schema/ says what the API does: every operation is called with valid and invalid
input through the test client, and every answer is checked against the schema with schemathesis.

For each operation: hand-written valid requests (real SKUs, orders, codes and redemptions of the world below)
that must succeed, then requests schemathesis generates from the schema, schema-valid (positive) and
schema-invalid (negative), a bounded number of each with a fixed seed. Every answer must be documented: its
status code, its content type and its body's shape; a negative request must be refused with a 4xx; none may
be a 5xx. Signed operations are signed like a client signs them (voucherhub.core.apisign), so the answers are
the API's, not the signature check's; each valid request is also sent unsigned, which must be a documented 401.
A response the schema documents passes whatever its status (a new documented 429 does); one it does not, fails.

Only JSON bodies are generated (the API is JSON in and out; DRF also parses forms, which are not exercised).

Below that, the input rules the schema states are compared with the API's verdicts (one of code or QR token,
the Idempotency-Key), and the lists' parameters are checked (a bad limit, offset or filter is a 400 naming it).
"""

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import jsonschema
import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import GenerationConfig, ProjectConfig, ProjectsConfig, SchemathesisConfig
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from channels.models import Storefront
from channels.services import api_key_issue, quota_allocate
from redemption.services import terminal_credentials_forget
from tests import factories
from tests.redemption.conftest import shop_make
from tests.settlement.conftest import fund, tree_make
from voucherhub.core import apisign

pytestmark = [pytest.mark.django_db]

EXAMPLES = 10  # generated requests per operation and mode: bounded, so the whole file stays well under a minute
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
NEGATIVE_CHECKS = (negative_data_rejection,)  # schema-invalid input must be refused (4xx)


@dataclass
class World:
    """Who calls the API and the rows that valid requests name."""

    distributor_key: tuple  # (key id, secret) of `mid`, which has a downline, a wallet, quota and a storefront
    terminal_key: tuple  # (key id, secret) of a POS terminal
    sku: str
    downline_id: int
    order_number: str
    code: str  # a sold code the terminal's merchant accepts (to verify and redeem)
    redemption_id: int
    topup_sku: str = ""  # a direct top-up SKU `mid` may buy (phone numbers)
    topup_number: str = ""  # a top-up order of `mid`, placed by the first test that needs one (_topup_number)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Real hashing is tested elsewhere; here it would only make the world slow to build.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, finance_user, ops_user) -> World:
    terminal_credentials_forget()
    tree = tree_make()
    fund(tree.mid, "500.00", actor=finance_user)
    quota_allocate(distributor=tree.mid, sku=tree.sku, quantity=50, actor=ops_user)
    Storefront.objects.create(distributor=tree.mid, slug="mid-shop", title="省代小店")
    key = api_key_issue(distributor=tree.mid, label="conformance")
    shop = shop_make("星巴克")
    voucher = factories.SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[shop.merchant.pk])
    world = World(
        distributor_key=(key[0].key_id, key[1]),
        terminal_key=(shop.terminal.key_id, shop.secret),
        sku=tree.sku.code,
        downline_id=tree.seller.pk,
        order_number="",
        code=factories.card_code(sku=voucher)[1],
        redemption_id=0,
    )
    client = Client()
    order = _send(client, world, "POST", "/api/v1/orders/", body={"sku": tree.sku.code, "quantity": 1}, idem="setup-order")
    assert order.status_code == 201, order.content
    world.order_number = order.json()["number"]
    redeemed = _send(client, world, "POST", "/api/v1/redemptions/", body={"code": factories.card_code(sku=voucher)[1]}, idem="setup")
    assert redeemed.status_code == 201, redeemed.content
    world.redemption_id = redeemed.json()["id"]
    world.topup_sku = _topup_sku_make()
    yield world
    terminal_credentials_forget()


def _topup_sku_make() -> str:
    """A phone top-up SKU (supply's profile) priced for every level of the tree."""
    from catalog.models import Sku
    from channels.models import DistributorLevel, PriceEntry
    from supply.models import TopupProfile

    sku = factories.SkuFactory(fulfilment=Sku.Fulfilment.TOPUP, face_value=Decimal("50.00"), cost_price=Decimal("48.00"))
    TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.PHONE)
    prices = {"purchase_price": Decimal("49.00"), "suggested_retail": Decimal("49.90"), "price_floor": Decimal("49.00")}
    for level in DistributorLevel.objects.all():
        PriceEntry.objects.create(level=level, sku=sku, **prices)
    return sku.code


def _topup_number(world: World) -> str:
    """The number of a top-up order of `mid`, placed the first time it is asked for (the lists stay as they were)."""
    if not world.topup_number:
        body = {"sku": world.topup_sku, "account": "13800138000"}
        topup = _send(Client(), world, "POST", "/api/v1/topups/", body=body, idem="setup-topup")
        assert topup.status_code == 201, topup.content
        world.topup_number = topup.json()["number"]
    return world.topup_number


def _credentials(world: World, path: str) -> tuple | None:
    if path.startswith("/api/v1/redemptions/"):
        return world.terminal_key
    if path.startswith("/api/v1/risk/"):
        return None  # anonymous
    return world.distributor_key


def _send(client, world, method, path, *, query=None, body=NOT_SET, headers=None, idem=None, signed=True):
    """Send one request as a client would: the body's bytes signed with the path and query as the server sees them
    (`signed=False`: without the signature headers)."""
    url = path + (f"?{urlencode(query, doseq=True)}" if query else "")
    if body is NOT_SET:
        data = b""
    elif isinstance(body, bytes):  # a negative case: bytes that are no JSON at all
        data = body
    else:
        data = json.dumps(body).encode()
    sent = {str(k): str(v) for k, v in (headers or {}).items()}
    if idem is not None:
        sent["Idempotency-Key"] = idem
    credentials = _credentials(world, path) if signed else None
    if credentials is not None:
        # The path and query exactly as sent, which is what the server checks (docs/api-signing.md).
        key_id, secret = credentials
        sent.update(apisign.signed_headers(key_id=key_id, secret=secret, method=method, path=url, body=data))
    # RAW_URI: the request target as gunicorn hands it over.
    response = client.generic(method, url, data, content_type="application/json", headers=sent, REMOTE_ADDR="10.1.1.1", RAW_URI=url)
    response.sent = (method, url, sent, data)
    return response


def _as_schemathesis(response) -> schemathesis.Response:
    method, url, headers, data = response.sent
    request = requests.Request(method=method, url="http://testserver" + url, headers=headers, data=data).prepare()
    return schemathesis.Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )


def _call(client, world, case, *, signed=True):
    return _send(
        client,
        world,
        case.method.upper(),
        case.formatted_path,
        query=case.query or None,
        body=case.body,
        headers=case.headers,
        signed=signed,
    )


def _validate(case, response, checks) -> list[str]:
    """The checks' failures as text (empty when the answer is what the schema says)."""
    try:
        case.validate_response(_as_schemathesis(response), checks=list(checks))
    except AssertionError as error:  # schemathesis' FailureGroup is one
        method, url, _headers, data = response.sent
        return [f"{method} {url} {data[:200]!r} -> {response.status_code} {response.content[:300]!r}:\n{error}"]
    return []


@pytest.fixture(scope="module")
def schema_raw(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture(scope="module")
def schema(schema_raw):
    # The signature headers are added to each request (_send), never generated.
    generation = GenerationConfig(with_security_parameters=False, deterministic=True)
    config = SchemathesisConfig(projects=ProjectsConfig(default=ProjectConfig(generation=generation)))
    return schemathesis.openapi.from_dict(schema_raw, config=config)


def _operations(raw: dict) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in raw["paths"].items() for method in item if method != "parameters"]


def _valid_requests(world: World, method: str, path: str) -> list[dict]:
    """Requests that must succeed (2xx), per operation; every operation has at least one. An operation that takes
    an Idempotency-Key gets a fresh one (test_answers_match_the_schema)."""
    if (method, path) == ("GET", "/api/v1/topups/{ref}/"):
        return [{"path": {"ref": _topup_number(world)}}]
    table = {
        ("GET", "/api/v1/me/"): [{}],
        ("GET", "/api/v1/catalog/"): [{}, {"query": {"limit": 1, "offset": 0}}],
        ("GET", "/api/v1/catalog/{sku_code}/"): [{"path": {"sku_code": world.sku}, "query": {"quantity": 2}}],
        ("GET", "/api/v1/quotas/"): [{}],
        ("POST", "/api/v1/quotas/transfers/"): [{"body": {"to_distributor": world.downline_id, "sku": world.sku, "quantity": 1}}],
        ("GET", "/api/v1/downline/"): [{}, {"query": {"status": "active", "limit": 5}}],
        ("GET", "/api/v1/downline/{id}/"): [{"path": {"id": world.downline_id}}],
        ("GET", "/api/v1/storefront/items/"): [{}],
        ("POST", "/api/v1/storefront/items/"): [{"body": {"sku": world.sku, "retail_price": "29.90"}}],
        ("GET", "/api/v1/orders/"): [{}, {"query": {"status": "delivered", "limit": 10}}],
        ("POST", "/api/v1/orders/"): [{"body": {"sku": world.sku, "quantity": 1}}],
        ("GET", "/api/v1/orders/{number}/"): [{"path": {"number": world.order_number}}],
        ("GET", "/api/v1/orders/{number}/codes/"): [{"path": {"number": world.order_number}}],
        ("GET", "/api/v1/wallet/"): [{}],
        ("POST", "/api/v1/topups/"): [{"body": {"sku": world.topup_sku, "account": "13900139000", "customer_ref": "T-1"}}],
        ("POST", "/api/v1/redemptions/verify/"): [{"body": {"code": world.code}}],
        ("POST", "/api/v1/redemptions/"): [{"body": {"code": world.code}}],
        ("GET", "/api/v1/redemptions/"): [{}, {"query": {"limit": 1}}],
        ("GET", "/api/v1/redemptions/{id}/"): [{"path": {"id": world.redemption_id}}],
        ("POST", "/api/v1/redemptions/{id}/reverse/"): [{"path": {"id": world.redemption_id}, "body": {"reason": "typo"}}],
        ("POST", "/api/v1/risk/challenge/"): [{}],
    }
    return table[(method, path)]


def _operation_ids() -> list[str]:
    # Reading them from the schema at collection time would need the database: the list is written out, and
    # test_every_operation_is_covered checks that it is the schema's.
    return [
        "GET /api/v1/me/",
        "GET /api/v1/catalog/",
        "GET /api/v1/catalog/{sku_code}/",
        "GET /api/v1/quotas/",
        "POST /api/v1/quotas/transfers/",
        "GET /api/v1/downline/",
        "GET /api/v1/downline/{id}/",
        "GET /api/v1/storefront/items/",
        "POST /api/v1/storefront/items/",
        "GET /api/v1/orders/",
        "POST /api/v1/orders/",
        "GET /api/v1/orders/{number}/",
        "GET /api/v1/orders/{number}/codes/",
        "GET /api/v1/wallet/",
        "POST /api/v1/topups/",
        "GET /api/v1/topups/{ref}/",
        "POST /api/v1/redemptions/verify/",
        "POST /api/v1/redemptions/",
        "GET /api/v1/redemptions/",
        "GET /api/v1/redemptions/{id}/",
        "POST /api/v1/redemptions/{id}/reverse/",
        "POST /api/v1/risk/challenge/",
    ]


def test_every_operation_is_covered(schema_raw):
    assert sorted(f"{m} {p}" for m, p in _operations(schema_raw)) == sorted(_operation_ids())


def _generated(client, world, api_operation, mode, checks, *, media_type) -> list[str]:
    """EXAMPLES requests of `mode` generated from the schema with a fixed seed, sent and checked."""
    failures: list[str] = []
    signed = _credentials(world, api_operation.path) is not None

    @given(case=api_operation.as_strategy(mode, media_type=media_type))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = _call(client, world, case)
        if signed and response.status_code == 401:
            # A signed request passes the signature check, or this test would only ever check the 401.
            assert response.json()["error"]["code"] not in {"bad_signature", "missing_signature"}, response.sent
        failures.extend(_validate(case, response, checks))

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body has no negative case
        assert mode == GenerationMode.NEGATIVE
    return failures


@pytest.mark.parametrize("operation", _operation_ids())
def test_answers_match_the_schema(operation, schema, world):
    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]
    media_type = "application/json" if api_operation.body else None
    client = Client()
    failures: list[str] = []

    # given: requests that must succeed
    takes_key = any(p.name == "Idempotency-Key" for p in api_operation.headers)
    for request in _valid_requests(world, method, path):
        headers = dict(request.get("headers") or {})
        if takes_key:
            headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
        case = api_operation.Case(
            path_parameters=request.get("path"),
            query=request.get("query"),
            headers=headers,
            body=request.get("body", {} if media_type else NOT_SET),
            media_type=media_type,
        )
        response = _call(client, world, case)
        if not 200 <= response.status_code < 300:
            failures.append(f"valid request refused: {method} {response.sent[1]} -> {response.status_code} {response.content[:300]!r}")
        failures += _validate(case, response, CHECKS)
        if _credentials(world, path) is not None:
            # and the same request without its signature: refused, as the schema says
            response = _call(client, world, case, signed=False)
            if response.status_code != 401:
                failures.append(f"unsigned request not refused with 401: {method} {response.sent[1]} -> {response.status_code}")
            failures += _validate(case, response, CHECKS)

    # and: generated requests, schema-valid and schema-invalid
    failures += _generated(client, world, api_operation, GenerationMode.POSITIVE, CHECKS, media_type=media_type)
    failures += _generated(client, world, api_operation, GenerationMode.NEGATIVE, CHECKS + NEGATIVE_CHECKS, media_type=media_type)

    assert not failures, f"{len(failures)} answers differ from the schema:\n\n" + "\n\n".join(failures[:8])


# --- the input rules the schema states (a request the schema calls valid is not refused as malformed) ----------


def _validator(schema_raw: dict, schema: dict) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator({**schema, "components": schema_raw["components"]})


def _refused_as_malformed(response) -> bool:
    return response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/redemptions/verify/", "/api/v1/redemptions/"])
def test_the_schema_says_a_code_entry_needs_one_code_or_qr_token(path, schema_raw, world):
    operation = schema_raw["paths"][path]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    valid = _validator(schema_raw, body_schema)
    bodies = [
        {},
        {"serial": "S-1"},
        {"code": ""},
        {"code": "   "},
        {"qr_token": "\t"},
        {"code": "", "qr_token": ""},
        {"code": world.code},
        {"code": f"  {world.code} "},
        {"qr_token": "not-a-token"},
        {"code": world.code, "qr_token": "not-a-token"},
        {"code": world.code, "qr_token": " "},
    ]
    client = Client()
    for body in bodies:
        response = _send(client, world, "POST", path, body=body, idem=uuid.uuid4().hex)
        assert _refused_as_malformed(response) != valid.is_valid(body), (body, response.status_code, response.content)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/redemptions/"), ("POST", "/api/v1/redemptions/{id}/reverse/"), ("POST", "/api/v1/orders/")],
)
def test_the_schema_says_what_an_idempotency_key_is(method, path, schema_raw, world):
    operation = schema_raw["paths"][path][method.lower()]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
    assert header["required"]
    valid = _validator(schema_raw, header["schema"])
    body = {
        "/api/v1/redemptions/": {"code": world.code},
        "/api/v1/redemptions/{id}/reverse/": {"reason": "typo"},
        "/api/v1/orders/": {"sku": world.sku, "quantity": 1},
    }[path]
    url = path.replace("{id}", str(world.redemption_id))
    client = Client()
    for key in [None, "", "   ", "k-1", " k-2 ", "x" * 100, "y" * 101]:
        response = _send(client, world, method, url, body=body, idem=key)
        sent_valid = key is not None and valid.is_valid(key)
        assert _refused_as_malformed(response) != sent_valid, (key, response.status_code, response.content)


# --- a list takes what the schema says, and refuses the rest by name (it used to ignore it) ---------------------


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/catalog/", "limit=abc", "limit"),
        ("/api/v1/quotas/", "limit=0", "limit"),
        ("/api/v1/storefront/items/", "offset=-1", "offset"),
        ("/api/v1/orders/", "offset=99999999999", "offset"),
        ("/api/v1/orders/", "status=shipped", "status"),
        ("/api/v1/downline/", "status=bogus", "status"),
        ("/api/v1/downline/", "limit=%EF%BC%91", "limit"),  # a full-width digit one: int() would read it
        ("/api/v1/redemptions/", "limit=1.5", "limit"),
        ("/api/v1/redemptions/", "date=yesterday", "date"),
    ],
)
def test_a_list_refuses_a_parameter_it_cannot_take(path, query, field, world):
    response = _send(Client(), world, "GET", f"{path}?{query}")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_list_takes_its_limit_and_offset_and_reads_an_empty_parameter_as_none(schema_raw, world):
    client = Client()
    body = _send(client, world, "GET", "/api/v1/downline/?limit=1&offset=0").json()
    assert body["count"] == 1 and len(body["results"]) == 1 and body["next"] is None
    assert _send(client, world, "GET", "/api/v1/downline/?offset=5").json()["results"] == []
    assert _send(client, world, "GET", "/api/v1/orders/?status=delivered").json()["count"] == 1
    for path in ["/api/v1/orders/?status=&offset=&limit=", "/api/v1/downline/?status=", "/api/v1/redemptions/?date=&store="]:
        response = _send(client, world, "GET", path)
        assert response.status_code == 200 and response.json()["count"] == 1, (path, response.content)
    # and the schema says so
    optional = [
        parameter
        for item in schema_raw["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and not parameter.get("required")
    ]
    assert optional and all(parameter.get("allowEmptyValue") for parameter in optional)
