"""Distributor wallets: creation, credit limits, top-ups."""

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from settlement.errors import InvalidAmount, LimitBreached
from settlement.models import Account, Transfer, Wallet
from settlement.services.ledger import platform_account, transfer_post, wallet_account, wallet_accounts_ensure
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO, money


def wallet_for(distributor) -> Wallet:
    """The distributor's wallet, created (with its accounts) on first use."""
    wallet = Wallet.objects.filter(distributor=distributor).first()
    if wallet is None:
        try:
            with transaction.atomic():
                wallet = Wallet.objects.create(distributor=distributor, currency=settings.DEFAULT_CURRENCY)
        except IntegrityError:
            wallet = Wallet.objects.get(distributor=distributor)
    wallet_accounts_ensure(wallet)
    return wallet


def _positive(amount, field: str = "amount") -> Decimal:
    try:
        value = money(amount)
    except (TypeError, ValueError, ArithmeticError):
        raise InvalidAmount(field=field)
    if value <= ZERO:
        raise InvalidAmount(_("The amount must be more than zero."), field=field)
    return value


@transaction.atomic
def wallet_credit_limit_set(*, wallet: Wallet, credit_limit, actor, reason: str = "") -> Wallet:
    """Change how far below zero the wallet may go; refused when the balance is already below the new floor."""
    limit = money(credit_limit)
    if limit < ZERO:
        raise InvalidAmount(_("The credit limit cannot be negative."), field="credit_limit")
    wallet = Wallet.objects.select_for_update().get(pk=wallet.pk)
    account = Account.objects.select_for_update().get(pk=wallet_account(wallet, Account.Kind.WALLET).pk)
    if account.balance < -limit:
        raise LimitBreached(
            _("The wallet is at %(balance)s; the credit limit cannot go below %(needed)s.")
            % {"balance": account.balance, "needed": -account.balance},
            field="credit_limit",
        )
    old = wallet.credit_limit
    wallet.credit_limit = limit
    wallet.save(update_fields=["credit_limit"])
    Account.objects.filter(pk=account.pk).update(min_balance=-limit)
    audit_record(actor=actor, action="wallet.credit_limit", obj=wallet, reason=reason, data={"from": str(old), "to": str(limit)})
    return wallet


@transaction.atomic
def wallet_topup_record(*, wallet: Wallet, amount, actor, reference: str, note: str = "", key: str | None = None) -> Transfer:
    """Finance records money received by bank transfer: bank (asset) debit, wallet credit."""
    amount = _positive(amount)
    if not reference.strip():
        raise InvalidAmount(_("Give the bank reference of the transfer."), field="reference")
    transfer = transfer_post(
        kind=Transfer.Kind.TOPUP,
        lines=[(platform_account(Account.Kind.BANK, wallet.currency), -amount), (wallet_account(wallet, Account.Kind.WALLET), amount)],
        reference=reference.strip(),
        memo=note or _("Top-up by bank transfer"),
        actor=actor,
        key=key or f"topup:bank:{wallet.pk}:{reference.strip()}",
    )
    audit_record(
        actor=actor, action="wallet.topup", obj=wallet, data={"amount": str(amount), "reference": reference, "transfer": transfer.pk}
    )
    return transfer


def wallet_topup_from_payment(*, payment) -> Transfer:
    """A top-up paid through a payment adapter (called when its callback is applied)."""
    wallet = payment.wallet
    return transfer_post(
        kind=Transfer.Kind.TOPUP,
        lines=[
            (platform_account(Account.Kind.PAYMENT_CLEARING, payment.currency), -payment.amount),
            (wallet_account(wallet, Account.Kind.WALLET), payment.amount),
        ],
        reference=payment.number,
        memo=_("Top-up paid online (%(adapter)s)") % {"adapter": payment.adapter},
        key=f"topup:payment:{payment.pk}",
    )
