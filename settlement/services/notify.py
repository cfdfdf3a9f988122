"""Telling people and systems: consumer e-mails (a link, never a code) and distributor webhooks."""

import hashlib
import hmac
import json
import logging
import secrets
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement import conf, integrations
from settlement.models import Order, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from settlement.services.contacts import contact_of
from voucherhub.core.sealing import open_text, seal_text
from voucherhub.core.templatetags.vh_format import money_text

logger = logging.getLogger(__name__)
WEBHOOK_PURPOSE = "settlement.webhook"
SIGNATURE_HEADER = "X-VH-Webhook-Signature"
TIMESTAMP_HEADER = "X-VH-Webhook-Timestamp"


def consumer_codes_ready(*, order_id: int, link: str) -> None:
    """Send the private link (never the code) to the consumer's contact: an e-mail, or an SMS to a mobile number."""
    order = Order.objects.select_related("sku").get(pk=order_id)
    contact = contact_of(order.contact)
    if contact is None:
        logger.info("order %s: the contact is neither a mobile number nor an e-mail address; the link is on the order page", order.number)
        return
    if contact.kind == "phone":
        text = _("Order %(number)s: your codes are on this private page (keep it to yourself): %(link)s") % {
            "number": order.number,
            "link": link,
        }
        try:
            integrations.sms_send(to=contact.value, subject="VoucherHub", text=text)
        except Exception:  # an SMS gateway that is away: the receipt page and the lookup still show the link
            logger.exception("order %s: the SMS with the link could not be sent", order.number)
        return
    subject = _("Your VoucherHub order %(number)s") % {"number": order.number}
    body = _(
        "Thank you for your order %(number)s (%(qty)s × %(sku)s).\n\n"
        "Your codes are on this private page (keep the link to yourself):\n%(link)s\n\n"
        "You can also look the order up with its number, your contact and the lookup password you chose."
    ) % {"number": order.number, "qty": order.quantity, "sku": order.sku.name, "link": link}
    send_mail(subject, body, None, [order.contact], fail_silently=True)


def consumer_topup_result(*, order_id: int) -> None:
    """Tell a storefront buyer how the top-up went (an SMS to a mobile number, else an e-mail): topped up, in part
    and the rest refunded, or refunded. Never anything but the order's own account and amounts."""
    order = Order.objects.select_related("sku").get(pk=order_id)
    contact = contact_of(order.contact)
    if contact is None:
        return
    refunded = money_text(order.refunded_amount, order.currency)
    values = {"number": order.number, "sku": order.sku.name, "account": order.topup_account, "refunded": refunded}
    if order.status == Order.Status.DELIVERED:
        text = _("Order %(number)s: %(sku)s is topped up to %(account)s.") % values
    elif order.status == Order.Status.PARTIALLY_REFUNDED:
        text = _("Order %(number)s: %(account)s was topped up in part; %(refunded)s is refunded the way you paid.") % values
    else:
        text = _("Order %(number)s: the top-up to %(account)s could not be made; %(refunded)s is refunded the way you paid.") % values
    if contact.kind == "phone":
        try:
            integrations.sms_send(to=contact.value, subject="VoucherHub", text=text)
        except Exception:  # an SMS gateway that is away: the receipt page and the lookup show the outcome
            logger.exception("order %s: the SMS with the top-up's outcome could not be sent", order.number)
        return
    send_mail(_("Your VoucherHub order %(number)s") % values, text, None, [order.contact], fail_silently=True)


# --- Webhooks --------------------------------------------------------------------------------------


def webhook_endpoint_set(*, distributor, url: str, actor=None) -> tuple[WebhookEndpoint, str]:
    """Set (or change) a distributor's webhook URL; returns the endpoint and a fresh secret, shown once."""
    secret = secrets.token_urlsafe(32)
    endpoint, _created = WebhookEndpoint.objects.update_or_create(
        distributor=distributor, defaults={"url": url, "secret_sealed": seal_text(secret, purpose=WEBHOOK_PURPOSE), "active": True}
    )
    return endpoint, secret


def webhook_sign(*, secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def order_payload(order: Order, event: str, extra: dict | None = None) -> dict:
    """What a webhook says about an order. Never a code: the distributor fetches codes by API."""
    body = {
        "order": order.number,
        "status": order.status,
        "sku": order.sku.code,
        "quantity": order.quantity,
        "total": str(order.total),
        "currency": order.currency,
        "customer_ref": order.customer_ref,
    }
    if order.is_topup:  # no codes: the top-up reads back by API
        body["topup_url"] = f"/api/v1/topups/{order.number}/"
    else:
        body["codes_url"] = f"/api/v1/orders/{order.number}/codes/"
    body.update(extra or {})
    return body


def order_event(*, order: Order, event: str, extra: dict | None = None) -> WebhookDelivery | None:
    """Queue a signed webhook for the order's distributor (if it has an endpoint); sent after commit."""
    queued = order_events(order=order, events=[event], extra=extra)
    return queued[0] if queued else None


def order_events(*, order: Order, events: list[str], extra: dict | None = None) -> list[WebhookDelivery]:
    """Queue one signed webhook per event (e.g. paid and delivered) with one endpoint read and one
    INSERT; each is sent after commit by django-q2, retried with backoff."""
    endpoint = WebhookEndpoint.objects.filter(distributor_id=order.distributor_id, active=True).first()
    if endpoint is None or not events:
        return []
    now = timezone.now()
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=event, event_id=event_id, order=order, payload=payload, next_attempt_at=now)
        for event, event_id, payload in webhook_payloads(order=order, events=events, extra=extra)
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    deliveries_enqueue([delivery.pk for delivery in deliveries])
    return deliveries


def webhook_payloads(*, order: Order, events: list[str], extra: dict | None = None) -> list[tuple[str, str, dict]]:
    """(event, event id, payload) of each webhook about the order; never a code."""
    created = timezone.now().isoformat()
    out = []
    for event in events:
        event_id = "evt_" + secrets.token_hex(12)
        out.append((event, event_id, {"id": event_id, "type": event, "created": created, "data": order_payload(order, event, extra)}))
    return out


def deliveries_enqueue(ids) -> None:
    """Send these queued webhooks once the transaction that wrote them commits."""
    for pk in ids:
        transaction.on_commit(lambda pk=pk: _enqueue(pk))


def _enqueue(delivery_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task("settlement.tasks.webhook_send", delivery_id)
    except Exception:  # pragma: no cover - the minute schedule picks it up
        logger.exception("could not queue webhook %s", delivery_id)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … at most 6 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def webhook_send(*, delivery_id: int, post=None) -> WebhookDelivery:
    """Try one delivery. 2xx: delivered. Otherwise: next attempt after a backoff, until the limit.
    Every try leaves a WebhookAttempt row (when, how long, the answer or the error, when the next one is)."""
    import time
    import urllib.error
    import urllib.request

    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(skip_locked=True).select_related("endpoint").filter(pk=delivery_id).first()
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
        started_at = timezone.now()
        timestamp = str(int(started_at.timestamp()))
        secret = open_text(delivery.endpoint.secret_sealed, purpose=WEBHOOK_PURPOSE)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_sign(secret=secret, timestamp=timestamp, body=body),
            TIMESTAMP_HEADER: timestamp,
        }
        status, error = None, ""
        clock = time.monotonic()
        try:
            if post is not None:
                status = post(delivery.endpoint.url, body, headers)
            else:
                request = urllib.request.Request(delivery.endpoint.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - distributor-configured URL
                    status = response.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, str(exc)
        except Exception as exc:  # network errors: retry later
            error = str(exc) or exc.__class__.__name__
        duration_ms = int((time.monotonic() - clock) * 1000)
        error = error[: WebhookAttempt.ERROR_MAX]
        delivery.attempts += 1
        delivery.last_status_code = status
        delivery.last_error = error
        now = timezone.now()
        if status is not None and 200 <= status < 300:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif delivery.attempts >= conf.webhook_max_attempts():
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.save()
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=status,
            error=error,
            next_attempt_at=delivery.next_attempt_at,
        )
        return delivery


def webhooks_send_due(*, now=None, limit: int = 200) -> int:
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        webhook_send(delivery_id=pk)
    return len(ids)
