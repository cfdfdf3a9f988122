"""An order number with a reserved character, percent-encoded by the client, through the whole API stack."""

import pytest

from channels.services import api_key_issue
from voucherhub.core.apisign import signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(tree):
    return api_key_issue(distributor=tree.seller)


def get(client, key, *, sent: str, signed_as: str, **server):
    key_row, secret = key
    headers = signed_headers(key_id=key_row.key_id, secret=secret, method="GET", path=signed_as)
    return client.get(sent, headers=headers, **server)


@pytest.mark.parametrize(
    "server", [{"RAW_URI": "/api/v1/orders/VH%3A1/"}, {"REQUEST_URI": "/api/v1/orders/VH%3A1/"}, {}], ids=["gunicorn", "uwsgi", "none"]
)
def test_a_path_signed_exactly_as_sent_is_verified(client, key, server):
    # when: the order VH:1 is asked for as /VH%3A1/, signed as sent
    response = get(client, key, sent="/api/v1/orders/VH%3A1/", signed_as="/api/v1/orders/VH%3A1/", **server)
    # then: the signature holds and the answer is about the order (none has that number)
    assert response.status_code == 404, response.content


def test_a_path_signed_other_than_sent_is_refused(client, key):
    response = get(client, key, sent="/api/v1/orders/VH%3A1/", signed_as="/api/v1/orders/VH:1/", RAW_URI="/api/v1/orders/VH%3A1/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_signature"
