"""Refunds that finance pays back by hand. An order paid by bank transfer (the manual adapter) and then refunded
leaves its amount in refunds clearing and a `RefundPayout` awaiting payout; finance transfers the money to the
buyer's bank and records the payout reference here, which books refunds clearing → payment clearing with the
same key the automatic adapters use (`refund-payout:<reference>`), so a refund is paid out at most once."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.errors import RefundPayoutConflict, SettlementError
from settlement.models import Account, Order, Payment, RefundPayout, Transfer
from settlement.services.ledger import platform_account, transfer_post
from voucherhub.core.audit import audit_record
from voucherhub.core.money import money


def refund_payout_open(*, order: Order, payment: Payment, amount, reference: str) -> RefundPayout:
    """Record that `amount` of `order`'s refund `reference` waits to be paid back by a person. Again: the same row."""
    payout = RefundPayout.objects.filter(reference=reference).first()
    if payout is not None:
        return payout
    try:
        with transaction.atomic():
            return RefundPayout.objects.create(
                reference=reference, order=order, payment=payment, amount=money(amount), currency=order.currency
            )
    except IntegrityError:
        return RefundPayout.objects.get(reference=reference)


@transaction.atomic
def refund_payout_record(*, payout: RefundPayout, actor, payout_reference: str, note: str = "") -> RefundPayout:
    """Finance paid the refund back (bank transfer `payout_reference`). Recording it again with the same
    reference changes nothing; another reference is refused."""
    payout_reference = (payout_reference or "").strip()
    if not payout_reference:
        raise SettlementError(_("Give the payout reference (bank transaction number)."), field="payout_reference")
    payout = RefundPayout.objects.select_for_update().select_related("order", "payment").get(pk=payout.pk)
    if payout.status == RefundPayout.Status.PAID:
        if payout.payout_reference == payout_reference[:100]:
            return payout
        raise RefundPayoutConflict(
            _("Already paid out with reference %(ref)s.") % {"ref": payout.payout_reference}, field="payout_reference"
        )
    transfer_post(
        kind=Transfer.Kind.REFUND_PAYOUT,
        lines=[
            (platform_account(Account.Kind.REFUNDS_CLEARING, payout.currency), -payout.amount),
            (platform_account(Account.Kind.PAYMENT_CLEARING, payout.currency), payout.amount),
        ],
        reference=payout.reference,
        order=payout.order,
        actor=actor,
        key=f"refund-payout:{payout.reference}",
        memo=_("Refund paid back by bank transfer, reference %(ref)s") % {"ref": payout_reference},
    )
    payout.status = RefundPayout.Status.PAID
    payout.payout_reference = payout_reference[:100]
    payout.note = (note or "")[:300]
    payout.paid_by = actor if getattr(actor, "is_authenticated", False) else None
    payout.paid_at = timezone.now()
    payout.save(update_fields=["status", "payout_reference", "note", "paid_by", "paid_at"])
    audit_record(
        actor=actor,
        action="refund.payout",
        obj=payout,
        reason=note,
        data={"order": payout.order.number, "amount": str(payout.amount), "payout_reference": payout_reference},
    )
    return payout
