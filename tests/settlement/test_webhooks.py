"""Distributor webhooks: signed, sent to a real local HTTP server, retried with backoff, every attempt logged."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from catalog.vault import keyring
from settlement.models import Order, WebhookAttempt, WebhookDelivery
from settlement.services import notify
from settlement.services.orders import order_place, order_refund
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


class Receiver:
    """A distributor's webhook URL: a thread running http.server on 127.0.0.1, answering `status`."""

    def __init__(self):
        self.status = 200
        self.requests: list[tuple] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))  # case-insensitive lookups
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vh"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def endpoint(tree, receiver, finance_user):
    """The seller's endpoint at the local receiver, its secret (shown once) and a funded wallet."""
    fund(tree.seller, "500.00", actor=finance_user)
    _endpoint, secret = notify.webhook_endpoint_set(distributor=tree.seller, url=receiver.url)
    return secret


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def place(tree, quantity=1) -> Order:
    return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=quantity)


def test_a_webhook_is_signed_over_the_exact_body_with_the_endpoint_secret(tree, endpoint, receiver):
    order = place(tree)
    paid = WebhookDelivery.objects.get(order=order, event="order.paid")
    delivery = notify.webhook_send(delivery_id=paid.pk)
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.delivered_at is not None
    assert delivery.next_attempt_at is None and delivery.last_status_code == 200
    [(headers, body)] = receiver.requests
    timestamp, signature = headers[notify.TIMESTAMP_HEADER], headers[notify.SIGNATURE_HEADER]
    expected = hmac.new(endpoint.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["type"] == "order.paid" and sent["id"] == paid.event_id and sent["data"]["order"] == order.number
    # a wrong secret would not verify
    assert signature != hmac.new(b"another-secret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.status_code, attempt.error, attempt.next_attempt_at) == (1, 200, "", None)
    assert attempt.duration_ms >= 0 and attempt.started_at <= delivery.delivered_at
    # sent again (a replayed task): nothing is posted and no attempt is added
    notify.webhook_send(delivery_id=paid.pk)
    assert len(receiver.requests) == 1 and WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_a_500_is_retried_with_growing_backoff_until_the_limit_then_given_up(tree, endpoint, receiver, settings):
    settings.SETTLEMENT_WEBHOOK_MAX_ATTEMPTS = 4
    receiver.status = 500
    order = place(tree)
    WebhookDelivery.objects.filter(order=order).exclude(event="order.paid").delete()
    delivery = WebhookDelivery.objects.get(order=order, event="order.paid")
    gaps = []
    for n in range(1, 4):
        delivery = notify.webhook_send(delivery_id=delivery.pk)
        assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == n
        attempt = WebhookAttempt.objects.get(delivery=delivery, number=n)
        assert attempt.status_code == 500 and "500" in attempt.error
        assert attempt.next_attempt_at == delivery.next_attempt_at
        gap = attempt.next_attempt_at - attempt.started_at
        assert notify.backoff(n) <= gap < notify.backoff(n) + timedelta(seconds=5)
        gaps.append(gap)
        # not due yet: the minute job leaves it alone
        assert notify.webhooks_send_due(now=attempt.next_attempt_at - timedelta(seconds=1)) == 0
    assert gaps[0] < gaps[1] < gaps[2]
    assert notify.webhooks_send_due(now=delivery.next_attempt_at + timedelta(seconds=1)) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.next_attempt_at is None and delivery.attempts == 4
    last = WebhookAttempt.objects.get(delivery=delivery, number=4)
    assert last.status_code == 500 and last.next_attempt_at is None
    # given up: no more tries, neither by the schedule nor by a late task
    posted = len(receiver.requests)
    assert notify.webhooks_send_due(now=delivery.created_at + timedelta(days=30)) == 0
    notify.webhook_send(delivery_id=delivery.pk)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 4
    assert len(receiver.requests) == posted == 4


def test_a_network_error_is_an_attempt_without_status_and_is_retried(tree, endpoint, receiver):
    order = place(tree)
    delivery = WebhookDelivery.objects.get(order=order, event="order.paid")
    receiver.__exit__()  # the distributor's server is down
    delivery = notify.webhook_send(delivery_id=delivery.pk)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert delivery.status == WebhookDelivery.Status.PENDING and attempt.status_code is None
    assert attempt.error and len(attempt.error) <= WebhookAttempt.ERROR_MAX and attempt.next_attempt_at is not None


def test_a_long_error_is_truncated_in_the_attempt_log(tree, endpoint):
    order = place(tree)
    delivery = WebhookDelivery.objects.get(order=order, event="order.paid")

    def post(url, body, headers):
        raise OSError("x" * 5000)

    notify.webhook_send(delivery_id=delivery.pk, post=post)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.error == "x" * WebhookAttempt.ERROR_MAX


def test_a_refund_of_a_delivered_order_sends_order_refunded_without_a_code(tree, endpoint, receiver, finance_user):
    order = place(tree, quantity=2)
    codes = [plain(item.code) for item in order.items.select_related("code")]
    order_refund(order=order, actor=finance_user, reason="customer changed mind")
    refunded = WebhookDelivery.objects.get(order=order, event="order.refunded")
    assert refunded.payload["data"]["status"] == "refunded"
    assert refunded.payload["data"]["refunded_quantity"] == 2
    delivery = notify.webhook_send(delivery_id=refunded.pk)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    [(_headers, body)] = receiver.requests
    assert json.loads(body)["type"] == "order.refunded"
    assert all(code not in body.decode() and code not in str(refunded.payload) for code in codes)


def test_the_admin_shows_each_attempt_read_only(tree, endpoint, receiver, admin_client):
    receiver.status = 503
    order = place(tree)
    delivery = WebhookDelivery.objects.get(order=order, event="order.paid")
    notify.webhook_send(delivery_id=delivery.pk)
    receiver.status = 204
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    notify.webhook_send(delivery_id=delivery.pk)
    page = admin_client.get(reverse("admin:settlement_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    inline = page.context["inline_admin_formsets"][0]
    assert inline.opts.model is WebhookAttempt and not inline.has_add_permission and not inline.has_delete_permission
    text = page.content.decode()
    assert "503" in text and "204" in text
