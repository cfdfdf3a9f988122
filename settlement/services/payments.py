"""Payments through adapters, and their callbacks: signed, idempotent, order-safe, amount-checked."""

import logging
import secrets

from django.conf import settings
from django.core.mail import mail_admins, send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.adapters import ADAPTERS, CallbackData, adapter_get
from settlement.errors import InvalidAmount, PaymentRefused
from settlement.models import Account, Order, Payment, PaymentCallback, Transfer
from settlement.services.ledger import platform_account, transfer_post
from settlement.services.refund_payouts import refund_payout_open
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)
Outcome = PaymentCallback.Outcome


def payment_number() -> str:
    return "PAY" + timezone.localdate().strftime("%y%m%d") + secrets.token_hex(6).upper()


def payment_for_order(*, order: Order) -> Payment:
    """The order's open payment (created once). A bundle's basket is paid once, for its total, through its lead."""
    from settlement.services.bundles import basket_total

    order = _payment_holder(order)
    payment = order.payments.filter(purpose=Payment.Purpose.ORDER).order_by("pk").first()
    if payment is None:
        payment = Payment.objects.create(
            number=payment_number(),
            purpose=Payment.Purpose.ORDER,
            adapter=order.pay_method,
            order=order,
            amount=basket_total(order) if order.basket else order.total,
            currency=order.currency,
        )
    return payment


def _payment_holder(order: Order) -> Order:
    """The order a payment points at: a bundle component's basket lead, else the order itself."""
    if order.basket and order.basket != order.number:
        return Order.objects.get(number=order.basket)
    return order


def payment_for_topup(*, wallet, amount, adapter: str = "sandbox") -> Payment:
    amount = money(amount)
    if amount <= ZERO:
        raise InvalidAmount(field="amount")
    adapter_get(adapter)
    return Payment.objects.create(
        number=payment_number(), purpose=Payment.Purpose.TOPUP, adapter=adapter, wallet=wallet, amount=amount, currency=wallet.currency
    )


def _alert(subject: str, message: str) -> None:
    logger.warning("%s: %s", subject, message)
    try:
        mail_admins(subject, message, fail_silently=True)
        if settings.OPS_ALERT_EMAILS:
            send_mail(subject, message, None, settings.OPS_ALERT_EMAILS, fail_silently=True)
    except Exception:  # pragma: no cover - alerting must not break the callback
        logger.exception("alert failed")


def payment_callback_receive(*, adapter_name: str, body: bytes, headers) -> PaymentCallback:
    """Apply a provider's callback once. Returns the logged callback with its outcome:

    * bad signature / unknown payment: refused, nothing changes;
    * the same event again, or an event that no longer applies (a success after a refund, a failure
      after a success): logged, nothing changes;
    * an amount that differs from the payment's: refused and alerted.
    """
    adapter = adapter_get(adapter_name)
    data = adapter.parse_callback(body=body, headers=headers)
    return _apply(adapter_name=adapter.name, data=data)


@transaction.atomic
def _apply(*, adapter_name: str, data: CallbackData, actor=None) -> PaymentCallback:
    def log(outcome, payment=None):
        return PaymentCallback.objects.create(
            adapter=adapter_name,
            event_id=data.event_id or "-",
            payment=payment,
            event_type=data.event_type,
            amount=data.amount,
            outcome=outcome,
            payload=data.payload,
        )

    if not data.signature_ok:
        _alert("VoucherHub: payment callback with a bad signature", f"adapter={adapter_name} event={data.event_id}")
        return log(Outcome.BAD_SIGNATURE)
    payment = Payment.objects.select_for_update().filter(number=data.payment_number, adapter=adapter_name).first()
    if payment is None or not data.event_id:
        return log(Outcome.UNKNOWN_PAYMENT)
    if PaymentCallback.objects.filter(adapter=adapter_name, event_id=data.event_id, outcome=Outcome.APPLIED).exists():
        return log(Outcome.DUPLICATE, payment)
    if data.amount is None or data.amount != payment.amount:
        _alert(
            "VoucherHub: payment amount mismatch",
            f"payment={payment.number} expected={payment.amount} callback={data.amount} event={data.event_id}",
        )
        audit_record(
            action="payment.amount_mismatch",
            obj=payment,
            data={"expected": str(payment.amount), "got": str(data.amount), "event": data.event_id},
        )
        return log(Outcome.AMOUNT_MISMATCH, payment)

    if data.event_type == "payment.succeeded":
        if payment.status != Payment.Status.PENDING and payment.status != Payment.Status.FAILED:
            return log(Outcome.IGNORED, payment)
        try:
            with transaction.atomic():
                callback = log(Outcome.APPLIED, payment)
        except IntegrityError:
            return log(Outcome.DUPLICATE, payment)
        payment.status = Payment.Status.SUCCEEDED
        payment.paid_at = timezone.now()
        payment.provider_ref = data.provider_ref
        payment.save(update_fields=["status", "paid_at", "provider_ref"])
        _on_paid(payment, actor=actor)
        return callback
    if data.event_type == "payment.failed":
        if payment.status != Payment.Status.PENDING:
            return log(Outcome.IGNORED, payment)
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status"])
        return log(Outcome.APPLIED, payment)
    return log(Outcome.IGNORED, payment)


def _on_paid(payment: Payment, *, actor=None) -> None:
    if payment.purpose == Payment.Purpose.TOPUP:
        from settlement.services.wallets import wallet_topup_from_payment

        wallet_topup_from_payment(payment=payment)
        return
    if payment.order.basket:  # a bundle: the one payment pays every order of the basket
        from settlement.services.bundles import basket_pay

        basket_pay(lead=payment.order, actor=actor, payment=payment)
        return
    from settlement.services.orders import order_pay

    order_pay(order=payment.order, actor=actor, payment=payment)


@transaction.atomic
def payment_confirm_manual(*, payment: Payment, actor, amount, bank_reference: str) -> PaymentCallback:
    """Finance saw a bank transfer for this payment: apply it like a provider callback (idempotent per bank reference)."""
    if payment.adapter != "manual":
        raise PaymentRefused(_("Only bank-transfer payments are confirmed by hand."), field="payment")
    if not bank_reference.strip():
        raise PaymentRefused(_("Give the bank reference."), field="bank_reference")
    data = CallbackData(
        event_id=f"bank:{bank_reference.strip()}"[:100],
        event_type="payment.succeeded",
        payment_number=payment.number,
        amount=money(amount),
        provider_ref=bank_reference.strip()[:100],
        signature_ok=True,
        payload={"confirmed_by": actor.get_username(), "amount": str(amount), "bank_reference": bank_reference},
    )
    callback = _apply(adapter_name="manual", data=data, actor=actor)
    audit_record(actor=actor, action="payment.confirm", obj=payment, data={"outcome": callback.outcome, "bank_reference": bank_reference})
    if callback.outcome == Outcome.AMOUNT_MISMATCH:
        raise PaymentRefused(_("The amount does not match the payment (%(amount)s).") % {"amount": payment.amount}, field="amount")
    return callback


def payment_refund_for_order(*, order: Order, amount, reference: str) -> bool:
    """Pay a consumer back through the adapter that took the money. Books the payout when the adapter
    did it; otherwise the amount stays in refunds clearing and a RefundPayout waits for finance to pay it
    by hand (services/refund_payouts.py)."""
    payment = _payment_holder(order).payments.filter(status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED]).order_by("pk").first()
    if payment is None:
        return False
    # Money goes back the way it came, also through an adapter switched off since (no new payments there).
    adapter = ADAPTERS[payment.adapter]
    done = adapter.refund(payment=payment, amount=amount, reference=reference)
    if done:
        transfer_post(
            kind=Transfer.Kind.REFUND_PAYOUT,
            lines=[
                (platform_account(Account.Kind.REFUNDS_CLEARING, order.currency), -amount),
                (platform_account(Account.Kind.PAYMENT_CLEARING, order.currency), amount),
            ],
            reference=reference,
            order=order,
            key=f"refund-payout:{reference}",
            memo=_("Refund paid back through %(adapter)s") % {"adapter": payment.adapter},
        )
    else:  # a person pays it back (bank transfer): it waits on finance's refund payouts page
        refund_payout_open(order=order, payment=payment, amount=amount, reference=reference)
    Payment.objects.filter(pk=payment.pk).update(
        refunded_amount=payment.refunded_amount + amount,
        status=Payment.Status.REFUNDED if payment.refunded_amount + amount >= payment.amount else payment.status,
    )
    return done
