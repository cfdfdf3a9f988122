"""The storefront gives each browser a device id, and the device rules count it."""

import io

import pytest
from django.test import Client
from django.urls import reverse

from riskcontrol import demo, engine
from riskcontrol.devices import COOKIE
from riskcontrol.models import Outcome, RiskEvent
from settlement.models import Order
from tests.settlement.conftest import tree_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

DEVICE_HOURLY = "同一设备每小时限购 10 件"  # purchase limit, 10 items per device per hour: challenge


@pytest.fixture
def tree(db, finance_user, clock):
    demo.seed(io.StringIO())
    engine.rules_changed()
    return tree_make()


def checkout_url(tree) -> str:
    return reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])


def buy(client, tree, n: int):
    data = {"quantity": 1, "contact": f"buyer{n}@example.test", "lookup_password": "secret-123", "pay_method": "sandbox"}
    return client.post(checkout_url(tree), data, REMOTE_ADDR=f"198.51.100.{n + 1}")


def test_the_checkout_page_gives_a_browser_one_signed_device_id_and_keeps_it(client, tree):
    first = client.get(checkout_url(tree))
    cookie = first.cookies[COOKIE]
    assert cookie.value and cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) >= 300 * 86400
    again = client.get(checkout_url(tree))
    assert COOKIE not in again.cookies  # the browser keeps the id it has


def test_one_browser_changing_address_and_contact_meets_the_device_limit(client, tree):
    client.get(checkout_url(tree))
    device = client.cookies[COOKIE].value
    # ten single codes from ten addresses with ten contacts: only the device is the same
    for n in range(10):
        assert buy(client, tree, n).status_code == 302
    response = buy(client, tree, 10)
    assert response.status_code == 428 and 'data-testid="challenge"' in response.content.decode()
    assert Order.objects.count() == 10
    event = RiskEvent.objects.get(storefront_id=tree.storefront.pk, outcome=Outcome.CHALLENGE)
    assert {reason.get("rule") for reason in event.reasons} == {DEVICE_HOURLY}
    assert event.device and event.device in device  # the id, not the signature around it


def test_a_forged_or_missing_device_id_counts_as_no_device(tree):
    forged = Client()
    forged.cookies[COOKIE] = "someone-elses-id:forged-signature"
    for n in range(11):
        assert buy(forged, tree, n).status_code == 302  # no device, so no device limit; other rules still apply
    assert buy(Client(), tree, 20).status_code == 302
    events = RiskEvent.objects.filter(storefront_id=tree.storefront.pk)
    assert events.count() == 12 and not events.filter(device__gt="").exists()
