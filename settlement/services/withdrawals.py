"""Withdrawals of available commission: requested by the distributor, decided by finance."""

import secrets
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement import conf
from settlement.errors import InvalidAmount, WithdrawalConflict, WithdrawalRefused
from settlement.integrations import withdrawal_risk_screen
from settlement.models import Account, Transfer, Wallet, Withdrawal
from settlement.services.ledger import platform_account, transfer_post, wallet_account
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO, money

K = Account.Kind


def withdrawal_fee(amount: Decimal) -> Decimal:
    """The fee rule: a rate of the amount, at least the minimum fee, never the whole amount."""
    fee = (amount * conf.withdrawal_fee_rate()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return min(max(fee, conf.withdrawal_fee_minimum()), amount - Decimal("0.01"))


def _replay(*, wallet: Wallet, amount: Decimal, key: str | None) -> Withdrawal | None:
    """The withdrawal already made under `key`, or None; a different request under the key is refused (409)."""
    if not key:
        return None
    existing = Withdrawal.objects.filter(request_key=key).first()
    if existing is not None and (existing.wallet_id != wallet.pk or existing.amount != amount):
        raise WithdrawalConflict(field="key")
    return existing


def withdrawal_request(*, wallet: Wallet, amount, payee: str, actor, key: str | None = None, ip: str | None = None) -> Withdrawal:
    """Move `amount` of available commission into "being withdrawn" and ask finance to pay it.

    Risk control's rules for withdrawals run first (RiskBlocked, 403, on block), outside the transaction, so
    a refusal's event is kept. A retry under the same key answers with the first withdrawal."""
    try:
        amount = money(amount)
    except (TypeError, ValueError, ArithmeticError):
        raise InvalidAmount(field="amount")
    existing = _replay(wallet=wallet, amount=amount, key=key)
    if existing is not None:
        return existing
    if amount < conf.withdrawal_minimum():
        raise WithdrawalRefused(_("The smallest withdrawal is %(min)s.") % {"min": conf.withdrawal_minimum()}, field="amount")
    if not payee.strip():
        raise WithdrawalRefused(_("Say where the money should go."), field="payee")
    withdrawal_risk_screen(actor=actor, distributor_id=wallet.distributor_id, amount=amount, ip=ip, reference=key or "")
    return _withdrawal_create(wallet=wallet, amount=amount, payee=payee, actor=actor, key=key)


@transaction.atomic
def _withdrawal_create(*, wallet: Wallet, amount: Decimal, payee: str, actor, key: str | None) -> Withdrawal:
    """The request's writes, under the lock of the wallet's available-commission account (validated by the caller)."""
    available = wallet_account(wallet, K.COMMISSION_AVAILABLE)
    balance = Account.objects.select_for_update().get(pk=available.pk).balance
    # A twin under the same key that held this lock before us has committed by now: answer with it.
    existing = _replay(wallet=wallet, amount=amount, key=key)
    if existing is not None:
        return existing
    if balance < amount:
        raise WithdrawalRefused(
            _("Only %(available)s of commission is available.") % {"available": balance},
            field="amount",
        )
    fee = withdrawal_fee(amount)
    number = "WD" + timezone.localdate().strftime("%y%m%d") + secrets.token_hex(4).upper()
    try:
        with transaction.atomic():
            withdrawal = Withdrawal.objects.create(
                number=number,
                wallet=wallet,
                amount=amount,
                fee=fee,
                net=amount - fee,
                payee=payee.strip()[:200],
                requested_by=actor,
                request_key=key or None,
            )
    except IntegrityError:
        return Withdrawal.objects.get(request_key=key)
    transfer_post(
        kind=Transfer.Kind.WITHDRAWAL_REQUEST,
        lines=[(available, -amount), (wallet_account(wallet, K.COMMISSION_WITHDRAWING), amount)],
        reference=number,
        actor=actor,
        key=f"withdrawal:{withdrawal.pk}:request",
        memo=_("Withdrawal requested"),
    )
    audit_record(actor=actor, action="withdrawal.request", obj=withdrawal, data={"amount": str(amount), "fee": str(fee)})
    return withdrawal


def _locked(withdrawal: Withdrawal) -> Withdrawal:
    return Withdrawal.objects.select_for_update().select_related("wallet").get(pk=withdrawal.pk)


@transaction.atomic
def withdrawal_approve(*, withdrawal: Withdrawal, actor, payout_reference: str, note: str = "") -> Withdrawal:
    """Finance paid the withdrawal. Approving again with the same payout reference changes nothing."""
    payout_reference = payout_reference.strip()
    if not payout_reference:
        raise WithdrawalRefused(_("Give the payout reference (bank transaction number)."), field="payout_reference")
    withdrawal = _locked(withdrawal)
    if withdrawal.status == Withdrawal.Status.APPROVED:
        if withdrawal.payout_reference == payout_reference:
            return withdrawal
        raise WithdrawalConflict(
            _("Already approved with payout reference %(ref)s.") % {"ref": withdrawal.payout_reference}, field="payout_reference"
        )
    if withdrawal.status != Withdrawal.Status.REQUESTED:
        raise WithdrawalConflict(_("This withdrawal was rejected."))
    wallet = withdrawal.wallet
    transfer_post(
        kind=Transfer.Kind.WITHDRAWAL_PAYOUT,
        lines=[
            (wallet_account(wallet, K.COMMISSION_WITHDRAWING), -withdrawal.amount),
            (platform_account(K.BANK, wallet.currency), withdrawal.net),
            (platform_account(K.FEE_INCOME, wallet.currency), withdrawal.fee),
        ],
        reference=withdrawal.number,
        actor=actor,
        key=f"withdrawal:{withdrawal.pk}:decision",
        memo=_("Paid out, reference %(ref)s") % {"ref": payout_reference},
    )
    withdrawal.status = Withdrawal.Status.APPROVED
    withdrawal.payout_reference = payout_reference[:100]
    withdrawal.note = note[:300]
    withdrawal.decided_by = actor
    withdrawal.decided_at = timezone.now()
    withdrawal.save(update_fields=["status", "payout_reference", "note", "decided_by", "decided_at"])
    audit_record(actor=actor, action="withdrawal.approve", obj=withdrawal, reason=note, data={"payout_reference": payout_reference})
    return withdrawal


@transaction.atomic
def withdrawal_reject(*, withdrawal: Withdrawal, actor, note: str) -> Withdrawal:
    """Finance refuses the withdrawal; the money goes back to available commission."""
    if not note.strip():
        raise WithdrawalRefused(_("Say why the withdrawal is rejected."), field="note")
    withdrawal = _locked(withdrawal)
    if withdrawal.status == Withdrawal.Status.REJECTED:
        return withdrawal
    if withdrawal.status != Withdrawal.Status.REQUESTED:
        raise WithdrawalConflict(_("This withdrawal was already paid."))
    wallet = withdrawal.wallet
    transfer_post(
        kind=Transfer.Kind.WITHDRAWAL_REJECT,
        lines=[
            (wallet_account(wallet, K.COMMISSION_WITHDRAWING), -withdrawal.amount),
            (wallet_account(wallet, K.COMMISSION_AVAILABLE), withdrawal.amount),
        ],
        reference=withdrawal.number,
        actor=actor,
        key=f"withdrawal:{withdrawal.pk}:decision",
        memo=_("Withdrawal rejected: %(note)s") % {"note": note},
    )
    withdrawal.status = Withdrawal.Status.REJECTED
    withdrawal.note = note[:300]
    withdrawal.decided_by = actor
    withdrawal.decided_at = timezone.now()
    withdrawal.save(update_fields=["status", "note", "decided_by", "decided_at"])
    audit_record(actor=actor, action="withdrawal.reject", obj=withdrawal, reason=note)
    return withdrawal


__all__ = ["withdrawal_approve", "withdrawal_fee", "withdrawal_reject", "withdrawal_request", "ZERO"]
