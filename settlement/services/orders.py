"""Orders: place, pay, deliver, expire, refund, replace. The only code that changes Order.status."""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import allocation
from catalog.codetext import text_code_guard
from catalog.models import CardCode, Sku
from channels import lock_objects as channel_locks
from channels import pricing as channel_pricing
from channels import services as channel_services
from channels.models import Distributor, Storefront, StorefrontItem
from marketing.models import Campaign
from marketing.services.offers import OfferRequest
from settlement import conf, integrations, lock_objects
from settlement.adapters import adapter_get
from settlement.errors import (
    InvalidAmount,
    NothingToRefund,
    OutOfStock,
    SettlementError,
)
from settlement.models import Account, CommissionAccrual, Order, OrderEvent, OrderItem, Transfer
from settlement.selectors import orders as order_selectors
from settlement.services import commission as commission_services
from settlement.services import notify, offers, stock, topups
from settlement.services.contacts import contact_of, contact_parse
from settlement.services.ledger import Posting, accounts_for, platform_account, transfer_post, transfers_post, wallet_account
from settlement.services.order_status import OrderChanges as _Changes
from settlement.services.order_status import status_set as _status_set
from settlement.services.order_status import user_of as _user
from settlement.services.wallets import wallet_for
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)
S = Order.Status


def order_number() -> str:
    """VH + date + 10 random characters: unique and not guessable from a neighbour's number."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "VH" + timezone.localdate().strftime("%y%m%d") + "".join(secrets.choice(alphabet) for _ in range(10))


def contact_normalized(contact: str) -> str:
    """The contact as its key is made: a mobile number as its 11 digits (+86, spaces and dashes dropped),
    anything else without spaces in lower case."""
    parsed = contact_of(contact)
    if parsed is not None and parsed.kind == "phone":
        return parsed.value
    return "".join((contact or "").split()).lower()


def contact_key(contact: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), ("order-contact:" + contact_normalized(contact)).encode(), hashlib.sha256).hexdigest()


def _locked(order: Order) -> Order:
    return lock_objects.order_lock(order)


# --- Placing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    unit_price: Decimal
    purchase_unit_price: Decimal
    floor_unit_price: Decimal  # the lowest retail price allowed (a distributor-funded campaign stays above it)


def _price(*, channel: str, distributor: Distributor, sku: Sku, quantity: int, storefront: Storefront | None) -> Price:
    quote = channel_pricing.price_quote(distributor=distributor, sku=sku, quantity=quantity)
    if channel != Order.Channel.STOREFRONT:
        purchase = money(quote.purchase_price)
        return Price(unit_price=purchase, purchase_unit_price=purchase, floor_unit_price=purchase)
    item = StorefrontItem.objects.filter(storefront=storefront, sku=sku, listed=True).first()
    if item is None or not storefront.is_open:
        raise SettlementError(_("This product is not on sale in this shop."), field="sku")
    channel_pricing.retail_price_check(distributor=distributor, sku=sku, price=item.retail_price, channel="order")
    return Price(
        unit_price=money(item.retail_price), purchase_unit_price=money(quote.purchase_price), floor_unit_price=money(quote.price_floor)
    )


def _claim(order: Order) -> tuple[list[CardCode], bool]:
    """Draw the distributor's quota for the SKU when it sells from one (channels writes the movement), then
    claim the codes (catalog: locked for this transaction, still available, or OutOfStock). Returns them
    and whether they came from the quota."""
    from_quota = channel_services.quota_held(distributor=order.distributor, sku=order.sku)
    if from_quota:
        channel_services.quota_draw(distributor=order.distributor, sku=order.sku, quantity=order.quantity, reference=order.number)
    return allocation.codes_claim(sku=order.sku, quantity=order.quantity), from_quota


def _items_add(order: Order, codes: list[CardCode], *, from_quota: bool, state: str) -> list[OrderItem]:
    return OrderItem.objects.bulk_create([OrderItem(order=order, code_id=code.pk, from_quota=from_quota, state=state) for code in codes])


@dataclass(frozen=True)
class OrderRequest:
    """An order as order_check_request validated and priced it: what order_place writes."""

    channel: str
    distributor: Distributor  # held for the caller's transaction (settlement/lock_objects.py, step 2)
    sku: Sku
    quantity: int
    price: Price
    total: Decimal
    pay_method: str
    storefront: Storefront | None
    contact: str
    customer_ref: str
    uplines: list[Distributor]  # the distributor's upline chain, nearest first
    topup_account: str = ""  # a top-up order's account and region, as supply normalised them
    topup_region: str = ""


def buyer_check(*, channel: str, distributor: Distributor, pay_method: str | None, contact: str, lookup_password: str, consumer=None):
    """The seller held (its row shared for the caller's transaction) and active, the pay method allowed for
    the channel, a storefront buyer's contact and lookup password (none for a signed-in `consumer`, reached
    at their phone unless a contact is given). Returns (distributor, pay_method, contact) or raises naming the field."""
    distributor = channel_locks.distributor_hold(distributor)
    if distributor.status != Distributor.Status.ACTIVE:
        raise SettlementError(_("This distributor is not active."), field="distributor")
    shop = channel == Order.Channel.STOREFRONT
    pay_method = pay_method or (Order.PayMethod.SANDBOX if shop else Order.PayMethod.WALLET)
    if shop and pay_method == Order.PayMethod.WALLET:
        raise SettlementError(_("Choose a payment method."), field="pay_method")
    if shop:
        adapter_get(pay_method, field="pay_method")  # a switched-off adapter (the sandbox in production) is refused
    if not shop and pay_method != Order.PayMethod.WALLET:
        raise SettlementError(_("Distributor orders are paid from the wallet."), field="pay_method")
    if shop:  # a mainland mobile number or an e-mail address, or 400 naming the field
        contact = contact_parse(contact or getattr(consumer, "phone", "")).value
    if shop and consumer is None and len(lookup_password) < 6:
        raise SettlementError(_("Choose a lookup password of at least 6 characters."), field="lookup_password")
    return distributor, pay_method, contact.strip()


def order_check_request(
    *,
    channel: str,
    distributor: Distributor,
    sku: Sku,
    quantity,
    storefront: Storefront | None = None,
    pay_method: str | None = None,
    contact: str = "",
    lookup_password: str = "",
    customer_ref: str = "",
    account: str = "",
    region: str = "",
    consumer=None,
) -> OrderRequest:
    """Lock what an order relies on and validate it, in the caller's transaction: the distributor's row is
    held (its status, level and place in the tree stay as read until the transaction ends; see
    settlement/lock_objects.py), then quantity, pay method, contact, lookup password and price are checked, and
    for a top-up SKU the account (and region) to top up. A signed-in `consumer` (marketing.Consumer) needs no
    lookup password (their /me/ page lists the order) and is reached at their phone unless a contact is given.
    Raises a DomainError naming the field."""
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("order_check_request holds its locks for the caller's transaction")
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        raise InvalidAmount(_("Quantity must be a whole number."), field="quantity")
    if not 1 <= quantity <= conf.max_order_quantity():
        raise InvalidAmount(_("Quantity must be between 1 and %(max)s.") % {"max": conf.max_order_quantity()}, field="quantity")
    text_code_guard(text=customer_ref, field="customer_ref")  # shown on lists and in exports: never a code
    distributor, pay_method, contact = buyer_check(
        channel=channel, distributor=distributor, pay_method=pay_method, contact=contact, lookup_password=lookup_password, consumer=consumer
    )
    topup = sku.fulfilment == Sku.Fulfilment.TOPUP
    account, region = topups.topup_order_check(sku=sku, quantity=quantity, account=account, region=region) if topup else ("", "")
    price = _price(channel=channel, distributor=distributor, sku=sku, quantity=quantity, storefront=storefront)
    return OrderRequest(
        channel=channel,
        distributor=distributor,
        sku=sku,
        quantity=quantity,
        price=price,
        total=money(price.unit_price * quantity),
        pay_method=pay_method,
        storefront=storefront,
        contact=contact,
        customer_ref=customer_ref,
        uplines=channel_pricing.upline_chain(distributor),
        topup_account=account,
        topup_region=region,
    )


def order_place(
    *,
    channel: str,
    distributor: Distributor,
    sku: Sku,
    quantity: int,
    actor=None,
    storefront: Storefront | None = None,
    pay_method: str | None = None,
    contact: str = "",
    lookup_password: str = "",
    customer_ref: str = "",
    account: str = "",
    region: str = "",
    campaign: str = "",
    referrer: str = "",
    idempotency_key: str | None = None,
    ip: str | None = None,
    device: str = "",
    challenge_passed: bool = False,
    consumer=None,
    offer_request: OfferRequest | None = None,
) -> Order:
    """Place an order (any way in): risk-checked, priced by marketing's campaigns (`offer_request`, or a new-user
    price for a signed-in `consumer`: services/offers.py), codes claimed, a wallet order paid and delivered at once
    unless risk review holds it (a top-up SKU's: topped up by supply, services/topups.py). One transaction, each
    owner writing its own rows (channels, catalog, marketing, settlement), after order_check_request's locks
    (settlement/lock_objects.py). An order already under `idempotency_key` is returned. Raises a DomainError."""
    verdict = order = offer = None
    try:
        # A savepoint inside a caller's transaction: a failed order leaves it usable (and the risk counters given back).
        with transaction.atomic():
            existing = order_selectors.order_by_key(distributor, idempotency_key)
            if existing is not None:
                return existing
            request = order_check_request(channel=channel, distributor=distributor, sku=sku, quantity=quantity, storefront=storefront,
                                          pay_method=pay_method, contact=contact, lookup_password=lookup_password,
                                          customer_ref=customer_ref, account=account, region=region, consumer=consumer)  # fmt: skip
            number = order_number()
            verdict = _risk_check(request, number=number, actor=actor, ip=ip, device=device, challenge_passed=challenge_passed)
            # A refusal writes nothing and takes no campaign place; its event stays, raised below.
            if not (verdict.blocked or verdict.needs_challenge):
                offer = offers.order_offer_take(request, number=number, consumer=consumer, offer_request=offer_request,
                                                ip=ip, device=device)  # fmt: skip
                order = _order_new(request, number=number, verdict=verdict, actor=actor, ip=ip, campaign=campaign,
                                   referrer=referrer, lookup_password=lookup_password, idempotency_key=idempotency_key)  # fmt: skip
                offers.order_offer_apply(order, offer=offer, consumer=consumer)
                _order_open(order, request=request, actor=actor)
    except Exception as failure:
        offers.order_offer_undo(offer)
        if verdict is not None:
            integrations.risk_undo(verdict)
        # A twin placed the order under the key first (this insert met order_idem_once, all rolled back): its order.
        existing = order_selectors.order_by_key(distributor, idempotency_key) if isinstance(failure, IntegrityError) else None
        if existing is None:
            raise
        return existing
    verdict.raise_if_refused()  # block: RiskBlocked (403), challenge: ChallengeRequired (428); risk control gave their counters back
    return order


def _order_open(order: Order, *, request: OrderRequest, actor) -> None:
    """The new order's first event, then its codes claimed (or a top-up's account handed to supply)."""
    changes = _Changes(order)
    changes.opened(actor=actor, note=request.channel)
    if order.is_topup:  # no codes: paid and held, supply tops the account up
        topups.topup_order_placed(order, changes=changes, actor=actor)
    else:
        _codes_placed(order, changes=changes, actor=actor, uplines=request.uplines)


def _codes_placed(order: Order, *, changes: _Changes, actor, uplines) -> None:
    """A new code order claims its codes: a wallet order is paid and delivered at once; any other waits for
    its payment (payment callback) with the codes reserved."""
    codes, from_quota = _claim(order)
    if order.pay_method == Order.PayMethod.WALLET:
        _settle(order, changes=changes, actor=actor, note="wallet", claimed=codes, from_quota=from_quota, uplines=uplines)
    else:
        stock.codes_hold(codes=codes, order_ref=order.number)
        changes.flush()  # the order row first: its items refer to it
        _items_add(order, codes, from_quota=from_quota, state=OrderItem.State.RESERVED)


def _risk_check(request: OrderRequest, *, number: str, actor, ip, device, challenge_passed):
    """Ask risk control (the decision is recorded). Allow and review reserve counters that a failed order gives
    back; block and challenge are refusals, whose counters risk control gives back itself."""
    contact = request.contact
    verdict = integrations.risk_check(
        reference=number,
        channel=str(request.channel),  # riskcontrol.models.Channel has Order.Channel's values
        sku_id=request.sku.pk,
        quantity=request.quantity,
        amount=request.total,
        ip=ip or "",
        device=device,
        account_id=getattr(_user(actor), "pk", None),
        email=contact if "@" in contact else "",
        phone=contact if contact and "@" not in contact else "",
        distributor_id=request.distributor.pk,
        storefront_id=request.storefront.pk if request.storefront else None,
        challenge_passed=challenge_passed,
    )
    return verdict


def _order_new(request: OrderRequest, *, number, verdict, actor, ip, campaign, referrer, lookup_password, idempotency_key) -> Order:
    """The new order, pending, in memory: _Changes.flush inserts it once its status is final (one INSERT where
    an INSERT pending and an UPDATE to delivered were two statements)."""
    distributor, sku, contact = request.distributor, request.sku, request.contact
    return Order(
        number=number,
        channel=request.channel,
        distributor=distributor,
        chain=[d.pk for d in request.uplines],
        storefront=request.storefront,
        campaign=campaign[:64],
        referrer=referrer[:200],
        placed_by=_user(actor),
        customer_ref=request.customer_ref[:64],
        topup_account=request.topup_account,
        topup_region=request.topup_region,
        ip=ip or None,
        sku=sku,
        quantity=request.quantity,
        currency=sku.currency,
        unit_price=request.price.unit_price,
        total=request.total,
        purchase_unit_price=request.price.purchase_unit_price,
        unit_cost=sku.cost_price,
        pay_method=request.pay_method,
        hold=Order.Hold.REVIEW if verdict.held_for_review else Order.Hold.NONE,
        risk_outcome=verdict.outcome,
        risk_reasons=verdict.messages(),
        risk_event_id=verdict.event_id,
        contact=contact,
        contact_key=contact_key(contact) if contact else "",
        lookup_password=make_password(lookup_password) if lookup_password else "",
        idempotency_key=idempotency_key or None,
        expires_at=timezone.now() + conf.order_ttl(),
    )


# --- Paying and delivering ------------------------------------------------------------------------


def _live_items(order: Order, state=None):
    qs = order.items.filter(state__in=[state] if state else OrderItem.LIVE)
    return qs


@transaction.atomic
def order_pay(*, order: Order, actor=None, payment=None, note: str = "") -> Order:
    """The money for the order is in (wallet debited here, or a payment callback applied). Books the sale
    and the commission, then delivers unless risk review holds it. A paid order whose codes cannot be
    delivered any more (it expired and the stock is gone) is refunded at once, and so is one that risk
    review rejected: the money is taken in and paid straight back, never turned into codes. The paid event
    says the payment's number, else `note` (who paid: a giveaway's campaign), else "wallet"."""
    order = _locked(order)
    if order.status not in (S.PENDING, S.EXPIRED, S.CANCELLED):
        return order  # already paid: a repeated call changes nothing
    if order.is_topup:  # no codes to claim: held until supply's outcome
        topups.topup_order_paid(order, changes=_Changes(order), actor=actor, note=payment.number if payment else "wallet")
        return order
    # Risk review rejected the order (it was cancelled unpaid): the money must not buy codes.
    rejected = order.hold == Order.Hold.REJECTED
    # A campaign order's place (flash stock, coupon, group seat) may be gone: after the order expired, or when
    # marketing's own timer released it first. Then the money is refunded, never oversold.
    undeliverable = rejected or not offers.order_offer_still_held(order)
    if order.status != S.PENDING and not undeliverable:
        # The money came after the codes were released (expired): try to claim codes again.
        try:
            with transaction.atomic():
                codes, from_quota = _claim(order)
                stock.codes_hold(codes=codes, order_ref=order.number)
                _items_add(order, codes, from_quota=from_quota, state=OrderItem.State.RESERVED)
        except (OutOfStock, DomainError):
            undeliverable = True
    note = payment.number if payment else (note or "wallet")[:300]
    if not undeliverable:
        _settle(order, changes=_Changes(order), actor=actor, note=note, payment=payment)
        return order
    _status_set(order, S.PAID, actor=actor, note=note)
    accounts = _sale_accounts(order, shares=[])
    transfers_post([_sale_posting(order, accounts=accounts, actor=actor)])
    # Nothing to deliver (the codes are gone, or review refused the order): refund in full, never leave
    # the buyer hanging. Codes still reserved for a rejected order go back to the pool in the refund.
    if rejected:
        reason = _("Paid after risk review rejected the order: refunded automatically.")
    elif order.promotion_id is not None:
        reason = _("Paid after the order expired and its campaign place was given back: refunded automatically.")
    else:
        reason = _("Paid after the order expired and the stock ran out: refunded automatically.")
    order_refund(order=order, actor=None, reason=reason, undeliverable=True)
    return Order.objects.get(pk=order.pk)


def _sale_accounts(order: Order, *, shares) -> dict:
    """Every ledger account that paying this order moves, read in one query."""
    return accounts_for(**_sale_accounts_wanted(order, shares=shares))


def _sale_accounts_wanted(order: Order, *, shares) -> dict:
    platform = {Account.Kind.REVENUE, Account.Kind.COST_OF_GOODS, Account.Kind.SUPPLIER_PAYABLE}
    wallets: dict[int, tuple[Distributor, set[str]]] = {}
    if order.pay_method == Order.PayMethod.WALLET:
        wallets[order.distributor.pk] = (order.distributor, {Account.Kind.WALLET})
    else:
        platform.add(Account.Kind.PAYMENT_CLEARING)
    if order.discount_platform > ZERO:
        platform.add(Account.Kind.MARKETING_EXPENSE)
    commission_platform, commission_wallets = commission_services.commission_accounts_wanted(shares)
    platform |= commission_platform
    for distributor, kinds in commission_wallets.items():
        wallets.setdefault(distributor.pk, (distributor, set()))[1].update(kinds)
    return {"currency": order.currency, "platform": platform, "wallets": dict(wallets.values())}


def _sale_posting(order: Order, *, accounts: dict, actor=None) -> Posting:
    """The sale: revenue credited, the buyer's wallet (or the payment provider's clearing) debited. A campaign's
    platform-funded discount is revenue too, debited to marketing expense (the buyer paid the rest); a
    distributor-funded discount is not revenue: it comes off the storefront distributor's margin."""
    if order.pay_method == Order.PayMethod.WALLET:
        payer = accounts[(order.distributor.pk, Account.Kind.WALLET)]
    else:
        payer = accounts[(None, Account.Kind.PAYMENT_CLEARING)]
    lines = [(accounts[(None, Account.Kind.REVENUE)], order.total + order.discount_platform), (payer, -order.total)]
    if order.discount_platform > ZERO:
        lines.append((accounts[(None, Account.Kind.MARKETING_EXPENSE)], -order.discount_platform))
    return Posting(
        kind=Transfer.Kind.SALE,
        lines=lines,
        reference=order.number,
        order=order,
        actor=actor,
        key=f"sale:{order.pk}",
        memo=_("%(qty)s × %(sku)s") % {"qty": order.quantity, "sku": order.sku.code},
    )


def _cost_posting(order: Order, *, accounts: dict) -> Posting | None:
    """The codes consumed at cost: cost of goods debited, the supplier payable credited."""
    cost = money(order.unit_cost * order.quantity)
    if cost <= ZERO:
        return None
    return Posting(
        kind=Transfer.Kind.SALE,
        lines=[(accounts[(None, Account.Kind.COST_OF_GOODS)], -cost), (accounts[(None, Account.Kind.SUPPLIER_PAYABLE)], cost)],
        reference=order.number,
        order=order,
        key=f"cost:{order.pk}",
        memo=_("Cost of %(qty)s × %(sku)s") % {"qty": order.quantity, "sku": order.sku.code},
    )


def _settle(
    order: Order,
    *,
    changes: _Changes,
    actor=None,
    note: str = "",
    payment=None,
    claimed: list[CardCode] | None = None,
    from_quota: bool = False,
    uplines: list[Distributor] | None = None,
) -> None:
    """A pending order (locked, or new in this transaction) is paid: the codes delivered unless risk review
    holds the order or its group buy is not full yet (marketing's offer_paid), then the sale, its cost and
    the commission booked. `claimed`: codes just claimed for a
    new order (catalog.allocation, still available), whose items are not written yet."""
    changes.move(S.PAID, actor=actor, note=note)
    if offers.order_offer_paid(order) and order.hold in (Order.Hold.NONE, Order.Hold.APPROVED):
        changes.hold_set(Order.Hold.GROUP)  # a group buy not full yet: delivered when the group completes
    deliver = order.hold not in (Order.Hold.REVIEW, Order.Hold.GROUP)
    if claimed is not None:
        if deliver:
            _deliver(order, changes=changes, actor=actor, codes=claimed)
        else:
            stock.codes_hold(codes=claimed, order_ref=order.number)
        changes.flush()  # a new order's row first: its items refer to it
        _items_add(order, claimed, from_quota=from_quota, state=OrderItem.State.DELIVERED if deliver else OrderItem.State.RESERVED)
    else:
        if deliver:
            _deliver(order, changes=changes, actor=actor, items=list(_live_items(order, OrderItem.State.RESERVED)))
        changes.flush()
    if deliver:
        notify.order_events(order=order, events=["order.paid", "order.delivered"])
    _book(order, actor=actor, uplines=uplines)


def _book(order: Order, *, actor=None, uplines: list[Distributor] | None = None) -> None:
    """Book a paid order: the sale, its cost and the commission, in one batch (ledger.transfers_post),
    last in the transaction so the hot accounts (the platform's, the buyer's wallet) stay locked only
    for its last statements. An order is paid once (its status moved from pending under lock, or it is
    new), so its commission is new too."""
    shares = commission_services.commission_shares(order=order, uplines=uplines)
    accounts = _sale_accounts(order, shares=shares)
    postings = [
        _sale_posting(order, accounts=accounts, actor=actor),
        _cost_posting(order, accounts=accounts),
        commission_services.commission_posting(order=order, shares=shares, accounts=accounts),
    ]
    transfers_post([p for p in postings if p is not None])
    if shares:
        CommissionAccrual.objects.bulk_create(commission_services.commission_accruals(order=order, shares=shares, accounts=accounts))


def _deliver(order: Order, *, changes: _Changes, actor=None, codes: list[CardCode] | None = None, items=None) -> None:
    """The order's codes become the buyer's (sold); the order moves to delivered; a consumer is sent the
    link. Either `codes` (just claimed in this transaction, items written by the caller) or the live
    reserved `items`, whose state is moved here."""
    user = _user(actor)
    if codes is not None:
        stock.codes_sell(codes=codes, sku=order.sku, order_ref=order.number, actor=user)
        ids = [code.pk for code in codes]
    else:
        ids = [item.code_id for item in items]
        stock.codes_sell(ids=ids, sku=order.sku, order_ref=order.number, actor=user)
        OrderItem.objects.filter(pk__in=[i.pk for i in items]).update(state=OrderItem.State.DELIVERED, changed_at=timezone.now())
    channel_services.code_sale_record(
        code_ids=ids, distributor=order.distributor, order_ref=order.number, unit_price=order.unit_price, sku=order.sku
    )
    changes.move(S.DELIVERED, actor=actor)
    if order.is_consumer and order.basket:
        _basket_link_send(order)
    elif order.is_consumer:
        link = integrations.holding_link(code_ids=ids, contact=order.contact, order_ref=order.number)
        if link and not _marketing_tells_buyer(order):  # the private page exists either way (/me/ links to it)
            transaction.on_commit(lambda: notify.consumer_codes_ready(order_id=order.pk, link=link))


def _marketing_tells_buyer(order: Order) -> bool:
    """A targeted issuance's free code (its campaign is the order's promotion): marketing's own notice, which
    names the gift and leads to /me/ (where the order and its codes are), is the recipient's one message."""
    return order.promotion_id is not None and order.promotion.kind == Campaign.Kind.TARGETED


def _basket_link_send(order: Order) -> None:
    """A bundle's codes go out together: once the last paid order of the basket is delivered (its items
    already moved), one private link for every delivered code of the basket, under the basket's number."""
    if Order.objects.filter(basket=order.basket, status__in=[S.PENDING, S.PAID]).exclude(pk=order.pk).exists():
        return
    ids = list(OrderItem.objects.filter(order__basket=order.basket, state=OrderItem.State.DELIVERED).values_list("code_id", flat=True))
    link = integrations.holding_link(code_ids=ids, contact=order.contact, order_ref=order.basket) if ids else ""
    if link:
        lead_id = Order.objects.filter(number=order.basket).values_list("pk", flat=True).first() or order.pk
        transaction.on_commit(lambda: notify.consumer_codes_ready(order_id=lead_id, link=link))


@transaction.atomic
def order_deliver(*, order: Order, actor=None) -> Order:
    """Reserved codes become the buyer's (sold); the order is delivered; the buyer is told by link."""
    order = _locked(order)
    if order.status != S.PAID:
        return order
    changes = _Changes(order)
    _deliver(order, changes=changes, actor=actor, items=list(_live_items(order, OrderItem.State.RESERVED)))
    changes.flush()
    notify.order_events(order=order, events=["order.paid", "order.delivered"])
    return order


@transaction.atomic
def order_hold_decide(*, reference: str, approved: bool, actor=None, note: str = "") -> Order | None:
    """Risk review decided on a held order: deliver it, or refund it (or cancel it when unpaid). A bundle's
    basket was reviewed as one (under its lead order's number): the decision applies to every order of it."""
    order = lock_objects.orders_lock(number=reference).first()
    if order is None or order.hold != Order.Hold.REVIEW:
        return order
    if order.basket == order.number:
        for other in lock_objects.orders_lock(basket=order.basket, hold=Order.Hold.REVIEW).exclude(pk=order.pk):
            _hold_decided(other, approved=approved, actor=actor, note=note)
    return _hold_decided(order, approved=approved, actor=actor, note=note)


def _hold_decided(order: Order, *, approved: bool, actor, note: str) -> Order:
    order.hold = Order.Hold.APPROVED if approved else Order.Hold.REJECTED
    order.save(update_fields=["hold"])
    OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=order.status,
        actor=_user(actor),
        note=(_("Risk review approved") if approved else _("Risk review rejected")) + (f": {note}" if note else ""),
    )
    if approved:
        if order.status == S.PAID and order.is_topup:
            topups.topup_order_submit(order)
        elif order.status == S.PAID and offers.order_offer_waits_for_group(order):
            order.hold = Order.Hold.GROUP  # approved, and still waiting for its group: delivered when it completes
            order.save(update_fields=["hold"])
        elif order.status == S.PAID:
            return order_deliver(order=order, actor=actor)
        return order
    if order.status == S.PENDING:
        return order_cancel(order=order, actor=actor, reason="risk review rejected", note=note)
    if order.status == S.PAID and order.is_topup:
        return topups.topup_order_review_rejected(order, actor=actor, note=note)
    if order.status == S.PAID:
        return order_refund(order=order, actor=actor, reason=_("Rejected by risk review. %(note)s") % {"note": note})
    return order


@transaction.atomic
def order_cancel(*, order: Order, reason: str, actor=None, note: str = "") -> Order:
    """An unpaid order is cancelled: its reserved codes go back to the pool (`reason` on their events), its
    campaign places back to marketing. An order that is not pending is returned unchanged."""
    order = _locked(order)
    if order.status != S.PENDING:
        return order
    _release_reserved(order, reason=reason)
    _status_set(order, S.CANCELLED, actor=actor, note=note)
    offers.order_offer_released(order)
    return order


def _release_reserved(order: Order, *, reason: str) -> int:
    items = list(_live_items(order, OrderItem.State.RESERVED))
    if not items:
        return 0
    stock.codes_release(ids=[i.code_id for i in items], order_ref=order.number, reason=reason)
    OrderItem.objects.filter(pk__in=[i.pk for i in items]).update(state=OrderItem.State.RELEASED, changed_at=timezone.now())
    from_quota = sum(1 for i in items if i.from_quota)
    if from_quota:
        channel_services.quota_return(distributor=order.distributor, sku=order.sku, quantity=from_quota, reference=order.number)
    return len(items)


def orders_expire(*, now=None, limit: int = 500) -> int:
    """Unpaid orders past their time give their codes back. Safe to run twice and in parallel."""
    now = now or timezone.now()
    done = 0
    ids = list(Order.objects.filter(status=S.PENDING, expires_at__lt=now).order_by("pk").values_list("pk", flat=True)[:limit])
    for pk in ids:
        with transaction.atomic():
            order = lock_objects.orders_lock_free(pk=pk, status=S.PENDING, expires_at__lt=now).first()
            if order is None:
                continue
            _release_reserved(order, reason="order expired")
            _status_set(order, S.EXPIRED, note=_("Not paid in time"))
            offers.order_offer_released(order)  # the campaign's place (flash stock, coupon, group seat) goes back
            done += 1
    return done


# --- Refunds and after-sales ----------------------------------------------------------------------


@transaction.atomic
def order_refund(
    *, order: Order, actor=None, reason: str, quantity: int | None = None, undeliverable: bool = False, item: OrderItem | None = None
) -> Order:
    """Refund unredeemed codes of a paid order (all, or `quantity` of them, or the one code `item`: an
    after-sales case names the code it is about). Delivered codes are voided (returned to nobody); codes
    never delivered go back to the pool. The sale is reversed in proportion and the commission clawed back
    (frozen first, then available, the rest as debt)."""
    order = _locked(order)
    if order.status not in (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED):
        raise NothingToRefund()
    if order.is_topup:  # its supplier may still be topping up: the outcome refunds it (services/topups.py)
        raise NothingToRefund(_("A top-up order is refunded by the top-up's outcome, not by hand."), field="order")
    if not reason.strip():
        raise SettlementError(_("Say why the order is refunded."), field="reason")
    units, chosen = _refund_chosen(order, quantity=quantity, undeliverable=undeliverable, item=item)
    back = _refund_items(order, chosen, actor=actor, reason=reason)
    full = order.refunded_quantity + units >= order.quantity
    # In proportion to the units (a coupon's discount spread over them): unit_price × units without one.
    amount = order.total - order.refunded_amount if full else money(order.total * units / order.quantity)
    n = order.transfers.filter(kind=Transfer.Kind.REFUND).count() + 1
    expense = offers.discount_share(order, units_before=order.refunded_quantity, units_after=order.refunded_quantity + units)
    _refund_post(order, amount=amount, expense=expense, returned=len(back), n=n, actor=actor, reason=reason)
    commission_services.commission_clawback(order=order, units=units, full=full, actor=actor)
    order.refunded_quantity += units
    order.refunded_amount += amount
    order.save(update_fields=["refunded_quantity", "refunded_amount"])
    _status_set(order, S.REFUNDED if full else S.PARTIALLY_REFUNDED, actor=actor, note=reason)
    audit_record(actor=_user(actor), action="order.refund", obj=order, reason=reason, data={"units": units, "amount": str(amount)})
    if not undeliverable:  # an undeliverable order's campaign place was given back already (expired, rejected)
        offers.order_offer_refunded(order, amount=amount)
    if order.pay_method != Order.PayMethod.WALLET and amount > ZERO:
        from settlement.services.payments import payment_refund_for_order

        payment_refund_for_order(order=order, amount=amount, reference=f"{order.number}-R{n}")
    notify.order_event(order=order, event="order.refunded", extra={"refunded_quantity": units, "refunded_amount": str(amount)})
    return order


def _refund_chosen(order: Order, *, quantity: int | None, undeliverable: bool, item: OrderItem | None) -> tuple[int, list[OrderItem]]:
    """The units a refund counts and the items it takes back: reserved items, and delivered ones whose code was
    not redeemed (the one `item`, or the first `quantity`, or all). Raises NothingToRefund naming the field."""
    reserved = list(_live_items(order, OrderItem.State.RESERVED))
    delivered = list(_live_items(order, OrderItem.State.DELIVERED).select_related("code"))
    refundable = reserved + [i for i in delivered if i.code.status == CardCode.Status.SOLD]
    if item is not None:
        refundable = [i for i in refundable if i.pk == item.pk]
        if not refundable:
            raise NothingToRefund(_("This code cannot be refunded: it was redeemed, replaced or refunded."), field="item")
        quantity = 1
    if undeliverable:
        return order.quantity - order.refunded_quantity, refundable
    units = len(refundable) if quantity is None else int(quantity)
    if units < 1 or units > len(refundable):
        raise NothingToRefund(
            _("%(n)s of this order's codes can be refunded (redeemed codes cannot).") % {"n": len(refundable)}, field="quantity"
        )
    return units, refundable[:units]


def _refund_items(order: Order, chosen: list[OrderItem], *, actor, reason: str) -> list[OrderItem]:
    """The chosen items refunded: codes never shown to the buyer back to the pool, delivered ones voided, quota
    drawn for them given back. Returns the items whose codes went back to the pool."""
    back = [i for i in chosen if i.state == OrderItem.State.RESERVED]
    void = [i for i in chosen if i.state == OrderItem.State.DELIVERED]
    if back:
        stock.codes_release(ids=[i.code_id for i in back], order_ref=order.number, reason="refund")
    if void:
        stock.codes_void(ids=[i.code_id for i in void], order_ref=order.number, actor=_user(actor), reason=reason)
    OrderItem.objects.filter(pk__in=[i.pk for i in chosen]).update(state=OrderItem.State.REFUNDED, changed_at=timezone.now())
    from_quota = sum(1 for i in chosen if i.from_quota)
    if from_quota:
        channel_services.quota_return(distributor=order.distributor, sku=order.sku, quantity=from_quota, reference=order.number)
    return back


def _refund_post(order: Order, *, amount, expense, returned: int, n: int, actor, reason: str) -> None:
    """The refund's ledger: `amount` back to the payer (its wallet, or the refunds clearing of a paid-by-provider
    order) and the platform-funded discount's share `expense` back to marketing expense, both off revenue; and
    the cost of `returned` codes that went back to stock taken off again. `n`: the refund's number."""
    revenue = platform_account(Account.Kind.REVENUE, order.currency)
    if order.pay_method == Order.PayMethod.WALLET:
        payer = wallet_account(wallet_for(order.distributor), Account.Kind.WALLET)
    else:
        payer = platform_account(Account.Kind.REFUNDS_CLEARING, order.currency)
    lines = [(revenue, -(amount + expense))]
    if amount > ZERO:
        lines.append((payer, amount))
    if expense > ZERO:
        lines.append((platform_account(Account.Kind.MARKETING_EXPENSE, order.currency), expense))
    if amount > ZERO or expense > ZERO:
        transfer_post(
            kind=Transfer.Kind.REFUND,
            lines=lines,
            reference=order.number,
            order=order,
            actor=actor,
            key=f"refund:{order.pk}:{n}",
            memo=reason,
        )
    if returned and order.paid_at and order.transfers.filter(key=f"cost:{order.pk}").exists():
        # Stock that goes back to the pool was never consumed: take its cost back off.
        cost = money(order.unit_cost * returned)
        transfer_post(
            kind=Transfer.Kind.REFUND,
            lines=[
                (platform_account(Account.Kind.COST_OF_GOODS, order.currency), cost),
                (platform_account(Account.Kind.SUPPLIER_PAYABLE, order.currency), -cost),
            ],
            reference=order.number,
            order=order,
            key=f"refund-cost:{order.pk}:{n}",
            memo=_("Codes returned to stock"),
        )


@transaction.atomic
def order_code_replace(*, item: OrderItem, actor, reason: str) -> OrderItem:
    """After-sales: a delivered, unredeemed code is reported bad. It is voided and a new one delivered."""
    if not reason.strip():
        raise SettlementError(_("Say why the code is replaced."), field="reason")
    order = _locked(item.order)
    item = lock_objects.order_item_lock(item)
    if item.state != OrderItem.State.DELIVERED or item.code.status != CardCode.Status.SOLD:
        raise SettlementError(_("Only a delivered code that was not redeemed can be replaced."), field="item")
    new_ids = stock.codes_reserve(sku=order.sku, quantity=1, order_ref=order.number)
    stock.codes_void(ids=[item.code_id], order_ref=order.number, actor=actor, reason=reason)
    stock.codes_sell(ids=new_ids, sku=order.sku, order_ref=order.number, actor=actor)
    OrderItem.objects.filter(pk=item.pk).update(state=OrderItem.State.REPLACED, changed_at=timezone.now())
    new_item = OrderItem.objects.create(
        order=order, code_id=new_ids[0], state=OrderItem.State.DELIVERED, replaces=item, from_quota=item.from_quota
    )
    channel_services.code_sale_record(code_ids=new_ids, distributor=order.distributor, order_ref=order.number, unit_price=order.unit_price)
    cost = money(order.unit_cost)
    if cost > ZERO:  # one more code consumed from the supplier
        transfer_post(
            kind=Transfer.Kind.SALE,
            lines=[
                (platform_account(Account.Kind.COST_OF_GOODS, order.currency), -cost),
                (platform_account(Account.Kind.SUPPLIER_PAYABLE, order.currency), cost),
            ],
            reference=order.number,
            order=order,
            key=f"replace-cost:{new_item.pk}",
            memo=_("Replacement code"),
        )
    OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=order.status,
        actor=_user(actor),
        note=_("Code replaced: %(reason)s") % {"reason": reason},
    )
    audit_record(actor=actor, action="order.code_replace", obj=order, reason=reason, data={"old": item.code.hint, "item": new_item.pk})
    if order.is_consumer:
        link = integrations.holding_link(code_ids=new_ids, contact=order.contact, order_ref=f"{order.number}-X{new_item.pk}")
        if link:
            transaction.on_commit(lambda: notify.consumer_codes_ready(order_id=order.pk, link=link))
    return new_item
