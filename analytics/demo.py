"""Ninety days of demo history, so that every dashboard of `make run` shows a trend, a weekly rhythm and peaks.

Everything is made through the owners' services (settlement places, pays and refunds the orders, redemption
redeems the codes at the demo merchants' stores, settlement releases commission, redemption sends the expiry
reminders, risk control decides on every order, marketing signs new buyers in and hands out a coupon campaign's coupons, supply submits
the direct top-ups and applies the supplier's answer as its callback would), with the clock moved to each past moment by time-machine, so
that the rows' own timestamps (auto_now_add, timezone.now() inside the services) lie in the past. Only the
storefront visits are analytics' own rows. At the end the rollups are rebuilt for the whole history.

Moderate and fast: 4-14 orders a day, top-ups included (rising over the 90 days; shops busier at weekends, the
portal and the API on weekdays), about 20 seconds on SQLite (one order costs 30-60 ms in the services). Each past day is its own
transaction (SEED_ATOMIC: the command does not wrap this module in one), so the past's receipts, queued while the messages are kept quiet,
are dropped at that day's commit instead of being printed or sent today. Idempotent: nothing is added when the
history's orders exist. settings.DEMO_HISTORY_DAYS (90) sets the length; the test suite sets 0 (tests/conftest.py)
except where a test asks for the history.
"""

import hashlib
import heapq
import random
import re
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test.utils import override_settings
from django.utils import timezone

from analytics.models import StorefrontVisit
from analytics.rollups import all_rollups
from catalog import vault
from catalog.allocation import OutOfStock
from catalog.models import CardCode, Sku
from catalog.services import codes_generate
from channels.models import Distributor, Storefront
from marketing.models import Campaign, Consumer, Coupon
from marketing.services.campaigns import campaign_activate, campaign_save
from marketing.services.consumers import code_send, code_verify
from marketing.services.coupons import coupon_claim
from marketing.services.offers import OfferRequest
from redemption import reminders
from redemption import services as redemption_services
from redemption.models import Terminal
from redemption.notify import SmsBackend
from settlement.adapters import ADAPTERS
from settlement.errors import InsufficientFunds
from settlement.models import Order, OrderItem
from settlement.services.orders import order_place, order_refund
from settlement.services.payments import payment_callback_receive, payment_for_order
from settlement.services.release import commissions_release_run
from settlement.services.wallets import wallet_for, wallet_topup_record
from supply.adapters.base import Answer, Outcome
from supply.models import Topup, TopupAttempt, TopupEvent
from supply.services.topups import attempt_answer_apply, topup_submit
from voucherhub.core.errors import DomainError

HISTORY_DAYS = 90
SEED_ATOMIC = False  # seed_demo: this module commits one past day at a time
MARK = "demo-history"  # Order.campaign of the history's orders: the "already there" test
SEED = 90

# What each way in sells (SKU code, weight) and how many units an order takes.
PORTAL_SKUS = [
    ("IQIYI-VIP-M1", 5),
    ("TXVIDEO-VIP-M1", 4),
    ("NETEASE-MUSIC-M1", 2),
    ("LUCKIN-ANY", 3),
    ("SBUX-TALL", 3),
    ("JD-ECARD-100", 1),
]
API_SKUS = [("LUCKIN-ANY", 4), ("SBUX-TALL", 4), ("IQIYI-VIP-M1", 2), ("JD-ECARD-100", 1), ("WANDA-2D", 1)]
SHOP_SKUS = [("SBUX-TALL", 6), ("LUCKIN-ANY", 5), ("IQIYI-VIP-M1", 3), ("TXVIDEO-VIP-M1", 3), ("WANDA-2D", 2), ("NETEASE-MUSIC-M1", 1)]
# Local hours of the day and their weights: offices order 9-18, consumers at lunch and in the evening.
OFFICE_HOURS = {9: 3, 10: 5, 11: 5, 12: 2, 13: 3, 14: 5, 15: 5, 16: 4, 17: 3, 18: 1, 20: 1}
SHOP_HOURS = {8: 1, 10: 2, 11: 4, 12: 6, 13: 4, 14: 2, 15: 2, 16: 2, 17: 3, 18: 5, 19: 7, 20: 8, 21: 6, 22: 3, 23: 1}
# Redemptions at the stores: the lunch and the evening peaks (weekends: all afternoon).
STORE_HOURS = {8: 2, 9: 2, 10: 3, 11: 6, 12: 9, 13: 6, 14: 3, 15: 3, 16: 3, 17: 5, 18: 8, 19: 9, 20: 6, 21: 3}
WEEKEND_STORE_HOURS = {10: 3, 11: 5, 12: 7, 13: 7, 14: 7, 15: 7, 16: 6, 17: 6, 18: 7, 19: 7, 20: 5, 21: 3}
# A coupon campaign of the platform that runs through most of the history: the shop's buyers claim and use them.
CAMPAIGN = "老客回馈·饮品影音立减5元"
CAMPAIGN_DAYS = (85, 5)  # it starts this many days ago and ends this many days ago
COUPON_SHARE = 0.4  # of the shop's orders while it runs
# New buyers: this share of the shop's orders comes from someone signing in for the first time (the campaign's
# new-customer share); they come back later like the others.
NEWCOMER_SHARE = 0.2
NEWCOMER_PHONES = "1379{:07d}"
# The commission release job runs hourly in production; in the history twice a week (Monday and Thursday
# nights), which releases the same commission in a third of the time.
RELEASE_WEEKDAYS = (0, 3)
# Direct top-ups (mobile credit) bought in the portal; the supplier's callback says how each went.
TOPUP_SKUS = ["CMCC-TOPUP-50", "CMCC-TOPUP-100"]
TOPUP_OUTCOMES = [(Outcome.SUCCESS, 90), (Outcome.PARTIAL, 3), (Outcome.FAILED, 7)]
REFUND_REASONS = ["买家重复购买，申请退款", "客户取消订单", "下错规格，退款重下"]
WALLET_TOPUP = Decimal("20000.00")
RESTOCK = 60  # codes per SKU before the history, and per batch when one runs out


@dataclass
class Cast:
    """The demo's actors the history plays with (made by the other apps' demo modules)."""

    finance: object
    ops: object
    distributors: list[Distributor]
    api_buyers: list[Distributor]
    shop: Storefront
    skus: dict[str, Sku]
    terminals: dict[int, list[Terminal]]  # SKU id -> terminals of the stores that honour it
    consumers: list[Consumer]
    topup_skus: list[Sku]


@dataclass
class Tally:
    orders: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    redemptions: int = 0
    refunds: int = 0
    coupons: int = 0
    reminders: int = 0
    newcomers: int = 0


def seed(out) -> None:
    days = getattr(settings, "DEMO_HISTORY_DAYS", HISTORY_DAYS)
    if days <= 0:
        out.write("demo history: none (DEMO_HISTORY_DAYS is 0)")
        return
    if Order.objects.filter(campaign=MARK).exists():
        out.write("demo history: already there")
        return
    cast = _cast()
    if cast is None:
        out.write("demo history: skipped (needs the catalog, channels, redemption and marketing demo)")
        return
    today = timezone.localdate()
    first = today - timedelta(days=days)
    history = History(cast=cast, rng=random.Random(SEED), until=timezone.now())
    with _past_messages_kept_quiet():
        history.play(first=first, days=days)
    with transaction.atomic():
        visits = _visits(cast.shop, first=first, last=today - timedelta(days=1), orders=history.shop_orders, rng=history.rng)
    _rollups_rebuilt(first - timedelta(days=1), today)
    tally = history.tally
    channels = ", ".join(f"{count} {channel}" for channel, count in sorted(tally.orders.items()))
    out.write(
        f"demo history: {sum(tally.orders.values())} orders over {days} days ({channels}), "
        f"{tally.refunds} refunds, {tally.newcomers} new buyers, {tally.coupons} coupons claimed and used, "
        f"{tally.redemptions} redemptions, "
        f"{tally.reminders} reminders, {visits} storefront visitors; refused: {dict(tally.refused) or 'none'}; rollups rebuilt"
    )


def _cast() -> Cast | None:
    finance = get_user_model().objects.filter(username="finance").first()
    ops = get_user_model().objects.filter(username="ops").first()
    distributors = list(Distributor.objects.filter(status=Distributor.Status.ACTIVE).order_by("pk"))
    shop = Storefront.objects.order_by("pk").first()
    codes = {code for pairs in (PORTAL_SKUS, API_SKUS, SHOP_SKUS) for code, _w in pairs}
    skus = {sku.code: sku for sku in Sku.objects.filter(code__in=codes)}
    consumers = list(Consumer.objects.order_by("pk")[:40])
    if finance is None or ops is None or not distributors or shop is None or len(skus) < len(codes) or not consumers:
        return None
    terminals: dict[int, list[Terminal]] = {}
    for terminal in Terminal.objects.select_related("store__merchant").order_by("pk"):
        for sku in skus.values():
            if terminal.store.merchant_id in (sku.allowed_merchant_ids or []):
                terminals.setdefault(sku.pk, []).append(terminal)
    api_buyers = [d for d in distributors if d.kind == Distributor.Kind.B_END] or distributors[:1]
    topup_skus = list(Sku.objects.filter(code__in=TOPUP_SKUS, fulfilment=Sku.Fulfilment.TOPUP).order_by("code"))
    return Cast(finance, ops, distributors, api_buyers, shop, skus, terminals, consumers, topup_skus)


class _QuietSms(SmsBackend):
    """The history's text messages: their buyers were told at the time; nothing is printed or sent today. The
    last text to each number stays in `inbox`, where a newcomer reads the sign-in code, as on their phone."""

    inbox: dict[str, str] = {}

    def send(self, *, to: str, text: str) -> None:
        _QuietSms.inbox[to] = text


@contextmanager
def _past_messages_kept_quiet():
    """The receipts and reminders of the past are not mailed or texted again while the history is made."""
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        REDEMPTION_SMS_BACKEND=f"{__name__}._QuietSms",
    ):
        yield


def _local(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def _hour(rng: random.Random, weights: dict[int, int]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _pick(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([code for code, _w in pairs], weights=[w for _c, w in pairs])[0]


class History:
    """A queue of past moments, played in time order with the clock at each: the day's orders are planned at
    its start; an order plans its payment, its refund or its codes' redemptions; twice a week commission is
    released and every morning the expiry reminders go out."""

    def __init__(self, *, cast: Cast, rng: random.Random, until: datetime):
        self.cast, self.rng, self.until = cast, rng, until
        self.queue: list[tuple[datetime, int, Callable, dict]] = []
        self.seq = 0
        self.tally = Tally()
        self.shop_orders: Counter = Counter()  # local day -> storefront orders (the visits follow them)
        self.campaign: Campaign | None = None

    def at(self, when: datetime, action: Callable, **kwargs) -> None:
        if when < self.until:
            self.seq += 1
            heapq.heappush(self.queue, (when, self.seq, action, kwargs))

    def play(self, *, first: date, days: int) -> None:
        self._stock(first, days)
        start, end = (timezone.localdate() - timedelta(days=n) for n in CAMPAIGN_DAYS)
        self.at(_local(max(start, first), 9, 30), self._campaign_start, ends=_local(end, 23, 59))
        for n in range(days):
            day = first + timedelta(days=n)
            self.at(_local(day, 0, 5), self._plan_day, day=day, progress=n / days)
            if day.weekday() in RELEASE_WEEKDAYS:
                self.at(_local(day, 3, 0), self._release)
            self.at(_local(day, 10, 0), self._remind)
            self.at(_local(day, _hour(self.rng, SHOP_HOURS), self.rng.randrange(60)), self._coupon_claimed)
        while self.queue:
            day = timezone.localtime(self.queue[0][0]).date()
            with transaction.atomic():  # one past day
                while self.queue and timezone.localtime(self.queue[0][0]).date() == day:
                    when, _seq, action, kwargs = heapq.heappop(self.queue)
                    with time_machine.travel(when, tick=False):
                        action(**kwargs)

    def _stock(self, first: date, days: int) -> None:
        """Codes for the whole history, generated before its first day (about what 40 orders a day need)."""
        with time_machine.travel(_local(first - timedelta(days=1), 9, 0), tick=False), transaction.atomic():
            for sku in self.cast.skus.values():
                available = CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).count()
                wanted = RESTOCK
                if available < wanted:
                    codes_generate(sku=sku, count=wanted - available, label="demo history")
            for distributor in self.cast.distributors:
                self._fund(distributor)

    def _fund(self, distributor: Distributor) -> None:
        wallet_topup_record(
            wallet=wallet_for(distributor),
            amount=WALLET_TOPUP,
            actor=self.cast.finance,
            reference=f"DEMO-HIST-{distributor.pk}-{timezone.localdate():%Y%m%d}",
            note="demo history",
        )

    # --- a day -----------------------------------------------------------------------------------------

    def _plan_day(self, *, day: date, progress: float) -> None:
        """The day's orders: a rising trend, busier shops at weekends and a quieter portal and API."""
        weekend = day.weekday() >= 5
        noise = self.rng.uniform(0.8, 1.2)
        counts = {
            Order.Channel.PORTAL: round((1 + 2 * progress) * (0.4 if weekend else 1.0) * noise),
            Order.Channel.API: round((1 + 1.5 * progress) * (0.5 if weekend else 1.0) * noise),
            Order.Channel.STOREFRONT: round((0.7 + 2.3 * progress) * (1.6 if weekend else 1.0) * noise),
        }
        self.shop_orders[day] = counts[Order.Channel.STOREFRONT]
        for _n in range(round((0.7 + 1.3 * progress) * (0.5 if weekend else 1.0) * noise) if self.cast.topup_skus else 0):
            self.at(_local(day, _hour(self.rng, OFFICE_HOURS), self.rng.randrange(60)), self._topup)
        for channel, count in counts.items():
            hours = SHOP_HOURS if channel == Order.Channel.STOREFRONT else OFFICE_HOURS
            for _n in range(count):
                self.at(_local(day, _hour(self.rng, hours), self.rng.randrange(60)), self._order, channel=channel)

    def _order(self, *, channel: str) -> None:
        try:
            order = self._place(channel)
        except InsufficientFunds:
            self.tally.refused["funds"] += 1
            return
        except DomainError as error:
            self.tally.refused[type(error).__name__] += 1
            return
        if order.status == Order.Status.PENDING:
            self.at(timezone.now() + timedelta(minutes=self.rng.randint(1, 6)), self._pay, order_id=order.pk)
        else:
            self._after_paid(order)
        self.tally.orders[channel] += 1

    def _place(self, channel: str) -> Order:
        rng, cast = self.rng, self.cast
        pairs = {Order.Channel.STOREFRONT: SHOP_SKUS, Order.Channel.API: API_SKUS}.get(channel, PORTAL_SKUS)
        sku = cast.skus[_pick(rng, pairs)]
        return self._restocked(lambda: self._place_one(channel, sku), sku)

    def _place_one(self, channel: str, sku: Sku) -> Order:
        rng, cast = self.rng, self.cast
        if channel == Order.Channel.STOREFRONT:
            consumer = self._newcomer() if rng.random() < NEWCOMER_SHARE else None
            consumer = consumer or rng.choice(cast.consumers)
            return order_place(channel=channel, distributor=cast.shop.distributor, storefront=cast.shop, sku=sku,
                               quantity=1 if rng.random() < 0.85 else 2, consumer=consumer, pay_method="sandbox",
                               campaign=MARK, offer_request=self._offer(consumer))  # fmt: skip
        if channel == Order.Channel.API:
            self.seq += 1
            return order_place(channel=channel, distributor=rng.choice(cast.api_buyers), sku=sku, quantity=rng.randint(1, 3),
                               customer_ref=f"ERP-H{self.seq:05d}", idempotency_key=f"demo-history-{self.seq}", campaign=MARK)  # fmt: skip
        distributor = rng.choice(cast.distributors)
        return self._wallet_order(channel=channel, distributor=distributor, sku=sku, quantity=rng.choice([1, 2, 3, 5, 5, 10]))

    def _newcomer(self) -> Consumer | None:
        """Someone new signs in on the storefront with the code texted to their phone (marketing's sign-in) and
        joins the buyers who come back."""
        self.tally.newcomers += 1
        phone = NEWCOMER_PHONES.format(self.tally.newcomers)
        try:
            code_send(phone=phone, ip="")
            code = re.search(r"\d{6}", _QuietSms.inbox.pop(phone)).group()
            consumer = code_verify(phone=phone, code=code, ip="")
        except DomainError as error:
            self.tally.refused[f"sign-in {type(error).__name__}"] += 1
            return None
        self.cast.consumers.append(consumer)
        return consumer

    def _campaign_start(self, *, ends: datetime) -> None:
        """Ops set up the coupon campaign and start it."""
        campaign = Campaign(name=CAMPAIGN, kind=Campaign.Kind.COUPON, starts_at=timezone.now(), ends_at=ends,
                            discount_kind=Campaign.DiscountKind.FIXED, discount_amount=Decimal("5.00"),
                            coupon_valid_days=14, coupons_total=1000, per_consumer_limit=30)  # fmt: skip
        campaign_save(campaign=campaign, actor=self.cast.ops)
        self.campaign = campaign_activate(campaign=campaign, actor=self.cast.ops)

    def _coupon_claimed(self) -> None:
        """Most days someone claims a coupon on the deals page and keeps it for later (many are never used)."""
        if self.rng.random() < 0.8 and self._live():
            self._coupon(self.rng.choice(self.cast.consumers))

    def _live(self) -> bool:
        campaign = self.campaign
        return campaign is not None and campaign.starts_at <= timezone.now() < campaign.ends_at

    def _coupon(self, consumer: Consumer) -> Coupon | None:
        try:
            return coupon_claim(campaign=self.campaign, consumer=consumer)
        except DomainError as error:
            self.tally.refused[f"coupon {type(error).__name__}"] += 1
            return None

    def _offer(self, consumer: Consumer) -> OfferRequest | None:
        """While the campaign runs, some buyers claim a coupon on the deals page and use it at checkout."""
        if not self._live() or self.rng.random() > COUPON_SHARE:
            return None
        coupon = self._coupon(consumer)
        if coupon is None:
            return None
        self.tally.coupons += 1
        return OfferRequest(coupon_codes=(coupon.code,))

    def _topup(self) -> None:
        """A distributor tops up a customer's phone in the portal; supply submits it to the first upstream of
        the chain (no supplier answers during the seed: the attempt waits) and the supplier's callback follows."""
        rng = self.rng
        try:
            order = self._wallet_order(channel=Order.Channel.PORTAL, distributor=rng.choice(self.cast.api_buyers),
                                       sku=rng.choice(self.cast.topup_skus), quantity=1,
                                       account=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}")  # fmt: skip
        except DomainError as error:
            self.tally.refused[f"topup {type(error).__name__}"] += 1
            return
        topup = Topup.objects.filter(reference=order.number).first()
        if topup is None:
            return
        topup_submit(topup_id=topup.pk)
        self.tally.orders["topup"] += 1
        self.at(timezone.now() + timedelta(seconds=rng.randint(20, 600)), self._supplier_answer, topup_id=topup.pk)

    @staticmethod
    def _open_attempt(topup_id: int) -> TopupAttempt | None:
        """The top-up's open attempt; after a failure, the failover's (what the poller starts after its delay)."""
        open_attempts = TopupAttempt.objects.filter(topup_id=topup_id).exclude(status__in=TopupAttempt.FINAL).order_by("-pk")
        if not open_attempts.exists():
            topup_submit(topup_id=topup_id)
        return open_attempts.first()

    def _supplier_answer(self, *, topup_id: int) -> None:
        """The supplier's callback on the open attempt; after a failure supply fails over and the next
        upstream's callback follows."""
        attempt = self._open_attempt(topup_id)
        if attempt is None:
            return
        outcome = self.rng.choices([o for o, _w in TOPUP_OUTCOMES], weights=[w for _o, w in TOPUP_OUTCOMES])[0]
        face = attempt.topup.face_value
        cost = (face * Decimal("0.985")).quantize(Decimal("0.01"))
        if outcome == Outcome.PARTIAL:
            answer = Answer(outcome=outcome, delivered_value=face / 2, cost=(cost / 2).quantize(Decimal("0.01")))
        else:
            answer = Answer(outcome=outcome, cost=cost if outcome == Outcome.SUCCESS else None)
        attempt_answer_apply(attempt_id=attempt.pk, answer=answer, source=TopupEvent.Source.CALLBACK)
        if outcome == Outcome.FAILED:
            self.at(timezone.now() + timedelta(seconds=self.rng.randint(20, 300)), self._supplier_answer, topup_id=topup_id)

    def _wallet_order(self, **kwargs) -> Order:
        try:
            return order_place(campaign=MARK, **kwargs)
        except InsufficientFunds:
            self._fund(kwargs["distributor"])
            return order_place(campaign=MARK, **kwargs)

    def _restocked(self, place: Callable[[], Order], sku: Sku) -> Order:
        """Ops generate another batch when a SKU runs out, and the buyer tries again."""
        try:
            return place()
        except OutOfStock:
            codes_generate(sku=sku, count=RESTOCK, label="demo history")
            return place()

    def _pay(self, *, order_id: int) -> None:
        """The buyer pays in the sandbox: its signed callback, as the payment provider sends it."""
        order = Order.objects.get(pk=order_id)
        sandbox = ADAPTERS["sandbox"]
        payment = payment_for_order(order=order)
        body = sandbox.callback_body(
            event_id=f"hist-{payment.number}", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount
        )
        payment_callback_receive(adapter_name="sandbox", body=body, headers={sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
        self._after_paid(Order.objects.get(pk=order_id))

    def _after_paid(self, order: Order) -> None:
        """A few orders are refunded within two days; the codes the merchants honour are mostly used."""
        if order.status not in (Order.Status.DELIVERED, Order.Status.PAID):
            return
        if self.rng.random() < 0.03:
            self.at(timezone.now() + timedelta(hours=self.rng.randint(1, 40)), self._refund, order_id=order.pk)
            return
        terminals = self.cast.terminals.get(order.sku_id)
        if not terminals:
            return
        for code_id in OrderItem.objects.filter(order=order, state=OrderItem.State.DELIVERED).values_list("code_id", flat=True):
            if self.rng.random() < 0.8:
                self.at(self._redemption_time(), self._redeem, code_id=code_id, terminal=self.rng.choice(terminals))

    def _redemption_time(self) -> datetime:
        """Within three weeks of the sale, at the stores' peak hours."""
        day = timezone.localdate() + timedelta(days=min(int(self.rng.expovariate(1 / 4)), 21))
        hours = WEEKEND_STORE_HOURS if day.weekday() >= 5 else STORE_HOURS
        when = _local(day, _hour(self.rng, hours), self.rng.randrange(60))
        return max(when, timezone.now() + timedelta(minutes=20))

    def _refund(self, *, order_id: int) -> None:
        order = Order.objects.get(pk=order_id)
        try:
            order_refund(order=order, actor=self.cast.finance, reason=self.rng.choice(REFUND_REASONS))
        except DomainError as error:
            self.tally.refused[f"refund {type(error).__name__}"] += 1
            return
        self.tally.refunds += 1

    def _redeem(self, *, code_id: int, terminal: Terminal) -> None:
        """A holder uses a code at a store: a single-use code whole, a stored-value card (JD's e-card) for a
        purchase of part of its balance."""
        code = CardCode.objects.select_related("sku").get(pk=code_id)
        amount = Decimal(self.rng.randrange(10, int(code.sku.face_value) + 1)) if code.sku.is_stored_value else None
        plaintext = vault.keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)
        self.seq += 1
        outcome = redemption_services.redemption_redeem(
            caller=redemption_services.Caller.for_terminal(terminal, ip="127.0.0.1"),
            entry=redemption_services.CodeEntry(code=plaintext),
            amount=amount,
            idempotency_key=f"demo-history-{self.seq}",
            reference=f"POS-H{self.seq:05d}",
        )
        if outcome.redemption is not None:
            self.tally.redemptions += 1
        else:
            self.tally.refused["redeem"] += 1

    def _release(self) -> None:
        try:
            commissions_release_run(now=timezone.now())
        except IntegrityError:  # settlement refused a move below an account's floor (reported to its owners)
            self.tally.refused["release"] += 1

    def _remind(self) -> None:
        run = reminders.reminders_send(now=timezone.now())
        self.tally.reminders += getattr(run, "sent", 0)


def _rollups_rebuilt(first: date, last: date) -> None:
    """What `rebuild_rollups --since first` writes (each rollup's own recompute), in one call per rollup over the
    whole range: rollups_rebuild commits day by day (92 x 8 transactions, about 7 times slower on SQLite)."""
    with transaction.atomic():
        for rollup in all_rollups():
            rollup.recompute(first, last)


def _visits(shop: Storefront, *, first: date, last: date, orders: Counter, rng: random.Random) -> int:
    """The storefront's visitors per day (analytics' own rows): about ten visitors for each order, each seeing a
    few pages; a visitor is a hash, as the visit middleware stores it."""
    rows = []
    day = first
    while day <= last:
        visitors = max(3, int(orders.get(day, 0) * rng.uniform(7, 12)))
        for n in range(visitors):
            visitor = hashlib.sha256(f"demo-history/{shop.pk}/{day}/{n}".encode()).hexdigest()
            seen = _local(day, _hour(rng, SHOP_HOURS), rng.randrange(60))
            views = 1 + int(rng.expovariate(1 / 2))
            rows.append(StorefrontVisit(day=day, storefront_id=shop.pk, visitor=visitor, views=views, last_seen_at=seen))
        day += timedelta(days=1)
    StorefrontVisit.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
