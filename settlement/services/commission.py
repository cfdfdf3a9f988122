"""Commission: earned (frozen) on each paid sale, released later, clawed back on refunds."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels import pricing as channel_pricing
from channels.models import Distributor
from settlement import conf
from settlement.models import Account, CommissionAccrual, Order, Transfer
from settlement.services.ledger import Posting, accounts_for, platform_account, transfer_post, transfers_post, wallet_account
from voucherhub.core.money import ZERO, money

K = Account.Kind


@dataclass(frozen=True)
class Share:
    """One beneficiary's commission on a sale: the seller's margin (depth 0) or an upline's share."""

    beneficiary: Distributor
    depth: int
    amount: Decimal
    rule: str


def commission_shares(*, order: Order, uplines: list[Distributor] | None = None) -> list[Share]:
    """The seller's margin (storefront sales) and the uplines' commission (channels rules, ≤ 3 levels)
    on a paid order. `uplines`: the seller's upline chain when the caller has it at hand."""
    shares: list[Share] = []
    if order.channel == Order.Channel.STOREFRONT:
        # What the sale brought in (the buyer's total and a platform-funded discount) less the distributor's
        # price: a distributor-funded campaign discount comes off this margin.
        margin = money(order.total + order.discount_platform - order.purchase_unit_price * order.quantity)
        if margin > ZERO:
            shares.append(Share(order.distributor, 0, margin, _("Retail margin")))
    plan = channel_pricing.commission_plan(
        seller=order.distributor, sku=order.sku, sale_amount=order.total, quantity=order.quantity, uplines=uplines
    )
    for line in plan:
        shares.append(Share(line.beneficiary, line.depth, money(line.amount), str(line.rule)[:200]))
    return shares


def commission_accounts_wanted(shares: list[Share]) -> tuple[set[str], dict[Distributor, set[str]]]:
    """The ledger accounts (platform kinds, {beneficiary: kinds}) that booking these shares moves."""
    if not shares:
        return set(), {}
    return {K.COMMISSION_EXPENSE}, {share.beneficiary: {K.COMMISSION_FROZEN} for share in shares}


def commission_posting(*, order: Order, shares: list[Share], accounts: dict) -> Posting | None:
    """The transfer that books the shares as frozen commission (accounts from ledger.accounts_for)."""
    if not shares:
        return None
    expense = accounts[(None, K.COMMISSION_EXPENSE)]
    lines = []
    for share in shares:
        lines += [(expense, -share.amount), (accounts[(share.beneficiary.pk, K.COMMISSION_FROZEN)], share.amount)]
    return Posting(
        kind=Transfer.Kind.COMMISSION,
        lines=lines,
        reference=order.number,
        order=order,
        key=f"commission:{order.pk}",
        memo=_("Commission on %(number)s") % {"number": order.number},
    )


def commission_accruals(*, order: Order, shares: list[Share], accounts: dict) -> list[CommissionAccrual]:
    """The accrual rows of the shares (unsaved), to write in the transaction that posts commission_posting."""
    release_at = timezone.now() + conf.release_after()
    return [
        CommissionAccrual(
            order=order,
            wallet_id=accounts[(share.beneficiary.pk, K.COMMISSION_FROZEN)].wallet_id,
            depth=share.depth,
            amount=share.amount,
            frozen_remaining=share.amount,
            release_after=release_at,
            rule=share.rule,
        )
        for share in shares
    ]


@transaction.atomic
def commission_accrue(*, order: Order, uplines: list[Distributor] | None = None) -> list[CommissionAccrual]:
    """Book the seller's margin (storefront sales) and the uplines' commission as frozen commission.
    Once per order: a second call returns the accruals of the first."""
    if order.commissions.exists():
        return list(order.commissions.all())
    shares = commission_shares(order=order, uplines=uplines)
    if not shares:
        return []
    platform, wallets = commission_accounts_wanted(shares)
    accounts = accounts_for(currency=order.currency, platform=platform, wallets=wallets)
    transfers_post([commission_posting(order=order, shares=shares, accounts=accounts)])
    return CommissionAccrual.objects.bulk_create(commission_accruals(order=order, shares=shares, accounts=accounts))


def _lock_wallet_accounts(wallets, extra=()) -> dict[int, Decimal]:
    """Lock every account of these wallets (plus `extra`) in id order; returns their balances."""
    ids = set(Account.objects.filter(wallet__in=[w.pk for w in wallets]).values_list("pk", flat=True)) | {a.pk for a in extra}
    return dict(Account.objects.select_for_update().filter(pk__in=sorted(ids)).order_by("pk").values_list("pk", "balance"))


@transaction.atomic
def commission_release(*, accrual: CommissionAccrual, reason: str = "") -> CommissionAccrual:
    """Frozen → available; an outstanding commission debt is paid off first. Safe to call twice."""
    accrual = CommissionAccrual.objects.select_for_update().select_related("wallet").get(pk=accrual.pk)
    if accrual.status != CommissionAccrual.Status.FROZEN:
        return accrual
    amount = accrual.frozen_remaining
    if amount > ZERO:
        wallet = accrual.wallet
        frozen = wallet_account(wallet, K.COMMISSION_FROZEN)
        debt = wallet_account(wallet, K.COMMISSION_DEBT)
        # Lock the wallet's accounts (in id order, as transfer_post does) before reading the debt,
        # so two releases cannot both pay off the same debt.
        balances = _lock_wallet_accounts([wallet])
        set_off = min(amount, -balances[debt.pk])
        lines = [(frozen, -amount)]
        if set_off > ZERO:
            lines.append((debt, set_off))
        if amount - set_off > ZERO:
            lines.append((wallet_account(wallet, K.COMMISSION_AVAILABLE), amount - set_off))
        transfer_post(
            kind=Transfer.Kind.RELEASE,
            lines=lines,
            reference=accrual.order.number,
            order=accrual.order,
            key=f"release:{accrual.pk}",
            memo=reason or _("Commission released"),
        )
    accrual.status = CommissionAccrual.Status.RELEASED
    accrual.frozen_remaining = ZERO
    accrual.released_at = timezone.now()
    accrual.save(update_fields=["status", "frozen_remaining", "released_at"])
    return accrual


def commissions_release_due(*, now=None) -> int:
    """The scheduled job: release commission that is past its freeze time, and each sale line's share once
    its code is redeemed (settlement/services/release.py). Safe to run twice."""
    from settlement.services.release import commissions_release_run

    return commissions_release_run(now=now)


def commission_release_for_codes(*, code_ids) -> int:
    """Release at once the commission share of these redeemed codes' sale lines (the job does it otherwise)."""
    from settlement.services.release import commissions_release_for_codes

    return commissions_release_for_codes(code_ids=code_ids)


def commission_clawback(*, order: Order, units: int, full: bool, actor=None) -> Decimal:
    """Take back the commission on refunded units: from this commission's frozen part first, then the
    beneficiary's available commission; what was already withdrawn becomes commission debt."""
    total = ZERO
    accruals = list(
        CommissionAccrual.objects.select_for_update()
        .select_related("wallet")
        .filter(order=order)
        .filter(~Q(status=CommissionAccrual.Status.CLAWED_BACK))
        .order_by("pk")
    )
    expense = platform_account(K.COMMISSION_EXPENSE, order.currency)
    n = order.transfers.filter(kind=Transfer.Kind.CLAWBACK).count() + 1
    lines = []
    balances = _lock_wallet_accounts([a.wallet for a in accruals], extra=[expense]) if accruals else {}
    for accrual in accruals:
        remaining = accrual.amount - accrual.clawed_back
        take = remaining if full else min(remaining, money(accrual.amount * units / order.quantity))
        if take <= ZERO:
            continue
        wallet = accrual.wallet
        from_frozen = min(take, accrual.frozen_remaining)
        rest = take - from_frozen
        available_account = wallet_account(wallet, K.COMMISSION_AVAILABLE)
        # Other lines of this transfer may already take from the same available account.
        already = sum((-amt for acc, amt in lines if acc.pk == available_account.pk), ZERO)
        available = max(balances[available_account.pk] - already, ZERO)
        from_available = min(rest, available)
        to_debt = rest - from_available
        if from_frozen:
            lines.append((wallet_account(wallet, K.COMMISSION_FROZEN), -from_frozen))
        if from_available:
            lines.append((available_account, -from_available))
        if to_debt:
            lines.append((wallet_account(wallet, K.COMMISSION_DEBT), -to_debt))
        lines.append((expense, take))
        accrual.clawed_back += take
        accrual.frozen_remaining -= from_frozen
        if accrual.clawed_back == accrual.amount:
            accrual.status = CommissionAccrual.Status.CLAWED_BACK
        accrual.save(update_fields=["clawed_back", "frozen_remaining", "status"])
        total += take
    if lines:
        transfer_post(
            kind=Transfer.Kind.CLAWBACK,
            lines=lines,
            reference=order.number,
            order=order,
            actor=actor,
            key=f"clawback:{order.pk}:{n}",
            memo=_("Commission clawed back on refund"),
        )
    return total
