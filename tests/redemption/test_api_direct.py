"""The redeem endpoint's direct path (redemption/api.py): plain redeems skip DRF's request machinery and
serializer, and answer exactly as DRF does. Each scenario runs once with the direct path and once with it
turned off (REDEMPTION_API_DIRECT=False, pure DRF), and the two answers are compared."""

import json
import uuid

import pytest
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.models import CardCode
from redemption.api import RedemptionListCreateApi, redeem_input_direct, redeem_input_quick
from redemption.models import IdempotencyRecord, Redemption, RedemptionAttempt
from tests import factories
from voucherhub.core import apisign

pytestmark = pytest.mark.django_db

PATH = "/api/v1/redemptions/"
# Headers whose values depend on the redemption itself (its id and time are in the body).
VARYING_HEADERS = {"Content-Length"}


def _headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name not in VARYING_HEADERS}


def _without_ids(body: dict) -> dict:
    """A success body with the parts that differ between two redemptions blanked."""
    return {**body, "id": None, "code": {**body["code"], "hint": None}, "redeemed_at": None}


@pytest.fixture(params=[True, False], ids=["direct", "drf"])
def direct(request, settings):
    settings.REDEMPTION_API_DIRECT = request.param
    return request.param


# --- the answers agree ------------------------------------------------------------------------------


def run_scenarios(api, sku, store) -> dict:
    """Every answer the POS can get from POST /api/v1/redemptions/, normalised for comparison."""
    out = {}
    _code, plaintext = factories.card_code(sku=sku)
    key = uuid.uuid4().hex
    first = api.redeem({"code": plaintext, "reference": "R-1"}, idem=key)
    out["created"] = (first.status_code, _headers(first), _without_ids(first.json()))
    replay = api.redeem({"code": plaintext, "reference": "R-1"}, idem=key)
    assert replay.json() == first.json()
    out["replay"] = (replay.status_code, _headers(replay))
    conflict = api.redeem({"code": plaintext, "reference": "R-2"}, idem=key)
    out["conflict"] = (conflict.status_code, _headers(conflict), conflict.json())
    again = api.redeem({"code": plaintext})
    error = again.json()["error"]
    out["already_redeemed"] = (again.status_code, _headers(again), error["code"], store.name in error["message"])
    unknown = api.redeem({"code": "ZZZZ-ZZZZ-ZZZZ"})
    out["unknown"] = (unknown.status_code, _headers(unknown), unknown.json())
    no_key = api.post(PATH, {"code": plaintext})
    out["no_key"] = (no_key.status_code, _headers(no_key), no_key.json())
    english = api.post(PATH, {"code": plaintext}, headers={"Accept-Language": "en"})
    out["english"] = (english.status_code, _headers(english), english.json())
    # a forged signature and a replayed nonce
    body = json.dumps({"code": plaintext}).encode()
    signed = apisign.signed_headers(key_id=api.terminal.key_id, secret=api.secret, method="POST", path=PATH, body=body)
    forged = api.client.generic(
        "POST", PATH, body, content_type="application/json", headers={**signed, apisign.HEADER_SIGNATURE: "0" * 64, "Idempotency-Key": "k1"}
    )
    out["forged"] = (forged.status_code, _headers(forged), forged.json())
    api.client.generic("POST", PATH, body, content_type="application/json", headers={**signed, "Idempotency-Key": "k2"})
    replayed = api.client.generic("POST", PATH, body, content_type="application/json", headers={**signed, "Idempotency-Key": "k3"})
    out["replayed_nonce"] = (replayed.status_code, _headers(replayed), replayed.json())
    # not plain: DRF decides in both modes
    blank = api.redeem({"code": "  "})
    out["invalid"] = (blank.status_code, _headers(blank), blank.json())
    amount = api.redeem({"code": plaintext, "amount": "-1"})
    out["amount"] = (amount.status_code, _headers(amount), amount.json())
    return out


def test_direct_and_drf_answer_alike(api_a, sku_a, shop_a, settings):
    settings.REDEMPTION_API_DIRECT = True
    with_direct = run_scenarios(api_a, sku_a, shop_a.store)
    settings.REDEMPTION_API_DIRECT = False
    with_drf = run_scenarios(api_a, sku_a, shop_a.store)
    assert with_direct.keys() == with_drf.keys()
    for scenario in with_drf:
        assert with_direct[scenario] == with_drf[scenario], scenario
    # and the answers are the ones the API promises
    assert with_direct["created"][0] == 201 and with_direct["replay"] == (201, {**with_direct["created"][1], "Idempotent-Replayed": "true"})
    assert with_direct["conflict"][2]["error"]["code"] == "idempotency_conflict"
    assert with_direct["forged"][1]["WWW-Authenticate"] == 'VH-HMAC-SHA256 realm="api"'
    assert with_direct["forged"][2]["error"]["code"] == "bad_signature"
    assert with_direct["replayed_nonce"][2]["error"]["code"] == "replayed_nonce"
    assert with_direct["english"][1]["Content-Language"] == "en"
    assert with_direct["invalid"][0] == 400 and with_direct["invalid"][2]["error"]["code"] == "invalid"
    assert list(with_direct["invalid"][2]["error"]["fields"]) == ["code"]


def test_the_direct_path_records_what_drf_records(api_a, sku_a, shop_a, direct):
    code, plaintext = factories.card_code(sku=sku_a)
    key = uuid.uuid4().hex
    response = api_a.redeem({"code": plaintext, "reference": "R-7"}, idem=key)
    assert response.status_code == 201
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    redemption = Redemption.objects.get(pk=response.json()["id"])
    assert redemption.terminal == shop_a.terminal and redemption.reference == "R-7"
    assert RedemptionAttempt.objects.filter(redemption=redemption, outcome="ok", ip="10.1.1.1").count() == 1
    assert IdempotencyRecord.objects.get(scope=f"terminal:{shop_a.terminal.pk}", key=key).response == response.json()
    refused = api_a.redeem({"code": "ZZZZ-ZZZZ-ZZZZ"})
    assert refused.status_code >= 400
    assert RedemptionAttempt.objects.filter(outcome="refused", terminal=shop_a.terminal).count() == 1


def test_a_revoked_terminal_is_refused_on_the_direct_path(api_a, sku_a, shop_a, direct):
    from redemption.services import terminal_revoke

    _code, plaintext = factories.card_code(sku=sku_a)
    terminal_revoke(terminal=shop_a.terminal)
    response = api_a.redeem({"code": plaintext})
    assert response.status_code == 401 and response.json()["error"]["code"] == "revoked_key"
    assert not Redemption.objects.exists()


def test_the_ip_allowlist_holds_on_the_direct_path(api_a, sku_a, shop_a, direct):
    shop_a.terminal.ip_allowlist = ["192.168.0.0/16"]
    shop_a.terminal.save(update_fields=["ip_allowlist"])
    _code, plaintext = factories.card_code(sku=sku_a)
    response = api_a.redeem({"code": plaintext})  # from 10.1.1.1
    assert response.status_code == 401 and response.json()["error"]["code"] == "ip_not_allowed"
    assert not Redemption.objects.exists()


# --- which requests take it ----------------------------------------------------------------------------


def _request(body=b'{"code": "ABCD-EFGH"}', content_type="application/json", path=PATH, signed=True, **extra):
    headers = apisign.signed_headers(key_id="k", secret="s", method="POST", path=path, body=body) if signed else {}
    return RequestFactory().generic("POST", path, body, content_type=content_type, headers=headers, **extra)


def test_only_plain_signed_json_redeems_take_the_direct_path():
    assert redeem_input_direct(_request()) == {"code": "ABCD-EFGH"}
    assert redeem_input_direct(_request(content_type="application/json; charset=utf-8")) == {"code": "ABCD-EFGH"}
    assert redeem_input_direct(_request(HTTP_ACCEPT="*/*")) == {"code": "ABCD-EFGH"}
    # DRF's business: unsigned, other media types, negotiation options, query strings, bad JSON, odd input
    assert redeem_input_direct(_request(signed=False)) is None
    assert redeem_input_direct(_request(content_type="application/x-www-form-urlencoded", body=b"code=ABCD")) is None
    assert redeem_input_direct(_request(HTTP_ACCEPT="text/html")) is None
    assert redeem_input_direct(_request(HTTP_ACCEPT="application/json; indent=4")) is None
    assert redeem_input_direct(_request(path=PATH + "?format=api")) is None
    assert redeem_input_direct(_request(body=b'{"code": NaN}')) is None
    assert redeem_input_direct(_request(body=b"\xff\xfe")) is None
    assert redeem_input_direct(_request(body=b'["ABCD"]')) is None
    assert redeem_input_direct(_request(body=b'{"code": "ABCD", "amount": "10"}')) is None


def test_a_view_configured_otherwise_than_the_direct_path_knows_goes_through_drf():
    from rest_framework.throttling import AnonRateThrottle

    assert RedemptionListCreateApi.direct_allowed()

    class Throttled(RedemptionListCreateApi):
        throttle_classes = [AnonRateThrottle]

    class Versioned(RedemptionListCreateApi):
        versioning_class = object

    assert not Throttled.direct_allowed() and not Versioned.direct_allowed()


def test_the_switch_turns_the_direct_path_off(settings):
    settings.REDEMPTION_API_DIRECT = False
    assert redeem_input_direct(_request()) is None


# --- the quick validation agrees with the serializer --------------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=320),
    st.text(alphabet="ABCDEFGH0123456789- \t", max_size=320),
    st.sampled_from(["", "  ", "\x00", "ABCD\x00", " ABCD-EFGH ", "码" * 3, "\ud800", "a" * 64, "a" * 65, "a" * 300, "a" * 301]),
)
VALUE = st.one_of(TEXT, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))
FIELDS = st.sampled_from(["code", "serial", "qr_token", "reference", "amount", "spend", "other"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.dictionaries(FIELDS, VALUE, max_size=5), st.lists(st.integers(), max_size=2), st.text(max_size=5)))
def test_quick_input_is_what_the_serializer_validates(data):
    quick = redeem_input_quick(data)
    if quick is None:
        return  # the serializer decides, as before
    serializer = RedemptionListCreateApi.InputSerializer(data=data)
    assert serializer.is_valid(), serializer.errors
    assert quick == dict(serializer.validated_data)


def test_quick_input_takes_the_usual_redeem_bodies():
    assert redeem_input_quick({"code": " ABCD-EFGH "}) == {"code": "ABCD-EFGH"}
    assert redeem_input_quick({"code": "ABCD", "serial": "S1", "reference": "R-1", "amount": None}) == {
        "code": "ABCD",
        "serial": "S1",
        "reference": "R-1",
        "amount": None,
    }
    assert redeem_input_quick({"qr_token": "vh1.abc"}) == {"qr_token": "vh1.abc"}
    assert redeem_input_quick({"code": "ABCD", "qr_token": "vh1.abc"}) is None  # the serializer refuses both
    assert redeem_input_quick({"code": ""}) is None
